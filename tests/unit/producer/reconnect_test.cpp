// Loss-free reconnect under injected faults: a TCP proxy between the producer and the fake PutMedia server
// resets the connection at random byte offsets several times (seeded, so a failure can be replayed). After
// each cut the producer opens a new session, sends the stream header again and replays from the first
// fragment not yet acknowledged: every fragment ends up PERSISTED, each session is a contiguous run of
// fragments (no gap), and stop() finds nothing unacknowledged.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <random>
#include <set>

#include "fake_putmedia_server.h"
#include "fault_proxy.h"
#include "kinema/producer.h"

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;
using testing::FakePutMediaServer;
using testing::FaultProxy;
using Bytes = std::vector<std::uint8_t>;

constexpr std::int64_t kStartMs = 1'700'000'000'000;
constexpr int kGop = 10;
constexpr int kFrameMs = 33;
constexpr int kFragments = 30;

void put_fragments(Stream& stream, int first, int count) {
    const Bytes sps_pps = {0,    0,    0,    1,    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb,
                           0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83,
                           0x19, 0x60, 0,    0,    0,    1,    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
    for (int i = first * kGop; i < (first + count) * kGop; ++i) {
        const bool key = i % kGop == 0;
        Bytes data = key ? sps_pps : Bytes{};
        data.insert(data.end(), {0, 0, 0, 1, static_cast<std::uint8_t>(key ? 0x65 : 0x41)});
        data.resize(data.size() + 700 + static_cast<std::size_t>(i % 7) * 100, static_cast<std::uint8_t>(i));
        VideoFrame f;
        f.data = data;
        f.pts = Timestamp::from_milliseconds(kStartMs + i * kFrameMs);
        f.dts = f.pts;
        f.key = key;
        ASSERT_FALSE(stream.put_frame(f)) << i;
    }
}

std::int64_t timecode(int fragment) {
    return kStartMs + std::int64_t{fragment} * kGop * kFrameMs;
}

class ReconnectUnderFaults : public ::testing::TestWithParam<unsigned> {};

TEST_P(ReconnectUnderFaults, EveryFragmentIsPersistedWithoutGaps) {
    // Four cuts, each somewhere in the first 60 KB of a connection (the whole stream is about 300 KB):
    // in the upgrade request, in the stream header, inside a cluster, between clusters.
    std::mt19937 rng(GetParam());
    std::vector<std::size_t> cuts;
    for (int i = 0; i < 4; ++i)
        cuts.push_back(std::uniform_int_distribution<std::size_t>(1, 60'000)(rng));
    SCOPED_TRACE("seed " + std::to_string(GetParam()) + ", cuts at " + std::to_string(cuts[0]) + ", " +
                 std::to_string(cuts[1]) + ", " + std::to_string(cuts[2]) + ", " + std::to_string(cuts[3]));

    FakePutMediaServer server;
    FaultProxy proxy(server.port(), cuts);
    std::mutex mutex;
    std::set<std::int64_t> persisted;
    StreamCallbacks callbacks;
    callbacks.on_ack = [&](const FragmentAck& ack) {
        std::lock_guard lock(mutex);
        if (ack.type == AckType::persisted) persisted.insert(ack.fragment_timecode);
    };
    StreamConfig config;
    config.endpoint = "ws://127.0.0.1:" + std::to_string(proxy.port());
    config.stream_name = "cam1";
    config.reconnect_min_backoff = 5ms;
    config.reconnect_max_backoff = 50ms;
    Producer producer;
    Stream& stream = producer.add_stream(config, callbacks);
    // In three bursts, so some cuts fall while frames are still arriving.
    put_fragments(stream, 0, 10);
    ASSERT_TRUE(server.wait_for([](const auto& s) { return !s.empty(); }));
    put_fragments(stream, 10, 10);
    put_fragments(stream, 20, 10);
    const StopReport report = stream.stop(30s);

    EXPECT_TRUE(report.all_acknowledged);
    EXPECT_EQ(report.unacknowledged_fragments, 0u);
    EXPECT_EQ(proxy.cuts(), 4);
    {
        std::lock_guard lock(mutex);
        for (int n = 0; n < kFragments; ++n)
            EXPECT_TRUE(persisted.contains(timecode(n))) << "fragment " << n;
    }
    const auto sessions = server.sessions();
    EXPECT_EQ(stream.metrics().sessions, sessions.size());
    std::set<std::int64_t> received;
    for (std::size_t s = 0; s < sessions.size(); ++s) {
        const auto& clusters = sessions[s].clusters;
        if (!clusters.empty()) {
            EXPECT_TRUE(sessions[s].started_with_ebml_header) << "session " << s;
        }
        // A session carries consecutive fragments: it resumes at one and never skips any after it.
        for (std::size_t i = 1; i < clusters.size(); ++i)
            EXPECT_EQ(clusters[i], clusters[i - 1] + kGop * kFrameMs) << "session " << s << " cluster " << i;
        // It resumes no later than the first fragment the server had not seen whole before.
        if (!clusters.empty() && s > 0 && !received.empty()) {
            EXPECT_LE(clusters.front(), *received.rbegin() + kGop * kFrameMs) << "session " << s;
        }
        received.insert(clusters.begin(), clusters.end());
    }
    EXPECT_EQ(received.size(), static_cast<std::size_t>(kFragments));
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReconnectUnderFaults, ::testing::Values(1u, 2u, 3u, 42u, 2024u));

}  // namespace
}  // namespace kinema::producer
