// MkvReader errors: each one with its code, byte offset and element, whatever the chunking; and the reader
// stays failed after one.
#include <gtest/gtest.h>

#include "kinema/media/mkv_reader.h"
#include "mkv_reader_recorder.h"
#include "mkv_test_streams.h"

namespace kinema::media {
namespace {

using namespace test;  // NOLINT: the stream builders and the recorder

struct ErrorCase {
    std::string name;
    Bytes bytes;
    Errc code;
    std::uint64_t offset;
    std::uint32_t element;
    MkvReaderLimits limits{};
};

std::vector<ErrorCase> error_cases() {
    std::vector<ErrorCase> cases;
    auto add = [&](std::string name, Bytes bytes, Errc code, std::uint64_t offset, std::uint32_t element,
                   MkvReaderLimits limits = {}) {
        cases.push_back({std::move(name), std::move(bytes), code, offset, element, limits});
    };
    {
        Bytes in = cluster_head();
        const auto at = in.size();
        write_simple_block(in, 2, 0, true, payload(10, 0));
        add("block for a track not in Tracks", in, Errc::unknown_track, at, ids::kSimpleBlock);
    }
    {
        Bytes in;
        write_ebml_header(in);
        ebml::open_unknown_size_master(ids::kSegment, in);
        write_info(in);
        const auto at = in.size();
        ebml::open_unknown_size_master(ids::kCluster, in);
        add("Cluster before Tracks", in, Errc::missing_tracks, at, ids::kCluster);
    }
    {
        Bytes in;
        write_ebml_header(in, "mkv3");
        add("DocType other than matroska/webm", in, Errc::invalid_ebml_header, 0, ids::kEbml);
    }
    {
        Bytes in;
        ebml::open_unknown_size_master(ids::kSegment, in);
        add("Segment without an EBML header", in, Errc::invalid_ebml_header, 0, ids::kSegment);
    }
    {
        Bytes in;
        write_info(in);
        add("not Matroska at all", in, Errc::invalid_ebml_header, 0, ids::kInfo);
    }
    {
        Bytes in = stream_head();
        const auto at = in.size();
        in.insert(in.end(), {0x00, 0x81, 0x00});
        add("element id with no length marker", in, Errc::invalid_vint, at, ids::kSegment);
    }
    {
        Bytes in = cluster_head();
        const auto at = in.size();
        in.insert(in.end(), {0xA3, 0x00, 0x81});
        add("size with no length marker", in, Errc::invalid_vint, at, ids::kSimpleBlock);
    }
    {
        Bytes in = cluster_head();
        const auto at = in.size();
        write_simple_block(in, 1, 0, true, payload(600, 0));
        add("SimpleBlock over max_block_size", in, Errc::element_too_large, at, ids::kSimpleBlock,
            {.max_block_size = 512});
    }
    {
        Bytes in = stream_head();
        const auto at = in.size();
        in.insert(in.end(), {0x1F, 0x43, 0xB6, 0x75, 0x01, 0x00, 0x10, 0, 0, 0, 0, 0});
        add("Cluster size over max_element_size", in, Errc::element_too_large, at, ids::kCluster);
    }
    {
        Bytes in;
        write_ebml_header(in);
        add("EBML header over max_header_size", in, Errc::header_too_large, 0, ids::kEbml,
            {.max_header_size = 16});
    }
    {
        Bytes in;
        write_ebml_header(in);
        ebml::open_unknown_size_master(ids::kSegment, in);
        const auto at = in.size();
        write_info(in);
        add("Info over max_header_size", in, Errc::header_too_large, at, ids::kInfo, {.max_header_size = 40});
    }
    {
        Bytes in;
        write_ebml_header(in);
        ebml::open_unknown_size_master(ids::kSegment, in);
        Bytes tracks;
        write_tracks(tracks, {TrackSpec{.number = 1}, TrackSpec{.number = 2}, TrackSpec{.number = 3}});
        // Tracks header (12) + two TrackEntries: the third one is over the limit.
        Bytes two;
        write_tracks(two, {TrackSpec{.number = 1}, TrackSpec{.number = 2}});
        const auto at = in.size() + two.size();
        append(in, tracks);
        add("more tracks than max_tracks", in, Errc::header_too_large, at, ids::kTrackEntry,
            {.max_tracks = 2});
    }
    {
        Bytes in;
        write_ebml_header(in);
        ebml::open_unknown_size_master(ids::kSegment, in);
        const auto at = in.size();
        ebml::open_unknown_size_master(ids::kTracks, in);
        add("unknown-size Tracks", in, Errc::unknown_size_not_allowed, at, ids::kTracks);
    }
    {
        Bytes in = cluster_head();
        const auto at = in.size();
        ebml::open_unknown_size_master(ids::kBlockGroup, in);
        add("unknown-size BlockGroup", in, Errc::unknown_size_not_allowed, at, ids::kBlockGroup);
    }
    {
        Bytes in = stream_head();
        ebml::open_unknown_size_master(ids::kCluster, in);
        const auto at = in.size();
        ebml::write_binary(ids::kTimecode, Bytes(9, 1), in);
        add("9-byte Timecode", in, Errc::invalid_element_size, at, ids::kTimecode);
    }
    {
        Bytes in = stream_head();
        ebml::open_unknown_size_master(ids::kCluster, in);
        const auto at = in.size();
        write_simple_block(in, 1, 0, true, payload(10, 0));
        add("block before the Cluster Timecode", in, Errc::invalid_block, at, ids::kSimpleBlock);
    }
    {
        Bytes in = cluster_head(1ull << 62);
        const auto at = in.size() - 10;
        add("Cluster Timecode overflowing nanoseconds", in, Errc::timecode_out_of_range, at, ids::kTimecode);
    }
    {
        Bytes in = cluster_head();
        const auto at = in.size();
        ebml::write_binary(ids::kSimpleBlock, block_body(1, 0, 0x80 | 0x02, {1, 200}, {payload(50, 0)}), in);
        add("Xiph lace sizes over the SimpleBlock", in, Errc::invalid_lacing, at, ids::kSimpleBlock);
    }
    {
        Bytes in = cluster_head();
        auto group = ebml::open_master(ids::kBlockGroup, in);
        const auto at = in.size();
        ebml::write_binary(ids::kBlock, block_body(1, 0, 0x04, {2}, {payload(10, 0)}), in);
        ebml::close_master(group, in);
        add("fixed lacing that does not divide the Block", in, Errc::invalid_lacing, at, ids::kBlock);
    }
    {
        Bytes in = cluster_head();
        const auto at = in.size();
        ebml::write_binary(ids::kSimpleBlock, Bytes{0x81, 0x00}, in);
        add("SimpleBlock shorter than its header", in, Errc::invalid_block, at, ids::kSimpleBlock);
    }
    {
        Bytes in = stream_head();
        auto cluster = ebml::open_master(ids::kCluster, in);
        ebml::write_uint(ids::kTimecode, 0, in);
        ebml::close_master(cluster, in);
        const auto at = in.size();
        write_simple_block(in, 1, 0, true, payload(10, 0));
        // Grow the Cluster by 3 bytes: the block's 14 bytes no longer fit.
        in[cluster.size_pos + 7] = static_cast<std::uint8_t>(in[cluster.size_pos + 7] + 3);
        add("SimpleBlock past the end of its Cluster", in, Errc::child_overflows_parent, at - 0,
            ids::kSimpleBlock);
    }
    {
        Bytes in = stream_head();
        std::vector<ebml::OpenMaster> open = {ebml::open_master(ids::kTags, in),
                                              ebml::open_master(ids::kTag, in)};
        std::uint64_t at = 0;
        // Segment, Tags, Tag, then SimpleTags: the 14th nested one is the 17th master.
        for (int depth = 0; depth < 14; ++depth) {
            at = in.size();
            open.push_back(ebml::open_master(ids::kSimpleTag, in));
        }
        for (auto it = open.rbegin(); it != open.rend(); ++it)
            ebml::close_master(*it, in);
        add("SimpleTags nested past max_depth", in, Errc::nesting_too_deep, at, ids::kSimpleTag);
    }
    {
        // Segment > Tracks > TrackEntry > Video is four deep.
        Bytes in = stream_head();
        std::uint64_t at = 0;
        while (!(in[at] == 0xE0 && in[at + 1] == 0x01))
            ++at;
        add("Video past max_depth 3", in, Errc::nesting_too_deep, at, ids::kVideo, {.max_depth = 3});
    }
    return cases;
}

TEST(MkvReader, ReportsEachErrorWithItsOffsetAndElement) {
    for (const auto& c : error_cases()) {
        SCOPED_TRACE(c.name);
        auto run = read(c.bytes, {}, c.limits);
        EXPECT_EQ(run.error.code, make_error_code(c.code)) << run.error.message();
        EXPECT_EQ(run.error.offset, c.offset) << run.error.message();
        EXPECT_EQ(run.error.element_id, c.element) << run.error.message();
        const std::string message = run.error.message();
        EXPECT_NE(message.find("at byte " + std::to_string(c.offset)), std::string::npos) << message;
        EXPECT_NE(message.find(std::string(ebml_id::element_name(c.element))), std::string::npos) << message;
        // Chunking changes nothing, errors included.
        EXPECT_EQ(read_bytewise(c.bytes, c.limits).rec.events, run.rec.events);
    }
}

TEST(MkvReader, StaysFailedAfterAnError) {
    Recorder rec;
    MkvReader reader(rec);
    Bytes bad;
    write_ebml_header(bad, "avi");
    const auto first = reader.feed(bad);
    ASSERT_EQ(first.code, make_error_code(Errc::invalid_ebml_header));
    const Bytes good = kvs_stream();
    const auto again = reader.feed(good);
    EXPECT_EQ(again.code, first.code);
    EXPECT_EQ(again.offset, first.offset);
    EXPECT_EQ(reader.finish().code, first.code);
    EXPECT_TRUE(rec.events.empty());
}

}  // namespace
}  // namespace kinema::media
