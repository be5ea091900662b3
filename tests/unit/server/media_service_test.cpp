// MediaService's Beast-free pieces: query parsing, the one-producer-per-stream registry, and the request
// checks against a stream being deleted.
#include <gtest/gtest.h>

#include <memory>

#include "media_service.h"
#include "metrics.h"
#include "subprocess.h"

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

TEST(ProducerRegistry, EndStreamRevokesTheProducerAndFreesTheName) {
    ProducerRegistry registry;
    auto producer = claim_for("cam1");
    int deleted = 0;
    producer->on_stream_deleted = [&] { ++deleted; };
    producer->on_revoked = [] { FAIL() << "a deleted stream's producer is not 'replaced'"; };
    ASSERT_TRUE(registry.claim(producer, std::chrono::hours(1)));
    registry.end_stream("cam1");
    EXPECT_TRUE(producer->revoked);  // it feeds nothing more
    EXPECT_EQ(deleted, 1);
    registry.end_stream("cam1");
    EXPECT_EQ(deleted, 1);
    // A stream created again under the name takes a producer at once.
    EXPECT_TRUE(registry.claim(claim_for("cam1"), std::chrono::hours(1)));
    registry.release(*producer);  // late release of the ended claim: harmless
}

// A catalog and store in a temporary directory, stream cam1 (retention 24 h), and a PutMedia and a GetMedia
// (NOW) request for it.
class MediaServiceChecks : public ::testing::Test {
protected:
    void SetUp() override {
        storage::CatalogError error;
        catalog = storage::Catalog::open(dir.path(), {}, error);
        ASSERT_TRUE(catalog) << error.message;
        store = storage::FragmentStore::open(dir.path());
        media = std::make_unique<MediaService>(*catalog, *store, metrics, MediaServiceOptions{});
        ASSERT_FALSE(catalog->create_stream({"cam1", "", "", "", 24, {}}, &info));
        put.method = "POST";
        put.headers = {{"x-amzn-stream-name", "cam1"}, {"x-amzn-fragment-timecode-type", "ABSOLUTE"}};
        get.method = "POST";
        get.body = R"({"StreamName":"cam1","StartSelector":{"StartSelectorType":"NOW"}})";
    }

    kinema::test::TempDir dir;
    std::unique_ptr<storage::Catalog> catalog;
    std::unique_ptr<storage::FragmentStore> store;
    Metrics metrics;
    std::unique_ptr<MediaService> media;
    storage::StreamInfo info;
    ApiRequest put;
    ApiRequest get;
};

// PutMedia and GetMedia requests for a stream that is DELETING (between DeleteStream's mark and the removal
// of its row; also a deletion that failed and waits for the next start).
TEST_F(MediaServiceChecks, StreamBeingDeletedGetsStreamNotActiveOrNotFound) {
    bool checked = false;
    auto delete_data = [&](const storage::StreamInfo& deleting) -> std::error_code {
        EXPECT_EQ(deleting.status, storage::StreamStatus::deleting);
        // PutMedia is accepted and answered with ERROR 4008 (STREAM_NOT_ACTIVE), as KVS does.
        PutMediaPlan put_plan;
        const auto put_response = media->prepare_put_media(put, put_plan);
        EXPECT_EQ(put_response.error_type, "") << put_response.body;
        EXPECT_FALSE(put_plan.stream_active);
        // GetMedia is refused.
        GetMediaPlan get_plan;
        const auto get_response = media->prepare_get_media(get, get_plan);
        EXPECT_EQ(get_response.status, 404u);
        EXPECT_EQ(get_response.error_type, "ResourceNotFoundException");
        // Neither brings the stream's data back while it is being removed.
        EXPECT_FALSE(store->is_open("cam1"));
        checked = true;
        return {};
    };
    ASSERT_FALSE(catalog->delete_stream({{}, info.arn}, {}, delete_data));
    EXPECT_TRUE(checked);
}

// A check that completed just before DeleteStream, for a connection that starts after it: the plan's hub is
// ended by the delete, so the connection refuses (PutMedia: 4008) or ends (GetMedia) instead of living on
// a fresh hub nothing would ever end; and the delete's data step removed what the check opened.
TEST_F(MediaServiceChecks, PlansCheckedBeforeADeleteFindTheirHubEnded) {
    PutMediaPlan put_plan;
    ASSERT_EQ(media->prepare_put_media(put, put_plan).error_type, "");
    GetMediaPlan get_plan;
    ASSERT_EQ(media->prepare_get_media(get, get_plan).error_type, "");
    ASSERT_TRUE(put_plan.stream_active);
    ASSERT_TRUE(put_plan.hub && get_plan.hub);
    EXPECT_EQ(put_plan.hub, get_plan.hub);
    EXPECT_FALSE(get_plan.hub->ended());
    ASSERT_TRUE(store->is_open("cam1"));

    auto delete_data = [&](const storage::StreamInfo& deleting) {
        return media->delete_stream_data(deleting.name, [&] { return store->delete_stream(deleting.name); });
    };
    ASSERT_FALSE(catalog->delete_stream({{}, info.arn}, {}, delete_data));
    EXPECT_TRUE(put_plan.hub->ended());
    EXPECT_TRUE(get_plan.hub->ended());
    EXPECT_FALSE(store->is_open("cam1"));
    // A later check finds no stream, and no hub is made for it.
    GetMediaPlan after;
    EXPECT_EQ(media->prepare_get_media(get, after).status, 404u);
    EXPECT_FALSE(after.hub);
}

}  // namespace
}  // namespace kinema::server
