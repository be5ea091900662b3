#include "kinema/media/mkv_writer.h"

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cstring>
#include <set>
#include <string>

#include "kinema/media/ebml_ids.h"
#include "kinema/media/error.h"

namespace kinema::media {
namespace {

namespace id = ebml_id;
using std::chrono::milliseconds;

// A minimal EBML walk for checking what the writer produced, written against RFC 8794 independently of
// the library's reader: every element in document order, descending into master elements. Unknown-size
// masters (Segment, Cluster) are listed with their children after them, as they appear in the bytes.
struct Element {
    std::uint32_t id = 0;
    int depth = 0;
    bool unknown_size = false;
    std::span<const std::uint8_t> body;

    std::uint64_t uint() const {
        std::uint64_t v = 0;
        for (auto b : body)
            v = (v << 8) | b;
        return v;
    }
    std::string string() const { return {body.begin(), body.end()}; }
};

const std::set<std::uint32_t> kMasters = {id::kEbml,       id::kSegment, id::kInfo,    id::kTracks,
                                          id::kTrackEntry, id::kVideo,   id::kAudio,   id::kCluster,
                                          id::kTags,       id::kTag,     id::kTargets, id::kSimpleTag};

// Appends the elements of data[pos, end) to `out`; fails the test on malformed bytes.
void walk(std::span<const std::uint8_t> data, std::size_t pos, std::size_t end, int depth,
          std::vector<Element>& out) {
    while (pos < end) {
        int id_length = std::countl_zero(data[pos]) + 1;
        ASSERT_LE(id_length, 4) << "at " << pos;
        ASSERT_LE(pos + static_cast<std::size_t>(id_length), end);
        std::uint32_t element_id = 0;
        for (int i = 0; i < id_length; ++i)
            element_id = (element_id << 8) | data[pos++];
        ASSERT_LT(pos, end);
        int size_length = std::countl_zero(data[pos]) + 1;
        ASSERT_LE(size_length, 8) << "at " << pos;
        ASSERT_LE(pos + static_cast<std::size_t>(size_length), end);
        std::uint64_t size = data[pos++] & (0xFF >> size_length);
        bool all_ones = size == (0xFFu >> size_length);
        for (int i = 1; i < size_length; ++i) {
            all_ones = all_ones && data[pos] == 0xFF;
            size = (size << 8) | data[pos++];
        }
        Element element{element_id, depth, all_ones, {}};
        if (element.unknown_size) {
            ASSERT_TRUE(kMasters.count(element_id)) << std::hex << element_id;
            out.push_back(element);
            ++depth;  // its children follow; nothing in these tests closes an unknown-size element
            continue;
        }
        ASSERT_LE(size, end - pos) << std::hex << element_id;
        element.body = data.subspan(pos, static_cast<std::size_t>(size));
        out.push_back(element);
        if (kMasters.count(element_id)) walk(data, pos, pos + static_cast<std::size_t>(size), depth + 1, out);
        pos += static_cast<std::size_t>(size);
    }
}

std::vector<Element> elements(std::span<const std::uint8_t> data) {
    std::vector<Element> out;
    walk(data, 0, data.size(), 0, out);
    return out;
}

std::vector<std::uint32_t> ids(const std::vector<Element>& list) {
    std::vector<std::uint32_t> out;
    for (const auto& e : list)
        out.push_back(e.id);
    return out;
}

TrackInfo video_track() {
    TrackInfo t;
    t.number = 1;
    t.uid = 0x1234;
    t.type = TrackType::video;
    t.name = "camera";
    t.codec_id = std::string(kCodecH264);
    t.codec_private = {0x01, 0x64, 0x00, 0x1F};
    t.default_duration_ns = 33'333'333;
    t.pixel_width = 1280;
    t.pixel_height = 720;
    return t;
}

TrackInfo audio_track() {
    TrackInfo t;
    t.number = 2;
    t.uid = 2;
    t.type = TrackType::audio;
    t.codec_id = "A_AAC";
    t.sampling_frequency = 48000;
    t.channels = 2;
    return t;
}

TEST(MkvWriter, EbmlHeaderBytes) {
    Bytes out;
    mkv::write_stream_header({}, out);
    const Bytes expected = {
        0x1A, 0x45, 0xDF, 0xA3, 0x01, 0,    0,    0,    0,    0,    0,    0x23,  // EBML, 35 bytes
        0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01,                          // versions 1, 1
        0x42, 0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08,                          // max id 4, max size 8
        0x42, 0x82, 0x88, 'm',  'a',  't',  'r',  'o',  's',  'k',  'a',         // DocType
        0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02,  // DocTypeVersion 4, ReadVersion 2
        0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};  // Segment
    ASSERT_GE(out.size(), expected.size());
    EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(expected.size())), expected);
}

