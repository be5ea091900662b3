#include "fragmenter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "kinema/media/error.h"

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;

// x264's SPS for 1280x720 High@3.1 and a matching PPS.
const Bytes kSps = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00,
                    0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60};
const Bytes kPps = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
const Bytes kClusterId = {0x1F, 0x43, 0xB6, 0x75};

Timestamp ms(std::int64_t v) {
    return Timestamp::from_milliseconds(v);
}

VideoFrame frame(std::span<const std::uint8_t> data, Timestamp pts, bool key) {
    VideoFrame f;
    f.data = data;
    f.pts = pts;
    f.dts = pts;
    f.key = key;
    return f;
}

FragmenterConfig config(bool key_frame_fragmentation = true, Duration fragment_duration = 2s,
                        bool absolute = true, Bytes codec_private = {}) {
    FragmenterConfig c;
    c.key_frame_fragmentation = key_frame_fragmentation;
    c.fragment_duration = fragment_duration;
    c.absolute_timecodes = absolute;
    c.codec_private = std::move(codec_private);
    return c;
}

void append_annexb(Bytes& out, const Bytes& nal) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), nal.begin(), nal.end());
}

// An Annex-B access unit: SPS+PPS+IDR for key frames, one non-IDR slice otherwise.
Bytes access_unit(bool key, std::uint8_t fill = 0x55) {
    Bytes au;
    if (key) {
        append_annexb(au, kSps);
        append_annexb(au, kPps);
        append_annexb(au, Bytes{0x65, fill, fill, fill});
    } else {
        append_annexb(au, Bytes{0x41, fill, fill});
    }
    return au;
}

bool starts_with(const Bytes& bytes, const Bytes& prefix) {
    return bytes.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), bytes.begin());
}

bool contains(const Bytes& bytes, const Bytes& needle) {
    return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end();
}

struct Step {
    std::int64_t pts_ms;
    bool key;
    std::optional<std::int64_t> starts_fragment;  // expected cluster timecode, ms
};

// Feeds `steps` and checks which frames start fragments and with which timecode.
void run_steps(Fragmenter& fragmenter, const std::vector<Step>& steps) {
    Bytes out;
    for (const auto& step : steps) {
        const Bytes au = access_unit(step.key);
        std::optional<FragmentStart> started;
        ASSERT_FALSE(fragmenter.add_frame(frame(au, ms(step.pts_ms), step.key), out, started)) << step.pts_ms;
        ASSERT_EQ(started.has_value(), step.starts_fragment.has_value()) << "frame at " << step.pts_ms;
        EXPECT_EQ(starts_with(out, kClusterId), step.starts_fragment.has_value()) << step.pts_ms;
        if (started) {
            EXPECT_EQ(started->timecode, *step.starts_fragment) << step.pts_ms;
            EXPECT_EQ(started->start, ms(step.pts_ms));
        }
    }
}

TEST(Fragmenter, KeyFrameFragmentationStartsAFragmentAtEveryKeyFrame) {
    Fragmenter fragmenter(config(true));
    run_steps(fragmenter, {{1000, true, 1000},
                           {1033, false, {}},
                           {1066, false, {}},
                           {1100, true, 1100},  // short GOP: still a new fragment
                           {1133, false, {}},
                           {5000, true, 5000}});
}

TEST(Fragmenter, DurationFragmentationWaitsForAKeyFrameAfterTheDuration) {
    Fragmenter fragmenter(config(false, 2s));
    run_steps(fragmenter, {{0, true, 0},
                           {500, false, {}},
                           {1000, true, {}},  // 1 s < 2 s: same fragment
                           {1999, true, {}},
                           {2000, true, 2000},  // reached: new fragment
                           {4500, false, {}},   // past the duration but not a key frame
                           {4600, true, 4600}});
}

TEST(Fragmenter, RelativeTimecodesCountFromTheFirstFrame) {
    Fragmenter fragmenter(config(true, 2s, false));
    run_steps(fragmenter,
              {{1700000000000, true, 0}, {1700000000033, false, {}}, {1700000002000, true, 2000}});
    EXPECT_EQ(fragmenter.start_timestamp(), ms(1700000000000));
}

TEST(Fragmenter, DeltaFrameBeyondTheInt16LimitStartsAFragment) {
    Fragmenter fragmenter(config());
    run_steps(fragmenter, {{0, true, 0},
                           {32767, false, {}},  // largest offset a SimpleBlock can carry
                           {32768, false, 32768},
                           {40000, false, {}}});
}

TEST(Fragmenter, FramesBeforeTheFirstKeyFrameAreRefused) {
    Fragmenter fragmenter(config());
    Bytes out;
    std::optional<FragmentStart> started;
    const Bytes delta = access_unit(false);
    EXPECT_EQ(fragmenter.add_frame(frame(delta, ms(0), false), out, started), Errc::waiting_for_key_frame);
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(fragmenter.header().empty());
    EXPECT_EQ(fragmenter.add_frame(frame({}, ms(0), true), out, started), Errc::invalid_argument);
}

TEST(Fragmenter, KeyFrameWithoutParameterSetsCannotStartTheStream) {
    Fragmenter fragmenter(config());
    Bytes idr_only;
    append_annexb(idr_only, Bytes{0x65, 1, 2, 3});
    Bytes out;
    std::optional<FragmentStart> started;
    EXPECT_EQ(fragmenter.add_frame(frame(idr_only, ms(0), true), out, started), Errc::missing_codec_private);
    EXPECT_TRUE(fragmenter.header().empty());
}

