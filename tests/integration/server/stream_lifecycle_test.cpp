// Stream and connection lifecycle over real loopback sockets: DeleteStream ends the stream's live viewers
// (error tags, then the final chunk or a WebSocket close) and its producer (ERROR 4008, then a clean end)
// and removes its metrics; a server stop ends GetMedia output cleanly.
#include <gtest/gtest.h>

#include <thread>

#include "media_test_util.h"

namespace kinema::test {
namespace {

using nlohmann::json;
using server::AckError;
using server::AckEventType;

std::string get_media_body(const std::string& selector_type) {
    return json{{"StreamName", "cam1"}, {"StartSelector", {{"StartSelectorType", selector_type}}}}.dump();
}

// Everything the server sends until it closes the WebSocket, concatenated.
std::string read_until_closed(WsClient& ws) {
    std::string all;
    while (auto message = ws.read(10s))
        all += *message;
    return all;
}

// Reads the WebSocket until `count` fragment numbers arrived; false on timeout or close.
bool read_numbers(WsClient& ws, std::string& received, std::size_t count) {
    while (summarize(received).numbers.size() < count) {
        auto message = ws.read(5s);
        if (!message) return false;
        received += *message;
    }
    return true;
}

bool has_numbers(StreamingHttpClient& http, std::size_t count) {
    return http.read_until(
        [count](const std::string& body) { return summarize(body).numbers.size() >= count; });
}

bool read_to_end(StreamingHttpClient& http) {
    return http.read_until([&http](const std::string&) { return http.complete(); }, 10s);
}

// One producer session of `stream` (with the end-of-fragment tags), closed once all is PERSISTED.
void ingest(std::uint16_t port, const std::string& name, const server::test::TestStream& stream) {
    WsClient ws(port, "/putMedia", put_media_headers(name));
    ASSERT_TRUE(ws.ok()) << ws.rejection().body;
    ws.send_binary(stream.bytes);
    ws.send_binary(end_of_fragment_tags());
    read_acks_until_persisted(ws, stream.clusters.size());
    ws.close();
}

class StreamLifecycleTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<TestServer>();
        create_stream(port(), "cam1");
    }
    std::uint16_t port() const { return server_->port(); }

    void delete_stream(const std::string& name) {
        HttpClient client(port());
        const auto info = client.post_json("/describeStream", {{"StreamName", name}}).json();
        const auto arn = info["StreamInfo"]["StreamARN"].get<std::string>();
        const auto response = client.post_json("/deleteStream", {{"StreamARN", arn}});
        ASSERT_EQ(response.status, 200u) << response.body;
    }

    std::string metrics() {
        HttpClient client(port());
        return client.request("GET", "/metrics").body;
    }

    std::unique_ptr<TestServer> server_;
};

