// Loss-free reconnect against the real server: a fault-injecting TCP proxy between the producer and
// kinema-server resets the connection at random byte offsets five times during a 30 s stream (seeded, so a
// failure can be replayed). Time is accelerated: the 900 frames carry 30 fps timestamps covering 30 s of
// media but are put as fast as put_frame takes them, so the test takes a few seconds of wall time. After
// each cut the producer opens a new PutMedia session and replays what was not PERSISTED; the server's
// de-duplication must leave every fragment stored exactly once, frames bit-exact.
#include <gtest/gtest.h>

#include <random>

#include "fault_proxy.h"
#include "producer_server_fixture.h"
#include "test_server.h"

namespace kinema::producer::testing {
namespace {

class ConnectionCuts : public ::testing::TestWithParam<unsigned> {};

TEST_P(ConnectionCuts, ZeroFramesLostZeroDuplicated) {
    const auto& source = real_h264(30);
    ASSERT_EQ(source.size(), 900u) << "ffmpeg could not make the test video";
    std::size_t total = 0;
    for (const auto& f : source)
        total += f.avcc.size();
    // Each cut somewhere in the first third of the stream's bytes counted from the start of that
    // connection: in the upgrade request, the stream header, inside a cluster or between clusters.
    std::mt19937 rng(GetParam());
    std::vector<std::size_t> cuts;
    std::string cut_text;
    for (int i = 0; i < 5; ++i) {
        cuts.push_back(std::uniform_int_distribution<std::size_t>(1, total / 3)(rng));
        cut_text += " " + std::to_string(cuts.back());
    }
    SCOPED_TRACE("seed " + std::to_string(GetParam()) + ", cuts at" + cut_text);

    kinema::test::TestServer server;
    // Created directly, so every connection through the proxy is a PutMedia session.
    kinema::test::HttpClient client(server.port());
    ASSERT_EQ(
        client.post_json("/createStream", {{"StreamName", "cam1"}, {"DataRetentionInHours", 24}}).status,
        200u);
    FaultProxy proxy(server.port(), cuts);
    AckLog acks;
    StreamConfig config;
    config.endpoint = "ws://127.0.0.1:" + std::to_string(proxy.port());
    config.stream_name = "cam1";
    config.reconnect_min_backoff = 5ms;
    config.reconnect_max_backoff = 100ms;
    Producer producer;
    Stream& stream = producer.add_stream(config, acks.callbacks());
    // In three bursts, so some cuts fall while frames are still arriving and some during the final drain.
    put_frames(stream, source, 0, 300);
    put_frames(stream, source, 300, 600);
    put_frames(stream, source, 600, source.size());
    const StopReport report = stream.stop(30s);

    EXPECT_TRUE(report.all_acknowledged) << report.unacknowledged_fragments << " fragments unacknowledged";
    // The first connection always reaches its cut. Whether a later one does depends on how much of the stream
    // was already PERSISTED when it started (a replay resends only the rest), which is timing, not behaviour:
    // so at least one cut, and one more connection than cuts to finish.
    EXPECT_GE(proxy.cuts(), 1);
    EXPECT_GE(proxy.connections(), proxy.cuts() + 1);
    EXPECT_TRUE(acks.dropped().empty());
    const auto expected = fragment_timecodes(source);
    const auto persisted = acks.persisted();
    EXPECT_EQ(std::vector<std::int64_t>(persisted.begin(), persisted.end()), expected);

    expect_stored_exactly(read_stored(server.port(), "cam1"), source);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ConnectionCuts, ::testing::Values(1u, 7u, 2024u));

}  // namespace
}  // namespace kinema::producer::testing
