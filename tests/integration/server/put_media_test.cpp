// PutMedia over real loopback sockets: WebSocket and chunked HTTP, the byte stream split at random sizes,
// KVS ACK sequences, every enforced error, one producer per stream, a producer vanishing mid-fragment,
// IDLE keepalives and a restart with the data kept.
#include <gtest/gtest.h>

#include "media_test_util.h"

namespace kinema::test {
namespace {

using server::AckError;
using server::AckEventType;

class PutMediaTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<TestServer>([](server::ServerConfig& config) {
            config.idle_ack_interval = 300ms;
            config.producer_takeover_after = 60s;
        });
        create_stream(port(), "cam1");
    }
    std::uint16_t port() const { return server_->port(); }

    std::unique_ptr<TestServer> server_;
};

// Each fragment gets BUFFERING, RECEIVED, PERSISTED in that order, with the same 20-digit number on all
// three, numbers increasing from fragment to fragment.
void expect_kvs_ack_sequence(const std::vector<server::Ack>& acks, const server::test::TestStream& stream) {
    std::map<std::int64_t, std::vector<server::Ack>> by_timecode;
    for (const auto& ack : acks)
        by_timecode[ack.fragment_timecode].push_back(ack);
    ASSERT_EQ(by_timecode.size(), stream.clusters.size());
    std::string previous;
    for (auto& [timecode, events] : by_timecode) {
        ASSERT_EQ(events.size(), 3u) << "fragment " << timecode;
        EXPECT_EQ(events[0].type, AckEventType::buffering);
        EXPECT_EQ(events[1].type, AckEventType::received);
        EXPECT_EQ(events[2].type, AckEventType::persisted);
        EXPECT_EQ(events[1].fragment_number.size(), 20u);
        EXPECT_EQ(events[0].fragment_number, events[1].fragment_number);
        EXPECT_EQ(events[1].fragment_number, events[2].fragment_number);
        EXPECT_GT(events[1].fragment_number, previous);
        previous = events[1].fragment_number;
    }
}

TEST_F(PutMediaTest, WebSocketStoresEveryFragmentOfARandomlySplitStream) {
    for (std::uint32_t seed : {1u, 2u}) {
        const auto stream = make_fragments(4, 10 * static_cast<int>(seed));
        Bytes bytes = stream.bytes;
        const auto end = end_of_fragment_tags();
        bytes.insert(bytes.end(), end.begin(), end.end());
        // The second session connects as soon as the first one's close is answered (see the next test).
        WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
        ASSERT_TRUE(ws.ok()) << ws.rejection().body;
        for (auto piece : random_split(bytes, seed))
            ws.send_binary(piece);
        // The end-of-fragment Tags complete the last Cluster while the producer is still connected.
        const auto acks = read_acks_until_persisted(ws, stream.clusters.size());
        expect_kvs_ack_sequence(acks, stream);
        ws.close();
    }
    const auto listed = list_fragments(port(), "cam1");
    ASSERT_EQ(listed.size(), 8u);
    const auto first = make_fragments(4, 10);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(listed[i].producer_ms, kEpochMs + 10'000 + 1000 * static_cast<std::int64_t>(i));
        EXPECT_EQ(listed[i].size, first.clusters[i].size());
    }
}

