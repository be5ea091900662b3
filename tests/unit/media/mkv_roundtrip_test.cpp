// What MkvWriter writes, MkvReader reads back: tracks, every frame's track, time, key flag and bytes,
// fragment boundaries and tags, whatever the chunking of the byte stream.
#include <gtest/gtest.h>

#include <random>

#include "kinema/media/h264.h"
#include "kinema/media/mkv_reader.h"
#include "kinema/media/mkv_writer.h"

namespace kinema::media {
namespace {

struct Recorded {
    int segments = 0;
    SegmentHeader header;
    struct RecordedFrame {
        std::uint64_t track;
        Timestamp pts;
        bool key;
        Bytes payload;
    };
    std::vector<RecordedFrame> frames;
    std::vector<FragmentInfo> fragments;
    std::vector<std::vector<SimpleTag>> tags;
};

class Recorder final : public MkvReaderHandler {
public:
    void on_segment(const SegmentHeader& header, std::uint64_t) override {
        ++out.segments;
        out.header = header;
    }
    void on_frame(const Frame& f) override {
        out.frames.push_back({f.track, f.pts, f.key, Bytes(f.payload.begin(), f.payload.end())});
    }
    void on_fragment_end(const FragmentInfo& fragment) override { out.fragments.push_back(fragment); }
    void on_tags(const std::vector<SimpleTag>& tags, std::uint64_t) override { out.tags.push_back(tags); }
    Recorded out;
};

Recorded read_back(const Bytes& stream, std::size_t chunk) {
    Recorder recorder;
    MkvReader reader(recorder);
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
        auto error = reader.feed({stream.data() + at, std::min(chunk, stream.size() - at)});
        EXPECT_FALSE(error) << error.message();
        if (error) break;
    }
    auto error = reader.finish();
    EXPECT_FALSE(error) << error.message();
    return std::move(recorder.out);
}

// A video track described the way a producer does it: avcC and size from the camera's SPS and PPS.
TrackInfo h264_track() {
    const h264::Bytes sps = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00,
                             0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60};
    const h264::Bytes pps = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
    h264::Sps parsed;
    EXPECT_FALSE(h264::parse_sps(sps, parsed));
    TrackInfo track;
    track.number = 1;
    track.uid = 0xC0FFEE;
    track.name = "front door";
    track.codec_id = std::string(kCodecH264);
    EXPECT_FALSE(
        h264::build_avcc(std::vector<h264::Bytes>{sps}, std::vector<h264::Bytes>{pps}, track.codec_private));
    track.default_duration_ns = 33'333'333;
    track.pixel_width = parsed.width;
    track.pixel_height = parsed.height;
    return track;
}

TrackInfo aac_track() {
    TrackInfo track;
    track.number = 2;
    track.uid = 2;
    track.type = TrackType::audio;
    track.codec_id = "A_AAC";
    track.codec_private = {0x11, 0x90};
    track.sampling_frequency = 48000;
    track.channels = 2;
    return track;
}

struct Written {
    Bytes stream;
    std::vector<FrameInput> frames;
    std::vector<Bytes> payloads;
    std::vector<std::int64_t> cluster_timecodes;
};

// Four GOPs of 30 fps video (a key frame every 990 ms) interleaved with ~47 fps audio.
Written write_stream(bool absolute) {
    MkvWriterOptions options;
    options.header.writing_app = "roundtrip-test";
    options.header.tracks = {h264_track(), aac_track()};
    options.absolute_timecodes = absolute;
    options.start = Timestamp::from_milliseconds(1'700'000'000'000);
    MkvWriter writer(options);
    Written w;
    writer.write_header(w.stream);
    std::mt19937 rng(7);
    const std::int64_t t0 = 1'700'000'000'000;
    std::int64_t next_video = 0, next_audio = 0;
    while (next_video < 3000) {
        bool video = next_video <= next_audio;  // video first on ties, so the stream starts with a key frame
        std::int64_t ms = video ? next_video : next_audio;
        // Only video key frames fragment; audio blocks are written as delta blocks so they never split a GOP.
        bool key = video && next_video % 990 == 0;
        auto& payload = w.payloads.emplace_back(1 + rng() % (video ? 20000 : 400));
        for (auto& b : payload)
            b = static_cast<std::uint8_t>(rng());
        FrameInput frame{video ? 1u : 2u, Timestamp::from_milliseconds(t0 + ms), key, payload};
        bool new_fragment = false;
        EXPECT_FALSE(writer.write_frame(frame, w.stream, &new_fragment));
        if (new_fragment) w.cluster_timecodes.push_back(absolute ? t0 + ms : ms);
        w.frames.push_back(frame);
        (video ? next_video : next_audio) += video ? 33 : 21;
    }
    return w;
}

