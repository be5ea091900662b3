// The producer end to end against a fake PutMedia server on loopback: ACK handling, replay after a dropped
// connection, staleness, and a stop() that returns within its timeout on a dead network.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "fake_putmedia_server.h"
#include "kinema/producer.h"

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;
using testing::FakePutMediaServer;
using testing::FakeSession;
using Bytes = std::vector<std::uint8_t>;

constexpr std::int64_t kStartMs = 1'700'000'000'000;
constexpr int kGop = 10;  // frames per fragment
constexpr int kFrameMs = 33;

const Bytes kSps = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00,
                    0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60};
const Bytes kPps = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};

// Synthetic Annex-B access units: frame `i` is a key frame (with SPS/PPS) every kGop frames.
class FrameSource {
public:
    explicit FrameSource(std::size_t payload = 200) : payload_(payload) {}

    VideoFrame next() {
        const bool key = index_ % kGop == 0;
        data_.clear();
        if (key) {
            add_nal(kSps);
            add_nal(kPps);
        }
        Bytes slice(payload_, 0x55);
        slice[0] = key ? 0x65 : 0x41;
        add_nal(slice);
        VideoFrame f;
        f.data = data_;
        f.pts = Timestamp::from_milliseconds(kStartMs + index_ * kFrameMs);
        f.dts = f.pts;
        f.key = key;
        ++index_;
        return f;
    }
    // Cluster timecode (ms) of fragment `n` (0-based) with absolute timecodes.
    static std::int64_t fragment_timecode(int n) { return kStartMs + std::int64_t{n} * kGop * kFrameMs; }

private:
    void add_nal(const Bytes& nal) {
        data_.insert(data_.end(), {0, 0, 0, 1});
        data_.insert(data_.end(), nal.begin(), nal.end());
    }
    std::size_t payload_;
    std::int64_t index_ = 0;
    Bytes data_;
};

// Collects callbacks and lets the test wait for them.
struct Recorder {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<FragmentAck> acks;
    std::vector<DroppedFragment> dropped;
    std::vector<StreamError> errors;
    int ready = 0;
    int closed = 0;
    int stale = 0;

    StreamCallbacks callbacks() {
        StreamCallbacks cb;
        cb.on_ack = [this](const FragmentAck& a) { record([&] { acks.push_back(a); }); };
        cb.on_dropped_fragment = [this](const DroppedFragment& d) { record([&] { dropped.push_back(d); }); };
        cb.on_error = [this](const StreamError& e) { record([&] { errors.push_back(e); }); };
        cb.on_stream_ready = [this] { record([&] { ++ready; }); };
        cb.on_stream_closed = [this](std::error_code) { record([&] { ++closed; }); };
        cb.on_connection_stale = [this](Duration) { record([&] { ++stale; }); };
        return cb;
    }
    template <typename F>
    void record(F&& f) {
        std::lock_guard lock(mutex);
        f();
        changed.notify_all();
    }
    template <typename P>
    bool wait(P&& predicate, std::chrono::seconds timeout = 20s) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, predicate);
    }
    bool persisted(std::int64_t timecode) {
        for (const auto& a : acks)
            if (a.type == AckType::persisted && a.fragment_timecode == timecode) return true;
        return false;
    }
};

// A door a callback can wait at, opened by the test. The wait is bounded so that a broken build fails
// the test instead of hanging it.
struct Gate {
    std::mutex mutex;
    std::condition_variable changed;
    bool is_open = false;

    void open() {
        std::lock_guard lock(mutex);
        is_open = true;
        changed.notify_all();
    }
    bool wait(std::chrono::seconds timeout = 30s) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, [&] { return is_open; });
    }
};

StreamConfig config_for(const std::string& endpoint) {
    StreamConfig c;
    c.endpoint = endpoint;
    c.stream_name = "cam1";
    c.reconnect_min_backoff = 10ms;
    c.reconnect_max_backoff = 200ms;
    return c;
}

void put_fragments(Stream& stream, FrameSource& source, int fragments) {
    for (int i = 0; i < fragments * kGop; ++i)
        ASSERT_FALSE(stream.put_frame(source.next()));
}

// A loopback port nothing listens on: bound, then closed.
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t length = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
    ::close(fd);
    return ntohs(addr.sin_port);
}