// A producer sending faster than the server reads: 64 KiB messages written back to back, 12 MB in all, so
// reads take whole socket buffers (from the first that takes 256 KiB they ask for 1 MiB) spanning many
// messages and fragment boundaries. Every fragment is stored whole and acknowledged in order.
TEST_F(PutMediaTest, WebSocketStoresEveryFragmentOfAStreamSentFasterThanItIsRead) {
    const auto stream = make_fragments(6, 0, 25, 80'000);
    Bytes bytes = stream.bytes;
    const auto end = end_of_fragment_tags();
    bytes.insert(bytes.end(), end.begin(), end.end());
    ASSERT_GT(bytes.size(), 12u * 1000 * 1000);
    WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(ws.ok()) << ws.rejection().body;
    for (std::size_t at = 0; at < bytes.size(); at += 64 * 1024)
        ws.send_binary(std::span(bytes).subspan(at, std::min<std::size_t>(64 * 1024, bytes.size() - at)));
    const auto acks = read_acks_until_persisted(ws, stream.clusters.size());
    expect_kvs_ack_sequence(acks, stream);
    ws.close();
    const auto listed = list_fragments(port(), "cam1");
    ASSERT_EQ(listed.size(), stream.clusters.size());
    for (std::size_t i = 0; i < listed.size(); ++i) {
        EXPECT_EQ(listed[i].producer_ms, kEpochMs + 1000 * static_cast<std::int64_t>(i));
        EXPECT_EQ(listed[i].size, stream.clusters[i].size());
    }
}

// The server releases a producer's claim on the stream when its close frame arrives, before answering it:
// a producer that reconnects as soon as its close is answered is never refused, even while the old TCP
// connection is still open. (Released when the connection had closed instead, a reconnect right after
// the close handshake was refused about once in a hundred under load, and always while the old connection
// stayed open.)
TEST_F(PutMediaTest, AProducerThatReconnectsRightAfterACleanCloseIsAccepted) {
    std::vector<std::unique_ptr<WsClient>> old_connections;  // kept open to the end
    for (int session = 0; session < 10; ++session) {
        auto client = std::make_unique<WsClient>(port(), "/putMedia", put_media_headers("cam1"));
        WsClient& ws = *client;
        ASSERT_TRUE(ws.ok()) << "session " << session << ": " << ws.rejection().body;
        Bytes bytes = make_fragments(1, 10 * session).bytes;
        const auto end = end_of_fragment_tags();
        bytes.insert(bytes.end(), end.begin(), end.end());
        ws.send_binary(bytes);
        ASSERT_EQ(read_acks_until_persisted(ws, 1).size(), 3u);
        ASSERT_TRUE(ws.close_keeping_connection());
        old_connections.push_back(std::move(client));
    }
    EXPECT_EQ(list_fragments(port(), "cam1").size(), 10u);
}

TEST_F(PutMediaTest, ChunkedHttpStreamsAckLinesAndEndsAfterTheLastPersisted) {
    const auto stream = make_fragments(3);
    StreamingHttpClient http(port());
    http.start("POST", "/putMedia", put_media_headers("cam1"), true);
    ASSERT_TRUE(http.read_head());
    EXPECT_EQ(http.status(), 200u);
    for (auto piece : random_split(stream.bytes, 7, 700))
        http.send_chunk(piece);
    http.end_body();
    // The end of the body completes the last Cluster; the response ends after its PERSISTED.
    ASSERT_TRUE(http.read_until([](const std::string&) { return false; }, 10s) || http.finished());
    EXPECT_TRUE(http.finished());
    std::vector<server::Ack> acks;
    for (const auto& line : http.lines()) {
        auto ack = server::parse_ack(line);
        ASSERT_TRUE(ack) << line;
        acks.push_back(*ack);
    }
    expect_kvs_ack_sequence(acks, stream);
    EXPECT_EQ(list_fragments(port(), "cam1").size(), 3u);
}

TEST_F(PutMediaTest, HttpBodyWithContentLengthIsStoredAndEndsAfterTheLastPersisted) {
    // What `curl -T clip.mkv` sends without a chunked header: the whole body with a Content-Length.
    const auto stream = make_fragments(3);
    StreamingHttpClient http(port());
    http.start("POST", "/putMedia", put_media_headers("cam1"), false,
               std::string(stream.bytes.begin(), stream.bytes.end()));
    ASSERT_TRUE(http.read_head());
    EXPECT_EQ(http.status(), 200u);
    // The end of the body completes the last Cluster; the response ends (final chunk) after its PERSISTED.
    ASSERT_TRUE(http.read_until([&http](const std::string&) { return http.complete(); }, 10s)) << http.body();
    std::vector<server::Ack> acks;
    for (const auto& line : http.lines()) {
        auto ack = server::parse_ack(line);
        ASSERT_TRUE(ack) << line;
        acks.push_back(*ack);
    }
    expect_kvs_ack_sequence(acks, stream);
    ASSERT_FALSE(acks.empty());
    EXPECT_EQ(acks.back().type, AckEventType::persisted);
    const auto listed = list_fragments(port(), "cam1");
    ASSERT_EQ(listed.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i)
        EXPECT_EQ(listed[i].size, stream.clusters[i].size());
}

TEST_F(PutMediaTest, UnknownStreamIsRefusedBeforeUpgradeOrResponse) {
    WsClient ws(port(), "/putMedia", put_media_headers("nope"));
    EXPECT_FALSE(ws.ok());
    EXPECT_EQ(ws.rejection().status, 404u);
    EXPECT_EQ(ws.rejection().error_type(), "ResourceNotFoundException");

    StreamingHttpClient http(port());
    http.start("POST", "/putMedia", put_media_headers("nope"), true);
    ASSERT_TRUE(http.read_head());
    EXPECT_EQ(http.status(), 404u);
    EXPECT_EQ(http.header("x-amzn-errortype"), "ResourceNotFoundException");

    WsClient bad(port(), "/putMedia",
                 {{"x-amzn-stream-name", "cam1"}, {"x-amzn-fragment-timecode-type", "SOMETIMES"}});
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.rejection().error_type(), "InvalidArgumentException");
}

