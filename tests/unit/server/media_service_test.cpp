// MediaService's Beast-free pieces: query parsing and the one-producer-per-stream registry.
#include <gtest/gtest.h>

#include "media_service.h"

namespace kinema::server {
namespace {

TEST(ParseQuery, DecodesNamesAndValues) {
    struct Case {
        const char* query;
        std::map<std::string, std::string> expected;
    };
    const std::vector<Case> cases = {
        {"", {}},
        {"a=1", {{"a", "1"}}},
        {"StreamName=cam1&StartSelectorType=NOW", {{"StreamName", "cam1"}, {"StartSelectorType", "NOW"}}},
        {"x=a%20b&y=c+d", {{"x", "a b"}, {"y", "c d"}}},
        {"flag&&v=", {{"flag", ""}, {"v", ""}}},
        {"a=1&a=2", {{"a", "1"}}},                            // the first wins
        {"bad=%zz&cut=%4", {{"bad", "%zz"}, {"cut", "%4"}}},  // malformed escapes stay as they are
        {"t=1700000000.5", {{"t", "1700000000.5"}}},
    };
    for (const auto& c : cases)
        EXPECT_EQ(parse_query(c.query), c.expected) << c.query;
}

std::shared_ptr<ProducerClaim> claim_for(const std::string& stream) {
    auto claim = std::make_shared<ProducerClaim>();
    claim->stream = stream;
    return claim;
}

TEST(ProducerRegistry, RefusesASecondActiveProducer) {
    ProducerRegistry registry;
    auto first = claim_for("cam1");
    ASSERT_TRUE(registry.claim(first, std::chrono::hours(1)));
    auto second = claim_for("cam1");
    EXPECT_FALSE(registry.claim(second, std::chrono::hours(1)));
    EXPECT_FALSE(first->revoked);
    // Another stream is independent.
    EXPECT_TRUE(registry.claim(claim_for("cam2"), std::chrono::hours(1)));
}

TEST(ProducerRegistry, ReleasedOrDestroyedClaimsFreeTheStream) {
    ProducerRegistry registry;
    auto first = claim_for("cam1");
    ASSERT_TRUE(registry.claim(first, std::chrono::hours(1)));
    registry.release(*first);
    auto second = claim_for("cam1");
    ASSERT_TRUE(registry.claim(second, std::chrono::hours(1)));
    second.reset();  // the connection went away without releasing
    EXPECT_TRUE(registry.claim(claim_for("cam1"), std::chrono::hours(1)));
}

TEST(ProducerRegistry, SilentProducerIsRevokedAndReplaced) {
    ProducerRegistry registry;
    auto first = claim_for("cam1");
    bool revoked_called = false;
    first->on_revoked = [&] { revoked_called = true; };
    ASSERT_TRUE(registry.claim(first, std::chrono::milliseconds(0)));
    auto second = claim_for("cam1");
    ASSERT_TRUE(registry.claim(second, std::chrono::milliseconds(0)));
    EXPECT_TRUE(first->revoked);
    EXPECT_TRUE(revoked_called);
    // Both share the stream's ingest lock, so the newcomer never feeds while the old one is inside feed().
    EXPECT_EQ(first->ingest_lock, second->ingest_lock);
    // The revoked claim releasing late does not free the newcomer's hold.
    registry.release(*first);
    EXPECT_FALSE(registry.claim(claim_for("cam1"), std::chrono::hours(1)));
}

}  // namespace
}  // namespace kinema::server