TEST(StreamTransport, StreamsFragmentsAndStopsWhenAllArePersisted) {
    FakePutMediaServer server;
    Recorder recorder;
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server.endpoint()), recorder.callbacks());
    FrameSource source;
    put_fragments(stream, source, 4);

    const StopReport report = stream.stop(20s);
    EXPECT_TRUE(report.all_acknowledged);
    EXPECT_FALSE(report.timed_out);
    EXPECT_EQ(report.unacknowledged_fragments, 0u);

    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_TRUE(sessions[0].started_with_ebml_header);
    EXPECT_EQ(sessions[0].stream_name, "cam1");
    EXPECT_EQ(sessions[0].timecode_type, "ABSOLUTE");
    EXPECT_EQ(sessions[0].start_timestamp, "1700000000.000");
    EXPECT_EQ(sessions[0].query,
              "StreamName=cam1&FragmentTimecodeType=ABSOLUTE&ProducerStartTimestamp=1700000000.000");
    const std::vector<std::int64_t> expected{
        FrameSource::fragment_timecode(0), FrameSource::fragment_timecode(1),
        FrameSource::fragment_timecode(2), FrameSource::fragment_timecode(3)};
    EXPECT_EQ(sessions[0].clusters, expected);
    for (auto tc : expected)
        EXPECT_TRUE(recorder.persisted(tc)) << tc;

    const StreamMetrics m = stream.metrics();
    EXPECT_EQ(m.frames_put, 4u * kGop);
    EXPECT_EQ(m.acks_persisted, 4u);
    EXPECT_EQ(m.acks_buffering, 4u);
    EXPECT_EQ(m.sessions, 1u);
    EXPECT_EQ(m.reconnects, 0u);
    EXPECT_EQ(m.buffered_fragments, 0u);
    EXPECT_EQ(m.bytes_sent, sessions[0].bytes);
    EXPECT_EQ(recorder.ready, 1);
}

TEST(StreamTransport, ReplaysFromTheFirstUnacknowledgedFragmentAfterAConnectionDrop) {
    FakePutMediaServer server;
    Recorder recorder;
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server.endpoint()), recorder.callbacks());
    FrameSource source;
    put_fragments(stream, source, 3);  // fragments 0 and 1 complete, 2 open
    ASSERT_TRUE(recorder.wait([&] {
        return recorder.persisted(FrameSource::fragment_timecode(0)) &&
               recorder.persisted(FrameSource::fragment_timecode(1));
    }));
    ASSERT_TRUE(server.wait_for([](const auto& s) { return s.size() == 1 && s[0].clusters.size() == 3; }));

    server.drop_connection();
    ASSERT_TRUE(server.wait_for([](const auto& s) { return s.size() == 2; }));
    put_fragments(stream, source, 2);
    const StopReport report = stream.stop(20s);
    EXPECT_TRUE(report.all_acknowledged);

    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 2u);
    EXPECT_TRUE(sessions[1].started_with_ebml_header);  // a new MKV stream, header first
    // Fragments 0 and 1 were PERSISTED before the drop: not sent again. Fragment 2 was cut: sent again,
    // from its first byte, then the rest. Together: every fragment, no gap.
    EXPECT_EQ(sessions[1].clusters,
              (std::vector<std::int64_t>{FrameSource::fragment_timecode(2), FrameSource::fragment_timecode(3),
                                         FrameSource::fragment_timecode(4)}));
    for (int n = 0; n < 5; ++n)
        EXPECT_TRUE(recorder.persisted(FrameSource::fragment_timecode(n))) << n;
    EXPECT_EQ(stream.metrics().reconnects, 1u);
    EXPECT_EQ(recorder.ready, 2);
    EXPECT_GE(recorder.closed, 1);
}

TEST(StreamTransport, StaleConnectionIsReplacedAndUnacknowledgedFragmentsAreResent) {
    FakePutMediaServer server(FakePutMediaServer::Mode::silent);
    Recorder recorder;
    Producer producer;
    StreamConfig config = config_for(server.endpoint());
    config.connection_staleness = 300ms;
    Stream& stream = producer.add_stream(config, recorder.callbacks());
    FrameSource source;
    put_fragments(stream, source, 2);
    stream.flush(0ms);  // ends fragment 1 so it can be sent whole

    ASSERT_TRUE(recorder.wait([&] { return recorder.stale >= 1; }));
    ASSERT_TRUE(server.wait_for([](const auto& s) { return s.size() >= 2 && s[1].clusters.size() == 2; }));
    server.set_mode(FakePutMediaServer::Mode::ack);
    const auto sessions = server.sessions();
    EXPECT_TRUE(sessions[1].started_with_ebml_header);
    EXPECT_EQ(sessions[1].clusters, sessions[0].clusters);
    EXPECT_GE(stream.metrics().stale_connections, 1u);
    stream.stop(0ms);
}