TEST_F(StreamLifecycleTest, DeleteStreamEndsLiveViewersAndTheProducerCleanly) {
    StreamingHttpClient http_viewer(port());
    http_viewer.start("POST", "/getMedia", {}, false, get_media_body("NOW"));
    ASSERT_TRUE(http_viewer.read_head());
    ASSERT_EQ(http_viewer.status(), 200u);
    WsClient ws_viewer(port(), "/getMedia?StreamName=cam1&StartSelectorType=NOW");
    ASSERT_TRUE(ws_viewer.ok());

    // The first fragment whole, the second begun: it is in progress when the stream goes.
    const auto stream = make_fragments(2);
    WsClient producer(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(producer.ok());
    producer.send_binary(
        std::span(stream.bytes)
            .first(stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() / 2));
    const auto acks = read_acks_until_persisted(producer, 1);
    ASSERT_FALSE(acks.empty());
    ASSERT_EQ(acks.back().type, AckEventType::persisted);
    ASSERT_TRUE(has_numbers(http_viewer, 1));
    std::string ws_received;
    ASSERT_TRUE(read_numbers(ws_viewer, ws_received, 1));

    delete_stream("cam1");

    // The producer: ERROR 4008 (STREAM_NOT_ACTIVE), then a clean WebSocket close.
    std::vector<server::Ack> after;
    while (auto message = producer.read(10s)) {
        auto ack = parse(*message);
        ASSERT_TRUE(ack) << *message;
        after.push_back(*ack);
    }
    ASSERT_FALSE(after.empty());
    EXPECT_EQ(after.back().type, AckEventType::error);
    EXPECT_EQ(after.back().error, AckError::stream_not_active);
    EXPECT_EQ(producer.close_code(), 1000);

    // The viewers: what they had, then the error tags, then the final chunk / a clean close.
    ASSERT_TRUE(read_to_end(http_viewer)) << "the GetMedia body did not end with its final chunk";
    ws_received += read_until_closed(ws_viewer);
    EXPECT_EQ(ws_viewer.close_code(), 1000);
    for (const auto& body : {http_viewer.body(), ws_received}) {
        auto summary = summarize(body);
        EXPECT_EQ(summary.numbers.size(), 1u);  // the fragment in progress never completed
        EXPECT_EQ(summary.last_tags["AWS_KINESISVIDEO_ERROR_CODE"], "ResourceNotFoundException");
        EXPECT_EQ(summary.last_tags["AWS_KINESISVIDEO_ERROR_ID"], "4000");
    }

    // Nothing of the stream is left to join.
    WsClient late(port(), "/getMedia?StreamName=cam1&StartSelectorType=NOW");
    EXPECT_FALSE(late.ok());
    EXPECT_EQ(late.rejection().error_type(), "ResourceNotFoundException");
}

TEST_F(StreamLifecycleTest, AWebSocketViewerThatNeverAnswersTheCloseIsCutAfterTheCloseTimeout) {
    // A raw socket that upgrades to WebSocket and then never sends a byte: not even the close reply.
    StreamingHttpClient viewer(port());
    viewer.start("GET", "/getMedia?StreamName=cam1&StartSelectorType=NOW",
                 {{"Upgrade", "websocket"},
                  {"Connection", "Upgrade"},
                  {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                  {"Sec-WebSocket-Version", "13"}},
                 false);
    ASSERT_TRUE(viewer.read_head());
    ASSERT_EQ(viewer.status(), 101u);
    delete_stream("cam1");
    // The server's close frame arrives, then, with no reply, the end of the connection: within the close
    // timeout (kWebSocketCloseTimeout, 5 s), not the opening handshake's 30 s: read_until returns when the
    // server closes. Its 20 s bound only keeps a failure from hanging.
    viewer.read_until([](const std::string&) { return false; }, 20s);
    EXPECT_TRUE(viewer.finished()) << "the server still holds the connection";
    ASSERT_GE(viewer.body().size(), 4u);  // a close frame with its status code: 0x88 0x02 and 2 bytes
    EXPECT_EQ(static_cast<unsigned char>(viewer.body()[viewer.body().size() - 4]) & 0x0F, 0x8)
        << "the last frame is not a close frame";
}

TEST_F(StreamLifecycleTest, DeleteStreamEndsAChunkedHttpProducerWithError4008) {
    const auto stream = make_fragments(2);
    StreamingHttpClient producer(port());
    producer.start("POST", "/putMedia", put_media_headers("cam1"), true);
    ASSERT_TRUE(producer.read_head());
    ASSERT_EQ(producer.status(), 200u);
    producer.send_chunk(
        std::span(stream.bytes)
            .first(stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() / 2));
    ASSERT_TRUE(producer.read_until(
        [](const std::string& body) { return body.find("\"PERSISTED\"") != std::string::npos; }));

    // The producer is silent, its body still open, when the stream goes.
    delete_stream("cam1");

    ASSERT_TRUE(read_to_end(producer)) << producer.body();
    const auto lines = producer.lines();
    ASSERT_FALSE(lines.empty());
    const auto last = parse(lines.back());
    ASSERT_TRUE(last) << lines.back();
    EXPECT_EQ(last->type, AckEventType::error);
    EXPECT_EQ(last->error, AckError::stream_not_active);
}

TEST_F(StreamLifecycleTest, MetricsOfADeletedStreamAreRemoved) {
    create_stream(port(), "cam2");
    ingest(port(), "cam1", make_fragments(1));
    ingest(port(), "cam2", make_fragments(1));
    {
        StreamingHttpClient viewer(port());
        viewer.start("POST", "/getMedia", {}, false, get_media_body("EARLIEST"));
        ASSERT_TRUE(viewer.read_head());
        ASSERT_TRUE(has_numbers(viewer, 1));
    }
    const auto before = metrics();
    EXPECT_NE(before.find("kinema_put_media_fragments_total{stream=\"cam1\"} 1"), std::string::npos)
        << before;
    EXPECT_NE(before.find("kinema_get_media_fragments_total{stream=\"cam1\"} 1"), std::string::npos)
        << before;

    delete_stream("cam1");

    const auto after = metrics();
    EXPECT_EQ(after.find("stream=\"cam1\""), std::string::npos) << after;
    EXPECT_NE(after.find("kinema_put_media_fragments_total{stream=\"cam2\"} 1"), std::string::npos) << after;

    // A new stream of the same name starts from zero.
    create_stream(port(), "cam1");
    ingest(port(), "cam1", make_fragments(1, 10));
    EXPECT_NE(metrics().find("kinema_put_media_fragments_total{stream=\"cam1\"} 1"), std::string::npos);
}

TEST(StreamLifecycleStop, ServerStopEndsGetMediaOutputCleanly) {
    TestServer server;
    create_stream(server.port(), "cam1");
    ingest(server.port(), "cam1", make_fragments(2));

    StreamingHttpClient archive_viewer(server.port());
    archive_viewer.start("POST", "/getMedia", {}, false, get_media_body("EARLIEST"));
    ASSERT_TRUE(archive_viewer.read_head());
    ASSERT_TRUE(has_numbers(archive_viewer, 2));
    StreamingHttpClient live_viewer(server.port());
    live_viewer.start("POST", "/getMedia", {}, false, get_media_body("NOW"));
    ASSERT_TRUE(live_viewer.read_head());
    ASSERT_EQ(live_viewer.status(), 200u);
    WsClient ws_viewer(server.port(), "/getMedia?StreamName=cam1&StartSelectorType=EARLIEST");
    ASSERT_TRUE(ws_viewer.ok());
    std::string ws_received;
    ASSERT_TRUE(read_numbers(ws_viewer, ws_received, 2));

    // The drain (SIGTERM does the same) runs while the viewers read, as real ones do.
    std::thread stopping([&server] { server.stop(); });
    const bool archive_complete = read_to_end(archive_viewer);
    const bool live_complete = read_to_end(live_viewer);
    ws_received += read_until_closed(ws_viewer);
    stopping.join();

    EXPECT_TRUE(archive_complete) << "the body was cut without its final chunk";
    EXPECT_TRUE(live_complete) << "the body was cut without its final chunk";
    const auto summary = summarize(archive_viewer.body());
    EXPECT_EQ(summary.numbers.size(), 2u);
    EXPECT_EQ(summary.last_tags.count("AWS_KINESISVIDEO_ERROR_CODE"), 0u);  // a stop is not an error
    EXPECT_TRUE(live_viewer.body().empty());
    EXPECT_EQ(ws_viewer.close_code(), 1001);  // going away
    EXPECT_EQ(summarize(ws_received).numbers.size(), 2u);
}

}  // namespace
}  // namespace kinema::test
