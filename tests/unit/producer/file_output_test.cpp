// StreamConfig::output_file: the stream writes the MKV byte stream it would send to a file instead of a
// server. The file must be byte for byte what a PutMedia session carries for the same frames, and its
// fragments count as PERSISTED once written.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <mutex>

#include "fake_putmedia_server.h"
#include "kinema/producer.h"
#include "subprocess.h"

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;
using testing::FakePutMediaServer;
using Bytes = std::vector<std::uint8_t>;

constexpr std::int64_t kStartMs = 1'700'000'000'000;

// Frames with SPS/PPS in band, a key frame every 10 frames, sizes varying so chunk boundaries move.
void put_frames(Stream& stream, int frames) {
    const Bytes sps_pps = {0,    0,    0,    1,    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb,
                           0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83,
                           0x19, 0x60, 0,    0,    0,    1,    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
    for (int i = 0; i < frames; ++i) {
        const bool key = i % 10 == 0;
        Bytes data = key ? sps_pps : Bytes{};
        data.insert(data.end(), {0, 0, 0, 1, static_cast<std::uint8_t>(key ? 0x65 : 0x41)});
        data.resize(data.size() + 1000 + static_cast<std::size_t>(i) * 997 % 30'000,
                    static_cast<std::uint8_t>(i));
        VideoFrame f;
        f.data = data;
        f.pts = Timestamp::from_milliseconds(kStartMs + i * 33);
        f.dts = f.pts;
        f.key = key;
        ASSERT_FALSE(stream.put_frame(f)) << i;
    }
}

StreamConfig base_config() {
    StreamConfig c;
    c.stream_name = "cam1";
    c.reconnect_min_backoff = 10ms;
    c.reconnect_max_backoff = 100ms;
    return c;
}

TEST(FileOutput, FileHoldsExactlyTheBytesAPutMediaSessionCarries) {
    kinema::test::TempDir dir;
    std::mutex mutex;
    std::vector<std::int64_t> persisted;
    StreamCallbacks callbacks;
    callbacks.on_ack = [&](const FragmentAck& ack) {
        std::lock_guard lock(mutex);
        if (ack.type == AckType::persisted) persisted.push_back(ack.fragment_timecode);
    };

    StreamConfig to_file = base_config();
    to_file.output_file = (dir / "out.mkv").string();
    to_file.endpoint = "not a url: ignored with output_file";
    {
        Producer producer;
        Stream& stream = producer.add_stream(to_file, callbacks);
        put_frames(stream, 45);  // 5 fragments, at frames 0, 10, 20, 30 and 40; stop ends the last
        const StopReport report = stream.stop(20s);
        EXPECT_TRUE(report.all_acknowledged);
        EXPECT_EQ(stream.metrics().acks_persisted, 5u);
    }
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(persisted, (std::vector<std::int64_t>{kStartMs, kStartMs + 330, kStartMs + 660,
                                                        kStartMs + 990, kStartMs + 1320}));
    }

    FakePutMediaServer server;
    StreamConfig to_server = base_config();
    to_server.endpoint = server.endpoint();
    {
        Producer producer;
        Stream& stream = producer.add_stream(to_server);
        put_frames(stream, 45);
        EXPECT_TRUE(stream.stop(20s).all_acknowledged);
    }
    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    const Bytes file = kinema::test::read_file(dir / "out.mkv");
    EXPECT_GT(file.size(), 45u * 1000u);
    EXPECT_TRUE(file == sessions[0].data)
        << "file " << file.size() << " bytes, session " << sessions[0].data.size() << " bytes";
}

TEST(FileOutput, UnwritablePathIsReportedAndNothingIsAcknowledged) {
    kinema::test::TempDir dir;
    std::mutex mutex;
    std::vector<StreamError> errors;
    StreamCallbacks callbacks;
    callbacks.on_error = [&](const StreamError& e) {
        std::lock_guard lock(mutex);
        errors.push_back(e);
    };
    StreamConfig config = base_config();
    config.output_file = (dir / "no-such-dir" / "out.mkv").string();
    Producer producer;
    Stream& stream = producer.add_stream(config, callbacks);
    put_frames(stream, 15);
    const StopReport report = stream.stop(200ms);
    EXPECT_FALSE(report.all_acknowledged);
    EXPECT_EQ(report.unacknowledged_fragments, 2u);
    std::lock_guard lock(mutex);
    ASSERT_EQ(errors.size(), 1u);  // once, not once per frame
    EXPECT_EQ(errors[0].code, Errc::write_failed);
    EXPECT_NE(errors[0].message.find("no-such-dir"), std::string::npos) << errors[0].message;
}

}  // namespace
}  // namespace kinema::producer