TEST(Fragmenter, LearnsTheAvccAndPictureSizeFromTheFirstSpsPps) {
    Fragmenter fragmenter(config());
    Bytes out;
    std::optional<FragmentStart> started;
    const Bytes key = access_unit(true);
    ASSERT_FALSE(fragmenter.add_frame(frame(key, ms(0), true), out, started));
    const Bytes& header = fragmenter.header();
    ASSERT_FALSE(header.empty());
    EXPECT_TRUE(starts_with(header, {0x1A, 0x45, 0xDF, 0xA3}));  // EBML
    EXPECT_TRUE(contains(header, kSps));
    EXPECT_TRUE(contains(header, kPps));
    EXPECT_TRUE(contains(header, {0xB0, 0x82, 0x05, 0x00}));  // PixelWidth 1280
    EXPECT_TRUE(contains(header, {0xBA, 0x82, 0x02, 0xD0}));  // PixelHeight 720
    // The payload went out as AVCC: 4-byte big-endian lengths instead of start codes.
    EXPECT_TRUE(contains(out, {0x00, 0x00, 0x00, 0x04, 0x65, 0x55, 0x55, 0x55}));
    EXPECT_FALSE(contains(out, {0x00, 0x00, 0x00, 0x01, 0x65}));
}

TEST(Fragmenter, AvccFramesWithConfiguredCodecPrivatePassThrough) {
    Bytes avcc;
    ASSERT_FALSE(media::h264::build_avcc(std::vector<Bytes>{kSps}, std::vector<Bytes>{kPps}, avcc));
    Fragmenter fragmenter(config(true, 2s, true, avcc));
    const Bytes avcc_frame = {0x00, 0x00, 0x00, 0x03, 0x65, 0xAA, 0xBB};
    Bytes out;
    std::optional<FragmentStart> started;
    ASSERT_FALSE(fragmenter.add_frame(frame(avcc_frame, ms(10), true), out, started));
    EXPECT_TRUE(started);
    EXPECT_TRUE(contains(out, avcc_frame));
    EXPECT_TRUE(contains(fragmenter.header(), avcc));
}

// AVCC frames whose first length looks like a start code (00 00 01 xx for 256-511 bytes, 00 00 00 01 for
// one byte) must pass through unchanged, not be split at the "start code"; Annex-B still converts.
TEST(Fragmenter, AvccFramesThatStartLikeAStartCodeAreNotMistakenForAnnexB) {
    Bytes avcc;
    ASSERT_FALSE(media::h264::build_avcc(std::vector<Bytes>{kSps}, std::vector<Bytes>{kPps}, avcc));
    struct Case {
        const char* name;
        std::vector<std::size_t> nal_sizes;
    };
    for (const Case& c : {Case{"256 bytes", {256}}, Case{"300 bytes", {300}}, Case{"511 bytes", {511}},
                          Case{"1 byte then 40", {1, 40}}, Case{"1 byte then 300", {1, 300}}}) {
        Fragmenter fragmenter(config(true, 2s, true, avcc));
        Bytes au;
        for (std::size_t i = 0; i < c.nal_sizes.size(); ++i) {
            const std::size_t n = c.nal_sizes[i];
            for (int shift = 24; shift >= 0; shift -= 8)
                au.push_back(static_cast<std::uint8_t>(n >> shift));
            Bytes nal(n, 0x5A);
            nal[0] = i + 1 == c.nal_sizes.size() ? 0x65 : 0x09;  // an access unit delimiter, then the IDR
            au.insert(au.end(), nal.begin(), nal.end());
        }
        Bytes out;
        std::optional<FragmentStart> started;
        ASSERT_FALSE(fragmenter.add_frame(frame(au, ms(10), true), out, started)) << c.name;
        EXPECT_TRUE(contains(out, au)) << c.name;  // the SimpleBlock carries the frame as it came
    }
    Fragmenter annexb_fragmenter(config());
    const Bytes annexb = access_unit(true);
    Bytes out;
    std::optional<FragmentStart> started;
    ASSERT_FALSE(annexb_fragmenter.add_frame(frame(annexb, ms(10), true), out, started));
    EXPECT_TRUE(contains(out, {0x00, 0x00, 0x00, 0x04, 0x65, 0x55, 0x55, 0x55}));
}

TEST(Fragmenter, EndFragmentMakesTheNextFrameStartOneEvenADeltaFrame) {
    Fragmenter fragmenter(config());
    run_steps(fragmenter, {{0, true, 0}, {33, false, {}}});
    fragmenter.end_fragment();
    run_steps(fragmenter, {{66, false, 66}, {100, false, {}}, {133, true, 133}});
}

TEST(Fragmenter, ResyncDropsDeltaFramesUntilTheNextKeyFrame) {
    Fragmenter fragmenter(config());
    run_steps(fragmenter, {{0, true, 0}, {33, false, {}}});
    fragmenter.resync();
    Bytes out;
    std::optional<FragmentStart> started;
    const Bytes delta = access_unit(false);
    EXPECT_EQ(fragmenter.add_frame(frame(delta, ms(66), false), out, started), Errc::waiting_for_key_frame);
    run_steps(fragmenter, {{100, true, 100}});
}

TEST(Fragmenter, KeyFrameBeforeThePreviousFragmentIsRefused) {
    Fragmenter fragmenter(config());
    run_steps(fragmenter, {{5000, true, 5000}});
    Bytes out;
    std::optional<FragmentStart> started;
    const Bytes key = access_unit(true);
    EXPECT_EQ(fragmenter.add_frame(frame(key, ms(4000), true), out, started),
              media::Errc::timecode_went_backwards);
    EXPECT_TRUE(out.empty());
    run_steps(fragmenter, {{5033, false, {}}});  // the current fragment goes on
}

}  // namespace
}  // namespace kinema::producer