TEST(StreamTransport, StopReturnsWithinItsTimeoutWhenTheServerNeverAnswers) {
    FakePutMediaServer server(FakePutMediaServer::Mode::silent);
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server.endpoint()));
    FrameSource source;
    put_fragments(stream, source, 3);
    ASSERT_TRUE(server.wait_for([](const auto& s) { return !s.empty() && s[0].clusters.size() == 3; }));

    const auto begin = std::chrono::steady_clock::now();
    const StopReport report = stream.stop(300ms);
    const auto took = std::chrono::steady_clock::now() - begin;
    // Generous bound: the point is "does not hang", not a latency figure.
    EXPECT_LT(took, 5s);
    EXPECT_FALSE(report.all_acknowledged);
    EXPECT_TRUE(report.timed_out);
    EXPECT_EQ(report.unacknowledged_fragments, 3u);
    EXPECT_EQ(report.unacknowledged_frames, 3u * kGop);
    EXPECT_EQ(report.unacknowledged_timecodes.front(), FrameSource::fragment_timecode(0));
    // Stopped means stopped: frames are refused and a second stop reports the same.
    EXPECT_EQ(stream.put_frame(source.next()), Errc::stopped);
    EXPECT_EQ(stream.stop(0ms).unacknowledged_fragments, 3u);
}

TEST(StreamTransport, StopReturnsWithinItsTimeoutWhenNothingListens) {
    Recorder recorder;
    Producer producer;
    Stream& stream = producer.add_stream(config_for("ws://127.0.0.1:" + std::to_string(closed_port())),
                                         recorder.callbacks());
    FrameSource source;
    put_fragments(stream, source, 2);

    const auto begin = std::chrono::steady_clock::now();
    const StopReport report = stream.stop(300ms);
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
    EXPECT_EQ(report.unacknowledged_fragments, 2u);
    EXPECT_EQ(stream.metrics().sessions, 0u);
    EXPECT_EQ(recorder.ready, 0);
}

TEST(StreamTransport, FullBufferDropsWholeOldestFragmentsAndPutFrameDoesNotBlock) {
    Recorder recorder;
    Producer producer;
    StreamConfig config = config_for("ws://127.0.0.1:" + std::to_string(closed_port()));
    config.storage_size = 5 * kGop * 260;  // about five fragments of ~250-byte frames
    Stream& stream = producer.add_stream(config, recorder.callbacks());
    FrameSource source;
    put_fragments(stream, source, 12);  // every put_frame succeeds: old fragments make room

    const StreamMetrics m = stream.metrics();
    EXPECT_GE(m.fragments_dropped, 6u);
    EXPECT_LE(m.buffered_bytes, config.storage_size);
    {
        std::lock_guard lock(recorder.mutex);
        ASSERT_EQ(recorder.dropped.size(), m.fragments_dropped);
        for (std::size_t i = 0; i < recorder.dropped.size(); ++i) {
            EXPECT_EQ(recorder.dropped[i].fragment_timecode,
                      FrameSource::fragment_timecode(static_cast<int>(i)));
            EXPECT_EQ(recorder.dropped[i].frames, static_cast<std::uint32_t>(kGop));  // whole fragments
            EXPECT_EQ(recorder.dropped[i].reason, DropReason::buffer_full);
        }
    }
    stream.stop(0ms);
}

TEST(StreamCallbacks, ASlowCallbackDoesNotHoldUpTheNetworkThread) {
    FakePutMediaServer server;
    Gate gate;
    std::atomic<int> acks_seen{0};
    StreamCallbacks callbacks;
    callbacks.on_ack = [&](const FragmentAck&) {
        if (acks_seen++ == 0) gate.wait();  // the first ACK's callback is stuck until the test says so
    };
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server.endpoint()), callbacks);
    FrameSource source;
    put_fragments(stream, source, 4);

    // ACKs keep being processed while the callback is stuck: everything gets acknowledged.
    EXPECT_FALSE(stream.flush(20s));
    EXPECT_EQ(stream.metrics().acks_persisted, 4u);
    EXPECT_LE(acks_seen.load(), 1);  // the callbacks wait behind the stuck one
    gate.open();
    const StopReport report = stream.stop(20s);
    EXPECT_TRUE(report.all_acknowledged);
    EXPECT_EQ(acks_seen.load(), 12);  // then every ACK reaches the callback, in order, none lost
    EXPECT_EQ(stream.metrics().callbacks_dropped, 0u);
}

