// GetMedia over real loopback sockets: every StartSelector type over HTTP, WebSocket and the continuous
// option, the hand-over from archive to live without a gap, frames reaching a live viewer before their
// fragment completes, and a viewer that stops reading (skipped and counted, ingest unaffected).
#include <gtest/gtest.h>

#include "media_test_util.h"

namespace kinema::test {
namespace {

using nlohmann::json;
using server::AckEventType;

// Streams `stream` (plus the end-of-fragment tags) as one producer session; returns the PERSISTED numbers.
std::vector<std::string> ingest(std::uint16_t port, const server::test::TestStream& stream) {
    std::unique_ptr<WsClient> ws;
    for (int attempt = 0; attempt < 100; ++attempt) {  // a previous producer's close is seen asynchronously
        ws = std::make_unique<WsClient>(port, "/putMedia", put_media_headers("cam1"));
        if (ws->ok()) break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(ws->ok());
    Bytes bytes = stream.bytes;
    const auto end = end_of_fragment_tags();
    bytes.insert(bytes.end(), end.begin(), end.end());
    for (auto piece : random_split(bytes, 1, 1u << 20))
        ws->send_binary(piece);
    std::vector<std::string> numbers;
    for (const auto& ack : read_acks_until_persisted(*ws, stream.clusters.size()))
        if (ack.type == AckEventType::persisted) numbers.push_back(ack.fragment_number);
    ws->close();
    return numbers;
}

class GetMediaTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<TestServer>();
        create_stream(port(), "cam1");
        numbers_ = ingest(port(), make_fragments(5));
        ASSERT_EQ(numbers_.size(), 5u);
    }
    std::uint16_t port() const { return server_->port(); }

    // POST /getMedia and read until `count` fragment numbers arrived (or 5 s passed).
    MkvSummary get_media(const json& selector, std::size_t count, bool continuous = false) {
        StreamingHttpClient http(port());
        json body = {{"StreamName", "cam1"}, {"StartSelector", selector}};
        if (continuous) body["Continuous"] = true;
        http.start("POST", "/getMedia", {{"Content-Type", "application/json"}}, false, body.dump());
        EXPECT_TRUE(http.read_head());
        EXPECT_EQ(http.status(), 200u) << http.body();
        EXPECT_EQ(http.header("content-type"), "video/webm");
        http.read_until([&](const std::string& b) { return summarize(b).numbers.size() >= count; });
        return summarize(http.body());
    }