TEST(MkvWriter, StreamHeaderLayoutAndValues) {
    SegmentHeader header;
    header.writing_app = "test-app";
    header.tracks = {video_track(), audio_track()};
    Bytes out;
    mkv::write_stream_header(header, out);
    auto list = elements(out);
    const std::vector<std::uint32_t> expected_ids = {
        id::kEbml,
        id::kEbmlVersion,
        id::kEbmlReadVersion,
        id::kEbmlMaxIdLength,
        id::kEbmlMaxSizeLength,
        id::kDocType,
        id::kDocTypeVersion,
        id::kDocTypeReadVersion,
        id::kSegment,
        id::kInfo,
        id::kTimecodeScale,
        id::kMuxingApp,
        id::kWritingApp,
        id::kTracks,
        id::kTrackEntry,
        id::kTrackNumber,
        id::kTrackUid,
        id::kTrackType,
        id::kName,
        id::kCodecId,
        id::kCodecPrivate,
        id::kDefaultDuration,
        id::kVideo,
        id::kPixelWidth,
        id::kPixelHeight,
        id::kTrackEntry,
        id::kTrackNumber,
        id::kTrackUid,
        id::kTrackType,
        id::kCodecId,
        id::kAudio,
        id::kSamplingFrequency,
        id::kChannels,
    };
    ASSERT_EQ(ids(list), expected_ids);
    EXPECT_TRUE(list[8].unknown_size);  // Segment
    EXPECT_EQ(list[10].uint(), 1'000'000u);
    EXPECT_EQ(list[11].string(), "kinema");  // MuxingApp defaults
    EXPECT_EQ(list[12].string(), "test-app");
    EXPECT_EQ(list[15].uint(), 1u);
    EXPECT_EQ(list[16].uint(), 0x1234u);
    EXPECT_EQ(list[17].uint(), 1u);
    EXPECT_EQ(list[18].string(), "camera");
    EXPECT_EQ(list[19].string(), "V_MPEG4/ISO/AVC");
    EXPECT_EQ(Bytes(list[20].body.begin(), list[20].body.end()), (Bytes{0x01, 0x64, 0x00, 0x1F}));
    EXPECT_EQ(list[21].uint(), 33'333'333u);
    EXPECT_EQ(list[23].uint(), 1280u);
    EXPECT_EQ(list[24].uint(), 720u);
    EXPECT_EQ(list[26].uint(), 2u);
    EXPECT_EQ(list[28].uint(), 2u);  // audio
    EXPECT_EQ(list[29].string(), "A_AAC");
    ASSERT_EQ(list[31].body.size(), 8u);
    EXPECT_EQ(std::bit_cast<double>(list[31].uint()), 48000.0);
    EXPECT_EQ(list[32].uint(), 2u);
}