TEST_F(PutMediaTest, QueryParametersWorkForWebSocket) {
    const auto stream = make_fragments(1);
    WsClient ws(port(), "/putMedia?StreamName=cam1&FragmentTimecodeType=ABSOLUTE");
    ASSERT_TRUE(ws.ok()) << ws.rejection().body;
    ws.send_binary(stream.bytes);
    ws.send_binary(end_of_fragment_tags());
    expect_kvs_ack_sequence(read_acks_until_persisted(ws, 1), stream);
}

TEST_F(PutMediaTest, SecondProducerIsRefusedWhileTheFirstIsActive) {
    WsClient first(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(first.ok());
    WsClient second(port(), "/putMedia", put_media_headers("cam1"));
    EXPECT_FALSE(second.ok());
    EXPECT_EQ(second.rejection().status, 400u);
    EXPECT_EQ(second.rejection().error_type(), "ResourceInUseException");
    // Once the first has gone, a new producer is welcome.
    first.close();
    std::unique_ptr<WsClient> third;
    for (int attempt = 0; attempt < 100; ++attempt) {  // the server sees the close asynchronously
        third = std::make_unique<WsClient>(port(), "/putMedia", put_media_headers("cam1"));
        if (third->ok()) break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(third->ok());
}

TEST(PutMediaTakeover, SilentProducerIsReplacedByANewConnection) {
    TestServer server([](server::ServerConfig& config) { config.producer_takeover_after = 0ms; });
    create_stream(server.port(), "cam1");
    const auto stream = make_fragments(2);
    WsClient first(server.port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(first.ok());
    first.send_binary(std::span(stream.bytes).first(stream.header.size() + stream.clusters[0].size() / 2));
    WsClient second(server.port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(second.ok());
    // The replaced connection is closed by the server.
    while (first.read(5s)) {
    }
    EXPECT_TRUE(first.closed());
    second.send_binary(stream.bytes);
    second.send_binary(end_of_fragment_tags());
    expect_kvs_ack_sequence(read_acks_until_persisted(second, 2), stream);
    EXPECT_EQ(list_fragments(server.port(), "cam1").size(), 2u);
}

struct ErrorCase {
    const char* name;
    std::function<Bytes()> stream;
    AckError error;
};

TEST_F(PutMediaTest, EnforcedErrorsSendKvsErrorAcksAndEndTheSession) {
    const std::vector<ErrorCase> cases = {
        {"invalid MKV", [] { return Bytes(64, 0x55); }, AckError::invalid_mkv_data},
        {"timecode going back",
         [] {
             auto s = server::test::make_stream(
                 {{kEpochMs + 5000, 2, 40, 1, 50}, {kEpochMs + 4000, 2, 40, 1, 50}});
             return s.bytes;
         },
         AckError::fragment_timecode_lesser_than_previous},
        {"fragment longer than 20 s",
         [] {
             // 22 frames 1 s apart in one cluster: the limit trips at the frame past 20 s.
             auto s = server::test::make_stream({{kEpochMs, 22, 1000, 1, 50}});
             return s.bytes;
         },
         AckError::max_fragment_duration_reached},
        {"more than 3 tracks",
         [] {
             auto s = server::test::make_stream({{kEpochMs, 2, 40, 1, 50}}, 4);
             return s.bytes;
         },
         AckError::more_than_allowed_tracks_found},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
        ASSERT_TRUE(ws.ok());
        ws.send_binary(c.stream());
        std::optional<server::Ack> error;
        while (auto message = ws.read(5s)) {
            auto ack = server::parse_ack(*message);
            ASSERT_TRUE(ack) << *message;
            if (ack->type == AckEventType::error) error = ack;
        }
        ASSERT_TRUE(error);
        EXPECT_EQ(error->error, c.error);
        EXPECT_TRUE(ws.closed());  // the session ended cleanly after the ERROR
    }
    // Nothing of the failed sessions was stored except complete fragments before the error.
    for (const auto& f : list_fragments(port(), "cam1"))
        EXPECT_EQ(f.producer_ms, kEpochMs + 5000);
}

TEST(PutMediaLimits, FragmentOverFiftyMegabytesIsRejectedWith4001) {
    TestServer server([](server::ServerConfig& config) { config.max_ws_message_bytes = 64u << 20; });
    create_stream(server.port(), "cam1");
    Bytes bytes;
    media::mkv::write_stream_header(server::test::video_header(), bytes);
    media::mkv::write_cluster_start(kEpochMs, bytes);
    const Bytes payload(1'000'000, 0x11);
    for (int i = 0; i < 52; ++i)
        ASSERT_FALSE(media::mkv::write_simple_block(1, i * 10, i == 0, payload, bytes));
    WsClient ws(server.port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(ws.ok());
    for (auto piece : random_split(bytes, 3, 4u << 20))
        ws.send_binary(piece);
    std::optional<server::Ack> error;
    while (auto message = ws.read(10s)) {
        auto ack = server::parse_ack(*message);
        if (ack && ack->type == AckEventType::error) error = ack;
    }
    ASSERT_TRUE(error);
    EXPECT_EQ(error->error, AckError::max_fragment_size_reached);
    EXPECT_TRUE(list_fragments(server.port(), "cam1").empty());
}

TEST_F(PutMediaTest, DisconnectMidFragmentDropsItAndTheNextSessionContinues) {
    const auto stream = make_fragments(4);
    {
        WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
        ASSERT_TRUE(ws.ok());
        // Two whole fragments and half of the third: the second completes when the third begins.
        const std::size_t cut = stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() +
                                stream.clusters[2].size() / 2;
        ws.send_binary(std::span(stream.bytes).first(cut));
        const auto acks = read_acks_until_persisted(ws, 2);
        ASSERT_GE(acks.size(), 6u);
        ws.drop();
    }
    // The next session (the producer reconnecting) resends from the third fragment.
    std::unique_ptr<WsClient> ws;
    for (int attempt = 0; attempt < 100; ++attempt) {
        ws = std::make_unique<WsClient>(port(), "/putMedia", put_media_headers("cam1"));
        if (ws->ok()) break;
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(ws->ok());
    Bytes rest = stream.header;
    rest.insert(rest.end(), stream.clusters[2].begin(), stream.clusters[2].end());
    rest.insert(rest.end(), stream.clusters[3].begin(), stream.clusters[3].end());
    const auto end = end_of_fragment_tags();
    rest.insert(rest.end(), end.begin(), end.end());
    ws->send_binary(rest);
    ASSERT_EQ(read_acks_until_persisted(*ws, 2).size(), 6u);
    const auto listed = list_fragments(port(), "cam1");
    ASSERT_EQ(listed.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(listed[i].producer_ms, kEpochMs + 1000 * static_cast<std::int64_t>(i));
        EXPECT_EQ(listed[i].size, stream.clusters[i].size());  // the partial third was not stored
    }
}

TEST_F(PutMediaTest, ResentFragmentsAreAcknowledgedWithoutASecondCopy) {
    const auto stream = make_fragments(2);
    Bytes bytes = stream.bytes;
    const auto end = end_of_fragment_tags();
    bytes.insert(bytes.end(), end.begin(), end.end());
    std::vector<std::string> numbers[2];
    for (auto& run : numbers) {
        std::unique_ptr<WsClient> ws;
        for (int attempt = 0; attempt < 100; ++attempt) {
            ws = std::make_unique<WsClient>(port(), "/putMedia", put_media_headers("cam1"));
            if (ws->ok()) break;
            std::this_thread::sleep_for(10ms);
        }
        ASSERT_TRUE(ws->ok());
        ws->send_binary(bytes);
        for (const auto& ack : read_acks_until_persisted(*ws, 2))
            if (ack.type == AckEventType::persisted) run.push_back(ack.fragment_number);
        ws->close();
    }
    EXPECT_EQ(numbers[0], numbers[1]);
    EXPECT_EQ(list_fragments(port(), "cam1").size(), 2u);
}

TEST_F(PutMediaTest, SilentProducerGetsIdleAcks) {
    WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(ws.ok());
    ws.send_binary(make_fragments(1).header);
    auto message = ws.read(5s);
    ASSERT_TRUE(message);
    auto ack = server::parse_ack(*message);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->type, AckEventType::idle);
}

TEST_F(PutMediaTest, PersistedFragmentsSurviveARestart) {
    const auto stream = make_fragments(3);
    WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(ws.ok());
    ws.send_binary(stream.bytes);
    ws.send_binary(end_of_fragment_tags());
    std::vector<std::string> persisted;
    for (const auto& ack : read_acks_until_persisted(ws, 3))
        if (ack.type == AckEventType::persisted) persisted.push_back(ack.fragment_number);
    ws.close();
    server_->restart();
    std::vector<std::string> listed;
    for (const auto& f : list_fragments(port(), "cam1"))
        listed.push_back(f.number);
    EXPECT_EQ(listed, persisted);
}

TEST_F(PutMediaTest, MetricsCountIngest) {
    const auto stream = make_fragments(2);
    WsClient ws(port(), "/putMedia", put_media_headers("cam1"));
    ASSERT_TRUE(ws.ok());
    ws.send_binary(stream.bytes);
    ws.send_binary(end_of_fragment_tags());
    read_acks_until_persisted(ws, 2);
    HttpClient client(port());
    const auto metrics = client.request("GET", "/metrics").body;
    EXPECT_NE(metrics.find("kinema_put_media_fragments_total{stream=\"cam1\"} 2"), std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("kinema_put_media_producers 1"), std::string::npos);
    EXPECT_NE(metrics.find("kinema_put_media_ack_latency_seconds_count{event=\"PERSISTED\"} 2"),
              std::string::npos);
    EXPECT_NE(metrics.find("kinema_storage_commit_latency_seconds_count 2"), std::string::npos);
}

}  // namespace
}  // namespace kinema::test