    std::unique_ptr<TestServer> server_;
    std::vector<std::string> numbers_;
};

std::vector<std::string> slice(const std::vector<std::string>& v, std::size_t from) {
    return {v.begin() + static_cast<std::ptrdiff_t>(from), v.end()};
}

TEST_F(GetMediaTest, ArchivedSelectorsStartWhereKvsWould) {
    const auto listed = list_fragments(port(), "cam1");
    HttpClient client(port());
    const auto fragments = client.post_json("/listFragments", {{"StreamName", "cam1"}}).json()["Fragments"];
    const double first_server_ts = fragments[0]["ServerTimestamp"].get<double>();
    struct Case {
        const char* name;
        json selector;
        std::size_t first;
    };
    const std::vector<Case> cases = {
        {"EARLIEST", {{"StartSelectorType", "EARLIEST"}}, 0},
        {"FRAGMENT_NUMBER",
         {{"StartSelectorType", "FRAGMENT_NUMBER"}, {"AfterFragmentNumber", numbers_[1]}},
         2},
        {"CONTINUATION_TOKEN",
         {{"StartSelectorType", "CONTINUATION_TOKEN"}, {"ContinuationToken", numbers_[2]}},
         3},
        {"PRODUCER_TIMESTAMP",
         {{"StartSelectorType", "PRODUCER_TIMESTAMP"}, {"StartTimestamp", (kEpochMs + 3000) / 1000.0}},
         3},
        {"PRODUCER_TIMESTAMP inside a fragment",
         {{"StartSelectorType", "PRODUCER_TIMESTAMP"}, {"StartTimestamp", (kEpochMs + 1500) / 1000.0}},
         1},
        {"SERVER_TIMESTAMP",
         {{"StartSelectorType", "SERVER_TIMESTAMP"}, {"StartTimestamp", first_server_ts}},
         0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto summary = get_media(c.selector, numbers_.size() - c.first);
        EXPECT_EQ(summary.numbers, slice(numbers_, c.first));
        // KVS shape: one EBML header + Segment per fragment, cluster timecodes = producer timestamps.
        EXPECT_EQ(summary.segments, static_cast<int>(numbers_.size() - c.first));
        ASSERT_FALSE(summary.cluster_timecodes.empty());
        EXPECT_EQ(summary.cluster_timecodes.front(), kEpochMs + 1000 * static_cast<std::int64_t>(c.first));
    }
    EXPECT_EQ(listed.size(), 5u);
}

TEST_F(GetMediaTest, NowWaitsForLiveFragments) {
    StreamingHttpClient http(port());
    const json body = {{"StreamName", "cam1"}, {"StartSelector", {{"StartSelectorType", "NOW"}}}};
    http.start("POST", "/getMedia", {}, false, body.dump());
    ASSERT_TRUE(http.read_head());
    ASSERT_EQ(http.status(), 200u);
    const auto live = ingest(port(), make_fragments(2, 10));
    ASSERT_TRUE(http.read_until([](const std::string& b) { return summarize(b).numbers.size() >= 2; }));
    const auto summary = summarize(http.body());
    EXPECT_EQ(summary.numbers, live);  // nothing archived, only what arrived after joining
    EXPECT_EQ(summary.frames, 10);
}

TEST_F(GetMediaTest, ArchiveThenLiveWithoutAGapOverWebSocketContinuous) {
    WsClient ws(port(), "/getMedia?StreamName=cam1&StartSelectorType=EARLIEST&Continuous=true");
    ASSERT_TRUE(ws.ok()) << ws.rejection().body;
    std::string received;
    auto read_clusters = [&](std::size_t count) {
        while (summarize(received).cluster_timecodes.size() < count) {
            auto message = ws.read(5s);
            if (!message) return false;
            received += *message;
        }
        return true;
    };
    ASSERT_TRUE(read_clusters(5));
    const auto more = ingest(port(), make_fragments(3, 5));
    ASSERT_EQ(more.size(), 3u);
    ASSERT_TRUE(read_clusters(8));
    while (summarize(received).frames < 8 * 5) {  // the last cluster's frames may still be on their way
        auto message = ws.read(5s);
        ASSERT_TRUE(message);
        received += *message;
    }
    const auto summary = summarize(received);
    // One playable MKV: a single header, every cluster once and in order, every frame.
    EXPECT_EQ(summary.segments, 1);
    std::vector<std::int64_t> expected;
    for (int i = 0; i < 8; ++i)
        expected.push_back(kEpochMs + 1000 * i);
    EXPECT_EQ(summary.cluster_timecodes, expected);
    EXPECT_EQ(summary.frames, 8 * 5);
}

TEST_F(GetMediaTest, LiveFrameArrivesBeforeItsFragmentCompletes) {
    WsClient viewer(port(), "/getMedia?StreamName=cam1&StartSelectorType=NOW");
    ASSERT_TRUE(viewer.ok());
    WsClient producer(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(producer.ok());
    const auto stream = make_fragments(1, 20, 5, 3000);
    // The header and half of the fragment (its first two frames): the fragment stays open.
    producer.send_binary(std::span(stream.bytes).first(stream.header.size() + stream.clusters[0].size() / 2));
    std::string received;
    while (summarize(received).frames < 1) {
        auto message = viewer.read(5s);
        ASSERT_TRUE(message) << "no live frame before the fragment completed";
        received += *message;
    }
    const auto summary = summarize(received);
    EXPECT_EQ(summary.payloads.front(), server::test::payload_for(kEpochMs + 20'000, 0, 3000));
    EXPECT_TRUE(summary.numbers.empty());  // the fragment has no number yet: it is not complete
}

TEST(GetMediaSlowViewer, IsSkippedAndCountedWhileIngestContinues) {
    TestServer server([](server::ServerConfig& config) { config.viewer_queue_bytes = 256u << 10; });
    create_stream(server.port(), "cam1");
    // A viewer with a tiny receive buffer that never reads after the response head.
    StreamingHttpClient viewer(server.port(), 4096);
    const json body = {{"StreamName", "cam1"}, {"StartSelector", {{"StartSelectorType", "NOW"}}}};
    viewer.start("POST", "/getMedia", {}, false, body.dump());
    ASSERT_TRUE(viewer.read_head());
    // 60 fragments of 5 x 60 KB frames (18 MB): far more than socket buffers and the viewer's queue hold.
    const auto numbers = ingest(server.port(), make_fragments(60, 0, 5, 60'000));
    EXPECT_EQ(numbers.size(), 60u);  // every fragment PERSISTED: the stuck viewer did not hold ingest up
    HttpClient client(server.port());
    const auto metrics = client.request("GET", "/metrics").body;
    const auto at = metrics.find("kinema_live_frames_skipped_total{stream=\"cam1\"} ");
    ASSERT_NE(at, std::string::npos) << metrics;
    EXPECT_GT(std::stod(metrics.substr(
                  at + std::string("kinema_live_frames_skipped_total{stream=\"cam1\"} ").size())),
              0.0)
        << metrics;
    EXPECT_NE(metrics.find("kinema_get_media_viewers 1"), std::string::npos);
}

TEST_F(GetMediaTest, MetricsCountBytesAndFragmentsOut) {
    get_media({{"StartSelectorType", "EARLIEST"}}, 5);
    HttpClient client(server_->port());
    const auto metrics = client.request("GET", "/metrics").body;
    EXPECT_NE(metrics.find("kinema_get_media_fragments_total{stream=\"cam1\"} 5"), std::string::npos)
        << metrics;
}

}  // namespace
}  // namespace kinema::test