TEST(MkvWriter, OptionalTrackFieldsAreLeftOut) {
    SegmentHeader header;
    header.timecode_scale_ns = 100'000;
    TrackInfo bare;
    bare.codec_id = std::string(kCodecH264);  // no name, CodecPrivate, DefaultDuration or size yet
    header.tracks = {bare};
    Bytes out;
    mkv::write_stream_header(header, out);
    auto list = elements(out);
    const std::vector<std::uint32_t> tail = {id::kTracks,   id::kTrackEntry, id::kTrackNumber,
                                             id::kTrackUid, id::kTrackType,  id::kCodecId};
    const auto all = ids(list);
    ASSERT_GE(all.size(), tail.size());
    EXPECT_EQ(std::vector<std::uint32_t>(all.end() - static_cast<std::ptrdiff_t>(tail.size()), all.end()),
              tail);
    EXPECT_EQ(list[10].uint(), 100'000u);
}

TEST(MkvWriter, ClusterStartBytes) {
    Bytes out;
    mkv::write_cluster_start(0x1234, out);
    EXPECT_EQ(out, (Bytes{0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xE7, 0x82,
                          0x12, 0x34}));
    EXPECT_THROW(mkv::write_cluster_start(-1, out), std::invalid_argument);
}

TEST(MkvWriter, SimpleBlockTimecodeBoundaries) {
    struct Case {
        std::int64_t relative;
        bool ok;
        std::uint8_t high, low;
    };
    const Case cases[] = {{0, true, 0x00, 0x00},    {-1, true, 0xFF, 0xFF},     {32767, true, 0x7F, 0xFF},
                          {32768, false, 0, 0},     {-32768, true, 0x80, 0x00}, {-32769, false, 0, 0},
                          {INT64_MIN, false, 0, 0}, {65535, false, 0, 0}};
    const Bytes payload = {0xAA, 0xBB};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.relative);
        Bytes out{0x42};
        auto ec = mkv::write_simple_block(1, c.relative, true, payload, out);
        if (!c.ok) {
            EXPECT_EQ(ec, Errc::timecode_out_of_range);
            EXPECT_EQ(out, Bytes{0x42});
            continue;
        }
        EXPECT_FALSE(ec);
        EXPECT_EQ(out, (Bytes{0x42, 0xA3, 0x86, 0x81, c.high, c.low, 0x80, 0xAA, 0xBB}));
    }
}

TEST(MkvWriter, SimpleBlockTrackAndSizeVints) {
    Bytes out;
    ASSERT_FALSE(mkv::write_simple_block(200, 5, false, Bytes{0x01}, out));
    EXPECT_EQ(out, (Bytes{0xA3, 0x86, 0x40, 0xC8, 0x00, 0x05, 0x00, 0x01}));  // 2-byte track vint, delta

    const Bytes big(100'000, 0x5A);
    out.clear();
    ASSERT_FALSE(mkv::write_simple_block(1, 0, true, big, out));
    // 100004-byte body: a 3-byte size vint.
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 8), (Bytes{0xA3, 0x21, 0x86, 0xA4, 0x81, 0x00, 0x00, 0x80}));
    EXPECT_EQ(out.size(), 8 + big.size());
    EXPECT_TRUE(std::equal(big.begin(), big.end(), out.begin() + 8));

    EXPECT_EQ(mkv::write_simple_block(0, 0, true, big, out), Errc::invalid_argument);
}

