#include "start_selector.h"

#include <gtest/gtest.h>

#include <kinema/storage/error.h>
#include <future>
#include <nlohmann/json.hpp>

#include "store_fixture.h"

namespace kinema::server {
namespace {

using media::Timestamp;
using test::ClusterSpec;

TEST(StartSelectorParse, AcceptsTheSixTypesWithTheirFields) {
    struct Case {
        const char* json;
        StartSelectorType type;
        storage::FragmentNumber number;
        std::int64_t timestamp_ms;
    };
    const Case cases[] = {
        {R"({"StartSelectorType":"NOW"})", StartSelectorType::now, 0, 0},
        {R"({"StartSelectorType":"EARLIEST"})", StartSelectorType::earliest, 0, 0},
        {R"({"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"00000000000000000042"})",
         StartSelectorType::fragment_number, 42, 0},
        {R"({"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1700000000.123})",
         StartSelectorType::server_timestamp, 0, 1'700'000'000'123},
        {R"({"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1700000000})",
         StartSelectorType::producer_timestamp, 0, 1'700'000'000'000},
        {R"({"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"17"})",
         StartSelectorType::continuation_token, 17, 0},
    };
    for (const auto& c : cases) {
        StartSelector selector;
        std::string error;
        ASSERT_TRUE(parse_start_selector(nlohmann::json::parse(c.json), selector, error)) << c.json << error;
        EXPECT_EQ(selector.type, c.type);
        EXPECT_EQ(selector.fragment_number, c.number);
        if (c.timestamp_ms != 0) {
            EXPECT_EQ(selector.start_timestamp.milliseconds(), c.timestamp_ms);
        }
    }
}

TEST(StartSelectorParse, RejectsMissingOrMalformedFieldsWithAMessage) {
    const char* cases[] = {
        R"([])",
        R"({})",
        R"({"StartSelectorType":"LATEST"})",
        R"({"StartSelectorType":7})",
        R"({"StartSelectorType":"FRAGMENT_NUMBER"})",
        R"({"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"abc"})",
        R"({"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"123456789012345678901"})",
        R"({"StartSelectorType":"SERVER_TIMESTAMP"})",
        R"({"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":"yesterday"})",
        R"({"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":-5})",
        R"({"StartSelectorType":"CONTINUATION_TOKEN"})",
    };
    for (const char* json : cases) {
        StartSelector selector;
        std::string error;
        EXPECT_FALSE(parse_start_selector(nlohmann::json::parse(json), selector, error)) << json;
        EXPECT_FALSE(error.empty()) << json;
    }
}

TEST(StartSelectorParse, QueryParametersDefaultToNow) {
    StartSelector selector;
    std::string error;
    ASSERT_TRUE(parse_start_selector(std::map<std::string, std::string>{}, selector, error));
    EXPECT_EQ(selector.type, StartSelectorType::now);
    ASSERT_TRUE(
        parse_start_selector(std::map<std::string, std::string>{{"StartSelectorType", "PRODUCER_TIMESTAMP"},
                                                                {"StartTimestamp", "12.5"}},
                             selector, error));
    EXPECT_EQ(selector.start_timestamp.milliseconds(), 12'500);
    EXPECT_FALSE(parse_start_selector(
        std::map<std::string, std::string>{{"StartSelectorType", "FRAGMENT_NUMBER"}}, selector, error));
}

class StartSelectorTest : public test::StoreFixture {
protected:
    // Five 1-second fragments: producer timestamps 10 s .. 14 s (+ 0..), server 1700000000 s + index.
    void SetUp() override {
        StoreFixture::SetUp();
        specs_ = {{10'000, 25}, {11'000, 25}, {12'000, 25}, {13'000, 25}, {14'000, 25}};
        numbers_ = append(test::make_stream(specs_), specs_);
    }

    storage::FragmentNumber first_sent(const StartSelector& selector) {
        StartPosition position;
        EXPECT_FALSE(resolve_start(*store_, "cam1", selector, position));
        FragmentCursor cursor(*store_, "cam1", position.after);
        storage::FragmentInfo info;
        if (cursor.next(info)) return 0;
        return info.number;
    }

    std::vector<ClusterSpec> specs_;
    std::vector<storage::FragmentNumber> numbers_;
};

TEST_F(StartSelectorTest, EachTypeStartsAtTheFragmentKvsWould) {
    auto at = [](std::int64_t ms) { return Timestamp::from_milliseconds(ms); };
    struct Case {
        const char* name;
        StartSelector selector;
        int expected_index;  // -1: nothing archived (wait for new fragments)
    };
    const Case cases[] = {
        {"NOW", {StartSelectorType::now, 0, {}}, -1},
        {"EARLIEST", {StartSelectorType::earliest, 0, {}}, 0},
        {"FRAGMENT_NUMBER after #2", {StartSelectorType::fragment_number, numbers_[1], {}}, 2},
        {"FRAGMENT_NUMBER after the last", {StartSelectorType::fragment_number, numbers_[4], {}}, -1},
        {"CONTINUATION_TOKEN", {StartSelectorType::continuation_token, numbers_[3], {}}, 4},
        {"PRODUCER_TIMESTAMP at a start", {StartSelectorType::producer_timestamp, 0, at(12'000)}, 2},
        {"PRODUCER_TIMESTAMP inside", {StartSelectorType::producer_timestamp, 0, at(12'500)}, 2},
        {"PRODUCER_TIMESTAMP before all", {StartSelectorType::producer_timestamp, 0, at(1'000)}, 0},
        {"PRODUCER_TIMESTAMP after all", {StartSelectorType::producer_timestamp, 0, at(99'000)}, -1},
        {"SERVER_TIMESTAMP inside", {StartSelectorType::server_timestamp, 0, at(1'700'000'003'400)}, 3},
        {"SERVER_TIMESTAMP before all", {StartSelectorType::server_timestamp, 0, at(1'600'000'000'000)}, 0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto number = first_sent(c.selector);
        if (c.expected_index < 0) {
            EXPECT_EQ(number, 0u);
        } else {
            EXPECT_EQ(number, numbers_[static_cast<std::size_t>(c.expected_index)]);
        }
    }
    StartPosition position;
    ASSERT_FALSE(resolve_start(*store_, "cam1", {StartSelectorType::now, 0, {}}, position));
    EXPECT_TRUE(position.live_now);
}

TEST_F(StartSelectorTest, CursorWalksTheArchiveThenFollowsTheTailWithoutAGap) {
    FragmentCursor cursor(*store_, "cam1", numbers_[2]);
    std::promise<void> woken;
    std::atomic<bool> once{false};
    ASSERT_FALSE(cursor.follow([&] {
        if (!once.exchange(true)) woken.set_value();
    }));
    std::vector<storage::FragmentNumber> sent;
    storage::FragmentInfo info;
    while (!cursor.next(info))
        sent.push_back(info.number);
    EXPECT_EQ(sent, (std::vector<storage::FragmentNumber>{numbers_[3], numbers_[4]}));

    std::vector<ClusterSpec> more = {{15'000, 25}};
    auto added = append(test::make_stream(more), more, 0, 1'700'000'005'000);
    ASSERT_EQ(woken.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    ASSERT_FALSE(cursor.next(info));
    EXPECT_EQ(info.number, added[0]);
    EXPECT_EQ(cursor.next(info), storage::Errc::fragment_not_found);
}

}  // namespace
}  // namespace kinema::server