TEST(StreamCallbacks, StopCalledFromACallbackStopsTheStream) {
    FakePutMediaServer server;
    Recorder recorder;
    Gate all_frames_put;
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<StopReport> report_from_callback;
    Stream* stream = nullptr;

    StreamCallbacks callbacks = recorder.callbacks();
    auto record_ack = callbacks.on_ack;
    callbacks.on_ack = [&](const FragmentAck& ack) {
        record_ack(ack);
        if (ack.type != AckType::persisted || ack.fragment_timecode != FrameSource::fragment_timecode(0))
            return;
        ASSERT_TRUE(all_frames_put.wait());
        const StopReport report = stream->stop(20s);  // used to deadlock on the transport's lock
        std::lock_guard lock(mutex);
        report_from_callback = report;
        changed.notify_all();
    };
    Producer producer;
    stream = &producer.add_stream(config_for(server.endpoint()), callbacks);
    FrameSource source;
    put_fragments(*stream, source, 3);
    all_frames_put.open();

    {
        std::unique_lock lock(mutex);
        ASSERT_TRUE(changed.wait_for(lock, 30s, [&] { return report_from_callback.has_value(); }));
        EXPECT_TRUE(report_from_callback->all_acknowledged);
        EXPECT_EQ(report_from_callback->unacknowledged_fragments, 0u);
    }
    EXPECT_EQ(stream->put_frame(source.next()), Errc::stopped);
    // The ACKs that arrived while the callback was inside stop() still reach on_ack, after it, and the
    // session's end is reported last.
    EXPECT_TRUE(recorder.wait(
        [&] { return recorder.persisted(FrameSource::fragment_timecode(2)) && recorder.closed >= 1; }));
    EXPECT_TRUE(server.wait_for([](const auto& s) { return s.size() == 1 && s[0].closed; }));
    EXPECT_EQ(server.sessions()[0].clusters.size(), 3u);
}

TEST(StreamCallbacks, StopReturnsWithinItsTimeoutWhileACallbackIsStuck) {
    FakePutMediaServer server;
    Gate gate;
    StreamCallbacks callbacks;
    callbacks.on_ack = [&](const FragmentAck&) { gate.wait(); };
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server.endpoint()), callbacks);
    FrameSource source;
    put_fragments(stream, source, 2);
    ASSERT_FALSE(stream.flush(20s));  // ACKs are counted even though their callbacks wait

    const auto begin = std::chrono::steady_clock::now();
    const StopReport report = stream.stop(300ms);
    const auto took = std::chrono::steady_clock::now() - begin;
    gate.open();
    EXPECT_LT(took, 5s);  // generous: the point is that it does not wait for the callback
    EXPECT_TRUE(report.all_acknowledged);
    // The callback got the first ACK; the ones queued behind it were dropped at stop's deadline, and said so.
    EXPECT_GE(stream.metrics().callbacks_dropped, 5u);
}

// The owner destroys the producer while a callback is inside stop(): destruction waits for that callback,
// and nothing the callback uses is torn down under it.
TEST(StreamCallbacks, DestroyingTheProducerWaitsForACallbackInsideStop) {
    FakePutMediaServer server;
    Gate inside;
    std::atomic<bool> stop_returned{false};
    Stream* stream = nullptr;
    StreamCallbacks callbacks;
    callbacks.on_ack = [&](const FragmentAck& ack) {
        if (ack.type != AckType::persisted || stop_returned) return;
        server.set_mode(FakePutMediaServer::Mode::silent);  // what is left is never acknowledged
        inside.open();
        const StopReport report = stream->stop(500ms);
        EXPECT_FALSE(report.all_acknowledged);
        stop_returned = true;
    };
    auto producer = std::make_unique<Producer>();
    stream = &producer->add_stream(config_for(server.endpoint()), callbacks);
    FrameSource source;
    put_fragments(*stream, source, 3);
    ASSERT_TRUE(inside.wait());
    producer.reset();
    EXPECT_TRUE(stop_returned);
}

}  // namespace
}  // namespace kinema::producer
