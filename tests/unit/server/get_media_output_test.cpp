#include "get_media_output.h"

#include <gtest/gtest.h>

#include <kinema/media/ebml_ids.h>
#include <kinema/media/ebml_writer.h>
#include <kinema/media/mkv_reader.h>

#include "ebml_scan.h"

#include "store_fixture.h"

namespace kinema::server {
namespace {

using media::Timestamp;
using test::ClusterSpec;
using test::make_stream;

// What a GetMedia consumer sees when it parses the output (as KVS's parser library does).
struct Parsed : media::MkvReaderHandler {
    void on_segment(const media::SegmentHeader& header, std::uint64_t) override {
        ++segments;
        tracks = header.tracks.size();
    }
    void on_fragment_begin(std::uint64_t, std::int64_t timecode) override {
        cluster_timecodes.push_back(timecode);
    }
    void on_frame(const media::Frame& frame) override {
        frame_pts_ms.push_back(frame.pts.milliseconds());
        payloads.emplace_back(frame.payload.begin(), frame.payload.end());
    }
    void on_tags(const std::vector<media::SimpleTag>& list, std::uint64_t) override {
        for (const auto& tag : list)
            tags.push_back(tag.name + "=" + tag.value);
    }
    std::string tag(const std::string& name, std::size_t nth = 0) const {
        for (const auto& t : tags)
            if (t.rfind(name + "=", 0) == 0 && nth-- == 0) return t.substr(name.size() + 1);
        return "<missing>";
    }
    int segments = 0;
    std::size_t tracks = 0;
    std::vector<std::int64_t> cluster_timecodes;
    std::vector<std::int64_t> frame_pts_ms;
    std::vector<test::Bytes> payloads;
    std::vector<std::string> tags;
};

Parsed parse(const test::Bytes& bytes) {
    Parsed parsed;
    media::MkvReader reader(parsed);
    EXPECT_FALSE(reader.feed(bytes)) << "output is not valid MKV";
    EXPECT_FALSE(reader.finish());
    return parsed;
}

class GetMediaOutputTest : public test::StoreFixture {};

TEST(ClusterTimecode, RewritesOnlyTheTimecodeForKnownAndUnknownSizes) {
    auto stream = make_stream({{40, 3}});
    const auto& unknown = stream.clusters[0];
    // The same cluster with a known size.
    test::Bytes known = {0x1F, 0x43, 0xB6, 0x75};
    media::ebml::write_size(unknown.size() - 12, known, 8);
    known.insert(known.end(), unknown.begin() + 12, unknown.end());
    for (const test::Bytes* cluster : std::vector<const test::Bytes*>{&unknown, &known}) {
        for (std::int64_t timecode : {0LL, 40LL, 255LL, 256LL, 1'700'000'000'123LL}) {
            test::Bytes out;
            ASSERT_TRUE(write_cluster_with_timecode(*cluster, timecode, out));
            test::Bytes whole = stream.header;
            whole.insert(whole.end(), out.begin(), out.end());
            auto parsed = parse(whole);
            ASSERT_EQ(parsed.cluster_timecodes, std::vector<std::int64_t>{timecode});
            EXPECT_EQ(parsed.frame_pts_ms,
                      (std::vector<std::int64_t>{timecode, timecode + 40, timecode + 80}));
            EXPECT_EQ(parsed.payloads[2], test::payload_for(40, 2, 100));
        }
    }
    test::Bytes out;
    EXPECT_FALSE(write_cluster_with_timecode(stream.header, 0, out));
    EXPECT_FALSE(write_cluster_with_timecode(std::span(unknown).first(5), 0, out));
    EXPECT_FALSE(write_cluster_with_timecode(unknown, -1, out));
    EXPECT_TRUE(out.empty());
}

TEST(ClusterTimecode, DropsTheClustersCrc32ThatTheNewTimecodeWouldBreak) {
    auto stream = make_stream({{40, 3}});
    const auto& unknown = stream.clusters[0];
    // The cluster as ffmpeg writes it: known size, a CRC-32 of the rest of its data as its first child.
    const test::Bytes data(unknown.begin() + 12, unknown.end());
    std::uint32_t crc = 0xFFFFFFFFu;
    for (auto b : data) {
        crc ^= b;
        for (int k = 0; k < 8; ++k)
            crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    crc = ~crc;
    test::Bytes with_crc = {0x1F, 0x43, 0xB6, 0x75};
    media::ebml::write_size(6 + data.size(), with_crc, 8);
    with_crc.insert(with_crc.end(),
                    {0xBF, 0x84, static_cast<std::uint8_t>(crc), static_cast<std::uint8_t>(crc >> 8),
                     static_cast<std::uint8_t>(crc >> 16), static_cast<std::uint8_t>(crc >> 24)});
    with_crc.insert(with_crc.end(), data.begin(), data.end());
    test::Bytes as_sent = stream.header;
    as_sent.insert(as_sent.end(), with_crc.begin(), with_crc.end());
    ASSERT_EQ(parse(as_sent).cluster_timecodes, std::vector<std::int64_t>{40});  // the CRC-32 matches

    test::Bytes out;
    ASSERT_TRUE(write_cluster_with_timecode(with_crc, 1'700'000'000'123LL, out));
    auto cluster = ebml_scan::read_element_header(out);
    ASSERT_TRUE(cluster);
    auto first = ebml_scan::read_element_header(std::span(out).subspan(cluster->header_length));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->id, media::ebml_id::kTimecode);  // the CRC-32 is gone
    test::Bytes whole = stream.header;
    whole.insert(whole.end(), out.begin(), out.end());
    auto parsed = parse(whole);  // the reader checks CRC-32 elements: a stale one would fail here
    ASSERT_EQ(parsed.cluster_timecodes, std::vector<std::int64_t>{1'700'000'000'123LL});
    EXPECT_EQ(parsed.payloads[2], test::payload_for(40, 2, 100));
}

TEST(StreamHeader, NormalisingDropsWhatOnlyMadeSenseInTheProducersFile) {
    auto stream = make_stream({{0, 1}});
    auto normalized = normalize_stream_header(stream.header);
    ASSERT_TRUE(normalized);
    EXPECT_EQ(normalized->bytes, stream.header);  // already KVS-shaped: unchanged
    EXPECT_EQ(normalized->timecode_scale_ns, 1'000'000u);

    // A file-style header: known-size Segment, SeekHead and Void before Info.
    auto ebml_size = ebml_scan::read_element_header(stream.header);
    ASSERT_TRUE(ebml_size);
    const std::size_t ebml_end = ebml_size->header_length + ebml_size->size;
    test::Bytes file(stream.header.begin(), stream.header.begin() + static_cast<std::ptrdiff_t>(ebml_end));
    test::Bytes body = {0x11, 0x4D, 0x9B, 0x74, 0x83, 0x01, 0x02, 0x03, 0xEC, 0x82, 0x00, 0x00};
    auto segment = ebml_scan::read_element_header(std::span(stream.header).subspan(ebml_end));
    body.insert(body.end(),
                stream.header.begin() + static_cast<std::ptrdiff_t>(ebml_end + segment->header_length),
                stream.header.end());
    file.insert(file.end(), {0x18, 0x53, 0x80, 0x67});
    media::ebml::write_size(body.size() + 5000, file);
    file.insert(file.end(), body.begin(), body.end());
    normalized = normalize_stream_header(file);
    ASSERT_TRUE(normalized);
    EXPECT_EQ(normalized->bytes, stream.header);

    // A second Info (another TimecodeScale) and a second Tracks: dropped, so the scale used to rewrite
    // cluster timecodes is the one a reader takes (the first). Found by the put_media fuzz target.
    test::Bytes repeated = stream.header;
    repeated.insert(repeated.end(), {0x15, 0x49, 0xA9, 0x66, 0x87, 0x2A, 0xD7, 0xB1, 0x83, 0x1E, 0x84, 0x80});
    repeated.insert(repeated.end(), {0x16, 0x54, 0xAE, 0x6B, 0x80});
    normalized = normalize_stream_header(repeated);
    ASSERT_TRUE(normalized);
    EXPECT_EQ(normalized->bytes, stream.header);
    EXPECT_EQ(normalized->timecode_scale_ns, 1'000'000u);

    EXPECT_FALSE(normalize_stream_header(std::span(stream.header).first(ebml_end)));
    EXPECT_FALSE(normalize_stream_header(std::span(stream.header).first(stream.header.size() - 1)));
    EXPECT_FALSE(normalize_stream_header(test::Bytes(10, 0)));
}

TEST_F(GetMediaOutputTest, KvsModeMakesEachFragmentACompleteMkvWithKvsTags) {
    std::vector<ClusterSpec> specs = {{0, 3}, {1000, 2}};
    auto stream = make_stream(specs);
    // RELATIVE producer: stored cluster timecodes 0 and 1000, producer timestamps start + that.
    auto numbers = append(stream, specs, 1'600'000'000'000);
    GetMediaWriter writer(OutputMode::kvs);
    StreamHeaderCache headers;
    test::Bytes out;
    const auto now = Timestamp::from_milliseconds(1'700'000'005'000);
    for (auto number : numbers) {
        storage::Fragment fragment;
        ASSERT_FALSE(store_->read("cam1", number, fragment));
        std::shared_ptr<const StreamHeader> header;
        ASSERT_FALSE(headers.get(*store_, "cam1", fragment.info.header_id, header));
        ASSERT_TRUE(writer.write_fragment(*header, fragment, now, out));
    }
    auto parsed = parse(out);
    EXPECT_EQ(parsed.segments, 2);
    EXPECT_EQ(parsed.cluster_timecodes, (std::vector<std::int64_t>{1'600'000'000'000, 1'600'000'001'000}));
    EXPECT_EQ(parsed.frame_pts_ms.size(), 5u);
    EXPECT_EQ(parsed.tag(kvs_tag::kFragmentNumber, 0), storage::format_fragment_number(numbers[0]));
    EXPECT_EQ(parsed.tag(kvs_tag::kFragmentNumber, 1), storage::format_fragment_number(numbers[1]));
    EXPECT_EQ(parsed.tag(kvs_tag::kProducerTimestamp, 1), "1600000001.000");
    EXPECT_EQ(parsed.tag(kvs_tag::kServerTimestamp, 0), "1700000000.000");
    EXPECT_EQ(parsed.tag(kvs_tag::kMillisBehindNow, 0), "5000");
    EXPECT_EQ(parsed.tag(kvs_tag::kContinuationToken, 1), storage::format_fragment_number(numbers[1]));
}

TEST_F(GetMediaOutputTest, ContinuousModeIsOneSegmentWithIncreasingClusters) {
    // Two RELATIVE sessions that both start at timecode 0.
    std::vector<ClusterSpec> specs = {{0, 3}, {1000, 2}};
    auto stream = make_stream(specs);
    auto first = append(stream, specs, 1'600'000'000'000);
    auto second = append(stream, specs, 1'600'000'060'000);
    GetMediaWriter writer(OutputMode::continuous);
    StreamHeaderCache headers;
    test::Bytes out;
    for (auto numbers : {first, second}) {
        for (auto number : numbers) {
            storage::Fragment fragment;
            ASSERT_FALSE(store_->read("cam1", number, fragment));
            std::shared_ptr<const StreamHeader> header;
            ASSERT_FALSE(headers.get(*store_, "cam1", fragment.info.header_id, header));
            ASSERT_TRUE(writer.write_fragment(*header, fragment, Timestamp::now(), out));
        }
    }
    auto parsed = parse(out);
    EXPECT_EQ(parsed.segments, 1);
    EXPECT_TRUE(parsed.tags.empty());
    EXPECT_EQ(parsed.cluster_timecodes, (std::vector<std::int64_t>{1'600'000'000'000, 1'600'000'001'000,
                                                                   1'600'000'060'000, 1'600'000'061'000}));
    EXPECT_TRUE(std::is_sorted(parsed.frame_pts_ms.begin(), parsed.frame_pts_ms.end()));
}

TEST(GetMediaWriterLive, LiveFragmentsCarryTheirNumberInTheClosingTags) {
    auto stream = make_stream({{0, 2}});
    LiveFragmentStart start;
    start.stream_header = std::make_shared<const test::Bytes>(stream.header);
    start.producer_timestamp = Timestamp::from_milliseconds(1'700'000'000'000);
    start.server_timestamp = Timestamp::from_milliseconds(1'700'000'000'010);
    start.cluster_timecode = 1'700'000'000'000;
    for (auto mode : {OutputMode::kvs, OutputMode::continuous}) {
        GetMediaWriter writer(mode);
        test::Bytes out;
        for (int fragment = 0; fragment < 2; ++fragment) {
            writer.write_live_fragment_begin(start, out);
            (void)media::mkv::write_simple_block(1, 0, true, test::payload_for(0, 0, 10), out);
            writer.write_live_fragment_end("00000000000000000007", start.server_timestamp,
                                           start.server_timestamp + std::chrono::milliseconds(30), out);
        }
        writer.write_error("ResourceNotFoundException", 404, out);
        auto parsed = parse(out);
        EXPECT_EQ(parsed.cluster_timecodes.size(), 2u);
        EXPECT_EQ(parsed.tag(kvs_tag::kErrorCode), "ResourceNotFoundException");
        EXPECT_EQ(parsed.tag(kvs_tag::kErrorId), "404");
        if (mode == OutputMode::kvs) {
            EXPECT_EQ(parsed.segments, 2);
            EXPECT_EQ(parsed.tag(kvs_tag::kFragmentNumber), "00000000000000000007");
            EXPECT_EQ(parsed.tag(kvs_tag::kMillisBehindNow), "30");
            EXPECT_EQ(parsed.tag(kvs_tag::kProducerTimestamp), "1700000000.000");
        } else {
            EXPECT_EQ(parsed.segments, 1);
            EXPECT_EQ(parsed.tag(kvs_tag::kFragmentNumber), "<missing>");
        }
    }
}

}  // namespace
}  // namespace kinema::server