TEST(MkvRoundTrip, ReaderSeesWhatTheWriterWrote) {
    for (bool absolute : {true, false}) {
        const Written w = write_stream(absolute);
        for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{1400}, w.stream.size()}) {
            SCOPED_TRACE(testing::Message()
                         << (absolute ? "absolute" : "relative") << ", chunks of " << chunk);
            const Recorded r = read_back(w.stream, chunk);
            EXPECT_EQ(r.segments, 1);
            EXPECT_EQ(r.header.writing_app, "roundtrip-test");
            EXPECT_EQ(r.header.muxing_app, "kinema");
            EXPECT_EQ(r.header.timecode_scale_ns, kDefaultTimecodeScaleNs);
            EXPECT_EQ(r.header.tracks, (std::vector<TrackInfo>{h264_track(), aac_track()}));

            ASSERT_EQ(r.frames.size(), w.frames.size());
            const Duration shift =
                absolute ? Duration{0} : Timestamp::from_milliseconds(1'700'000'000'000) - Timestamp{};
            for (std::size_t i = 0; i < w.frames.size(); ++i) {
                EXPECT_EQ(r.frames[i].track, w.frames[i].track) << i;
                EXPECT_EQ(r.frames[i].pts, w.frames[i].pts - shift) << i;
                EXPECT_EQ(r.frames[i].key, w.frames[i].key) << i;
                EXPECT_TRUE(std::ranges::equal(r.frames[i].payload, w.frames[i].payload)) << i;
            }
            ASSERT_EQ(r.fragments.size(), 4u);  // key frames at 0, 990, 1980 and 2970 ms
            ASSERT_EQ(w.cluster_timecodes.size(), r.fragments.size());
            std::uint32_t frames = 0;
            for (std::size_t i = 0; i < r.fragments.size(); ++i) {
                EXPECT_EQ(r.fragments[i].timecode, w.cluster_timecodes[i]);
                EXPECT_EQ(r.fragments[i].key_frames, 1u);
                frames += r.fragments[i].frames;
            }
            EXPECT_EQ(frames, w.frames.size());
        }
    }
}

TEST(MkvRoundTrip, TagsBetweenClusters) {
    MkvWriterOptions options;
    options.header.tracks = {h264_track()};
    MkvWriter writer(options);
    Bytes stream;
    writer.write_header(stream);
    const std::vector<SimpleTag> tags = {
        {"AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607743920146"},
        {"AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1700000000.000"}};
    const Bytes payload = {0, 0, 0, 1, 0x65};
    ASSERT_FALSE(
        writer.write_frame({1, Timestamp::from_milliseconds(1'700'000'000'000), true, payload}, stream));
    mkv::write_tags(tags, stream);
    ASSERT_FALSE(
        writer.write_frame({1, Timestamp::from_milliseconds(1'700'000'001'000), true, payload}, stream));
    const Recorded r = read_back(stream, 3);
    ASSERT_EQ(r.tags.size(), 1u);
    EXPECT_EQ(r.tags[0], tags);
    EXPECT_EQ(r.fragments.size(), 2u);
    EXPECT_EQ(r.frames.size(), 2u);
}

}  // namespace
}  // namespace kinema::media