// simple_block_header is write_simple_block without the payload: the same bytes up to it, or nothing
// where write_simple_block fails.
TEST(MkvWriter, SimpleBlockHeaderIsTheBlocksBytesBeforeItsPayload) {
    struct Case {
        std::uint64_t track;
        std::int64_t relative;
        bool key;
        std::size_t payload;
    };
    const Case cases[] = {{1, 0, true, 0},     {1, -32768, false, 2},    {200, 32767, true, 100'000},
                          {1, 40, false, 125}, {1ull << 40, 5, true, 3}, {1, 7, false, 20'000'000},
                          {0, 0, true, 1},     {1, 32768, true, 1},      {1, -32769, false, 1}};
    for (const auto& c : cases) {
        SCOPED_TRACE(::testing::Message() << c.track << " " << c.relative << " " << c.payload);
        const Bytes payload(c.payload, 0x33);
        Bytes block;
        const bool ok = !mkv::write_simple_block(c.track, c.relative, c.key, payload, block);
        std::array<std::uint8_t, mkv::kMaxSimpleBlockHeaderBytes> header{};
        const std::size_t n = mkv::simple_block_header(c.track, c.relative, c.key, c.payload, header);
        if (!ok) {
            EXPECT_EQ(n, 0u);
            continue;
        }
        ASSERT_EQ(n + c.payload, block.size());
        EXPECT_EQ(Bytes(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(n)),
                  Bytes(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(n)));
    }
}

TEST(MkvWriter, TagsLayout) {
    const std::vector<SimpleTag> tags = {
        {"AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607743920146"},
        {"AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1700000000.123"},
        {"EMPTY", ""}};
    Bytes out;
    mkv::write_tags(tags, out);
    auto list = elements(out);
    ASSERT_EQ(ids(list),
              (std::vector<std::uint32_t>{id::kTags, id::kTag, id::kTargets, id::kSimpleTag, id::kTagName,
                                          id::kTagString, id::kSimpleTag, id::kTagName, id::kTagString,
                                          id::kSimpleTag, id::kTagName, id::kTagString}));
    EXPECT_TRUE(list[2].body.empty());
    for (std::size_t i = 0; i < tags.size(); ++i) {
        EXPECT_EQ(list[4 + 3 * i].string(), tags[i].name);
        EXPECT_EQ(list[5 + 3 * i].string(), tags[i].value);
    }
    EXPECT_EQ(list[0].body.size() + 12, out.size());  // 4-byte id + 8-byte size, nothing after
}

// What a writer's output holds, cluster by cluster.
struct Block {
    std::int16_t relative;
    bool key;
    bool operator==(const Block&) const = default;
};
struct Cluster {
    std::uint64_t timecode;
    std::vector<Block> blocks;
    bool operator==(const Cluster&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Cluster& c) {
    os << "{" << c.timecode << ":";
    for (const auto& b : c.blocks)
        os << " " << b.relative << (b.key ? "K" : "");
    return os << "}";
}

std::vector<Cluster> clusters_of(std::span<const std::uint8_t> stream) {
    std::vector<Cluster> out;
    for (const auto& e : elements(stream)) {
        if (e.id == id::kCluster) out.push_back({});
        if (e.id == id::kTimecode && !out.empty()) out.back().timecode = e.uint();
        if (e.id == id::kSimpleBlock && !out.empty()) {
            EXPECT_EQ(e.body[0], 0x81);  // track 1
            auto relative = static_cast<std::int16_t>((e.body[1] << 8) | e.body[2]);
            out.back().blocks.push_back({relative, (e.body[3] & 0x80) != 0});
        }
    }
    return out;
}

struct FrameSpec {
    std::int64_t ms;
    bool key;
};

MkvWriterOptions options(bool key_frame_fragmentation, bool absolute = true) {
    MkvWriterOptions o;
    o.header.tracks = {video_track()};
    o.key_frame_fragmentation = key_frame_fragmentation;
    o.fragment_duration = std::chrono::seconds(2);
    o.absolute_timecodes = absolute;
    o.start = Timestamp::from_milliseconds(1'000);
    return o;
}

// Writes the frames after the stream header; returns the clusters and which frames started one.
std::vector<Cluster> write_all(MkvWriter& writer, const std::vector<FrameSpec>& frames,
                               std::vector<bool>* started = nullptr) {
    Bytes out;
    writer.write_header(out);
    const Bytes payload = {0x00, 0x00, 0x00, 0x01, 0x65};
    for (const auto& f : frames) {
        bool new_fragment = true;
        auto ec =
            writer.write_frame({1, Timestamp::from_milliseconds(f.ms), f.key, payload}, out, &new_fragment);
        EXPECT_FALSE(ec) << f.ms << ": " << ec.message();
        if (started) started->push_back(new_fragment);
    }
    return clusters_of(out);
}

TEST(MkvWriter, Fragmentation) {
    struct Case {
        const char* name;
        MkvWriterOptions options;
        std::vector<FrameSpec> frames;
        std::vector<Cluster> expected;
    };
    const Case cases[] = {
        {"every key frame starts a cluster",
         options(true),
         {{1000, true}, {1033, false}, {1066, false}, {1100, true}, {1133, false}, {1166, true}},
         {{1000, {{0, true}, {33, false}, {66, false}}},
          {1100, {{0, true}, {33, false}}},
          {1166, {{0, true}}}}},
        {"duration: a key frame starts a cluster once it is 2 s long",
         options(false),
         {{0, true},
          {500, false},
          {1000, true},
          {1999, true},
          {2000, true},
          {2500, false},
          {3999, true},
          {4000, true}},
         {{0, {{0, true}, {500, false}, {1000, true}, {1999, true}}},
          {2000, {{0, true}, {500, false}, {1999, true}}},
          {4000, {{0, true}}}}},
        {"duration: delta frames never start one",
         options(false),
         {{0, true}, {3000, false}, {6000, false}, {6001, true}},
         {{0, {{0, true}, {3000, false}, {6000, false}}}, {6001, {{0, true}}}}},
        {"relative timecodes count from options.start",
         options(true, false),
         {{1000, true}, {1040, false}, {1500, true}, {1480, false}},
         {{0, {{0, true}, {40, false}}}, {500, {{0, true}, {-20, false}}}}},
        {"equal cluster timecodes are not going backwards",
         options(true),
         {{5000, true}, {5000, true}},
         {{5000, {{0, true}}}, {5000, {{0, true}}}}},
        {"int16 edges inside a cluster",
         options(false),
         {{40000, true}, {40000 + 32767, false}, {40000 - 32768, false}},
         {{40000, {{0, true}, {32767, false}, {-32768, false}}}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        MkvWriter writer(c.options);
        EXPECT_EQ(write_all(writer, c.frames), c.expected);
    }
}

TEST(MkvWriter, ReportsNewFragments) {
    MkvWriter writer(options(false));
    std::vector<bool> started;
    write_all(writer, {{0, true}, {100, false}, {1000, true}, {2000, true}, {2100, false}}, &started);
    EXPECT_EQ(started, (std::vector<bool>{true, false, false, true, false}));
}

TEST(MkvWriter, TimecodeScaleAndSubTickTimes) {
    auto o = options(true);
    o.header.timecode_scale_ns = 100'000;  // 0.1 ms ticks
    MkvWriter writer(o);
    Bytes out;
    ASSERT_FALSE(writer.write_frame({1, Timestamp::from_nanoseconds(1'050'000'000), true, {}}, out));
    ASSERT_FALSE(
        writer.write_frame({1, Timestamp::from_nanoseconds(1'050'199'999), false, {}}, out));  // floor
    EXPECT_EQ(clusters_of(out), (std::vector<Cluster>{{10'500, {{0, true}, {1, false}}}}));
    MkvWriterOptions zero_scale;
    zero_scale.header.timecode_scale_ns = 0;
    EXPECT_THROW(MkvWriter{zero_scale}, std::invalid_argument);
}

TEST(MkvWriter, ErrorsWriteNothing) {
    struct Case {
        const char* name;
        MkvWriterOptions options;
        bool allow_leading_delta;
        std::vector<FrameSpec> before;  // written successfully first
        FrameInput frame;
        std::error_code error;
    };
    auto frame = [](std::int64_t ms, bool key, std::uint64_t track = 1) {
        return FrameInput{track, Timestamp::from_milliseconds(ms), key, {}};
    };
    const Case cases[] = {
        {"leading delta frame", options(true), false, {}, frame(0, false), Errc::invalid_argument},
        {"unknown track", options(true), false, {}, frame(0, true, 2), Errc::invalid_argument},
        {"track 0", options(true), false, {}, frame(0, true, 0), Errc::invalid_argument},
        {"delta frame 32768 ticks after its cluster",
         options(true),
         false,
         {{0, true}},
         frame(32768, false),
         Errc::timecode_out_of_range},
        {"delta frame 32769 ticks before its cluster",
         options(true),
         false,
         {{40000, true}},
         frame(40000 - 32769, false),
         Errc::timecode_out_of_range},
        {"key frame before the previous cluster",
         options(true),
         false,
         {{5000, true}, {5033, false}},
         frame(4999, true),
         Errc::timecode_went_backwards},
        {"duration mode: key frame before the previous cluster and far enough back",
         options(false),
         false,
         {{50000, true}},
         frame(10000, true),
         Errc::timecode_went_backwards},
        {"relative mode: frame before start",
         options(true, false),
         false,
         {},
         frame(999, true),
         Errc::timecode_out_of_range},
        {"absolute mode: negative time",
         options(true),
         true,
         {},
         frame(-1, false),
         Errc::timecode_out_of_range},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        MkvWriter writer(c.options);
        writer.allow_leading_delta = c.allow_leading_delta;
        Bytes out;
        for (const auto& f : c.before)
            ASSERT_FALSE(writer.write_frame(frame(f.ms, f.key), out));
        const Bytes before = out;
        bool new_fragment = true;
        EXPECT_EQ(writer.write_frame(c.frame, out, &new_fragment), c.error);
        EXPECT_EQ(out, before);
        EXPECT_FALSE(new_fragment);
    }
}

TEST(MkvWriter, KeyFrameThatNoLongerFitsStartsACluster) {
    auto o = options(false);
    o.fragment_duration = std::chrono::seconds(60);  // longer than int16 milliseconds
    MkvWriter writer(o);
    EXPECT_EQ(write_all(writer, {{0, true}, {30000, false}, {40000, true}, {41000, false}}),
              (std::vector<Cluster>{{0, {{0, true}, {30000, false}}}, {40000, {{0, true}, {1000, false}}}}));
}

TEST(MkvWriter, LeadingDeltaWhenAllowed) {
    MkvWriter writer(options(true));
    writer.allow_leading_delta = true;
    EXPECT_EQ(write_all(writer, {{100, false}, {133, false}, {166, true}}),
              (std::vector<Cluster>{{100, {{0, false}, {33, false}}}, {166, {{0, true}}}}));
}

TEST(MkvWriter, ResetStartsANewClusterAndKeepsOrdering) {
    MkvWriter writer(options(false));
    Bytes out;
    writer.write_header(out);
    ASSERT_FALSE(writer.write_frame({1, Timestamp::from_milliseconds(5000), true, {}}, out));
    writer.reset_fragment();
    // After a reset the next frame starts a cluster, so it must be a key frame, not before the last cluster.
    EXPECT_EQ(writer.write_frame({1, Timestamp::from_milliseconds(5100), false, {}}, out),
              Errc::invalid_argument);
    EXPECT_EQ(writer.write_frame({1, Timestamp::from_milliseconds(4000), true, {}}, out),
              Errc::timecode_went_backwards);
    Bytes second;
    writer.write_header(second);  // a new connection's stream
    bool new_fragment = false;
    ASSERT_FALSE(
        writer.write_frame({1, Timestamp::from_milliseconds(5200), true, {}}, second, &new_fragment));
    EXPECT_TRUE(new_fragment);  // in duration mode, 200 ms would not have been enough without the reset
    EXPECT_EQ(clusters_of(second), (std::vector<Cluster>{{5200, {{0, true}}}}));
}

TEST(MkvWriter, PayloadsAreCopiedVerbatimAfterTheHeader) {
    MkvWriter writer(options(true));
    Bytes header;
    writer.write_header(header);
    Bytes expected_header;
    mkv::write_stream_header(writer.options().header, expected_header);
    EXPECT_EQ(header, expected_header);

    Bytes out = header;
    std::vector<Bytes> payloads;
    for (int i = 0; i < 20; ++i) {
        payloads.emplace_back(static_cast<std::size_t>(1000 * i + 1), static_cast<std::uint8_t>(i));
        ASSERT_FALSE(writer.write_frame(
            {1, Timestamp::from_milliseconds(1000 + 33 * i), i % 10 == 0, payloads.back()}, out));
    }
    std::size_t index = 0;
    for (const auto& e : elements(out)) {
        if (e.id != id::kSimpleBlock) continue;
        ASSERT_LT(index, payloads.size());
        EXPECT_TRUE(
            std::equal(e.body.begin() + 4, e.body.end(), payloads[index].begin(), payloads[index].end()));
        ++index;
    }
    EXPECT_EQ(index, payloads.size());
}

}  // namespace
}  // namespace kinema::media
