// Building Matroska test inputs with the EBML writer: blocks (laced or not), headers, and whole streams in
// the shapes KVS producers, ffmpeg, mkvmerge and KVS GetMedia write. Shared by the MKV reader and block
// tests.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kinema/media/ebml_ids.h"
#include "kinema/media/ebml_writer.h"
#include "kinema/media/mkv_types.h"

namespace kinema::media::test {

namespace ids = ebml_id;
using ebml::Bytes;

inline Bytes payload(std::size_t size, std::uint8_t seed) {
    Bytes out(size);
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<std::uint8_t>(seed + i * 7);
    return out;
}

inline void append(Bytes& out, const Bytes& more) {
    out.insert(out.end(), more.begin(), more.end());
}

// Block body: track vint, int16 timecode, flags, then `lace_header` and the frames back to back.
inline Bytes block_body(std::uint64_t track, std::int16_t timecode, std::uint8_t flags,
                        const Bytes& lace_header, const std::vector<Bytes>& frames) {
    Bytes out;
    ebml::write_size(track, out);
    out.push_back(static_cast<std::uint8_t>(static_cast<std::uint16_t>(timecode) >> 8));
    out.push_back(static_cast<std::uint8_t>(timecode));
    out.push_back(flags);
    append(out, lace_header);
    for (const auto& f : frames)
        append(out, f);
    return out;
}

inline Bytes xiph_lace_header(const std::vector<Bytes>& frames) {
    Bytes out = {static_cast<std::uint8_t>(frames.size() - 1)};
    for (std::size_t i = 0; i + 1 < frames.size(); ++i) {
        std::size_t size = frames[i].size();
        for (; size >= 255; size -= 255)
            out.push_back(255);
        out.push_back(static_cast<std::uint8_t>(size));
    }
    return out;
}

// A signed vint as EBML lacing codes size differences: value + (2^(7n-1) - 1) in the shortest width n.
inline void write_signed_vint(std::int64_t value, Bytes& out) {
    for (int n = 1; n <= 8; ++n) {
        const std::int64_t bias = (std::int64_t{1} << (7 * n - 1)) - 1;
        if (value >= -bias && value <= bias) {
            ebml::write_size(static_cast<std::uint64_t>(value + bias), out, n);
            return;
        }
    }
}

inline Bytes ebml_lace_header(const std::vector<Bytes>& frames) {
    Bytes out = {static_cast<std::uint8_t>(frames.size() - 1)};
    for (std::size_t i = 0; i + 1 < frames.size(); ++i) {
        if (i == 0) {
            ebml::write_size(frames[0].size(), out);
        } else {
            write_signed_vint(
                static_cast<std::int64_t>(frames[i].size()) - static_cast<std::int64_t>(frames[i - 1].size()),
                out);
        }
    }
    return out;
}

inline Bytes fixed_lace_header(const std::vector<Bytes>& frames) {
    return {static_cast<std::uint8_t>(frames.size() - 1)};
}

struct TrackSpec {
    std::uint64_t number = 1;
    TrackType type = TrackType::video;
    std::string codec = "V_MPEG4/ISO/AVC";
    std::uint64_t default_duration_ns = 0;
    Bytes codec_private = {1, 0x64, 0, 0x0A, 0xFF};
};

inline void write_ebml_header(Bytes& out, std::string_view doc_type = "matroska") {
    auto m = ebml::open_master(ids::kEbml, out);
    ebml::write_uint(ids::kEbmlVersion, 1, out);
    ebml::write_uint(ids::kEbmlReadVersion, 1, out);
    ebml::write_uint(ids::kEbmlMaxIdLength, 4, out);
    ebml::write_uint(ids::kEbmlMaxSizeLength, 8, out);
    ebml::write_string(ids::kDocType, doc_type, out);
    ebml::write_uint(ids::kDocTypeVersion, 4, out);
    ebml::write_uint(ids::kDocTypeReadVersion, 2, out);
    ebml::close_master(m, out);
}

// CRC-32 (IEEE, reflected), bit by bit: independent of the reader's table-driven one, as a cross-check.
inline std::uint32_t reference_crc32(std::span<const std::uint8_t> bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (auto b : bytes) {
        c ^= b;
        for (int k = 0; k < 8; ++k)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

// A master's CRC-32 element, its first child, as ffmpeg writes it: write_crc() right after open_master()
// leaves room for the value; seal_crc() after close_master() fills it with the CRC of the rest of the
// master (which ends at the end of `out`). The value is little-endian.
inline std::size_t write_crc(Bytes& out) {
    ebml::write_binary(ids::kCrc32, Bytes{0, 0, 0, 0}, out);
    return out.size() - 4;
}
inline void seal_crc(Bytes& out, std::size_t value_at) {
    const std::uint32_t crc = reference_crc32(std::span<const std::uint8_t>(out).subspan(value_at + 4));
    for (int i = 0; i < 4; ++i)
        out[value_at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
}

inline void write_info(Bytes& out, std::uint64_t scale = 1'000'000, bool crc = false) {
    auto m = ebml::open_master(ids::kInfo, out);
    const std::size_t crc_at = crc ? write_crc(out) : 0;
    ebml::write_uint(ids::kTimecodeScale, scale, out);
    ebml::write_string(ids::kMuxingApp, "test-mux", out);
    ebml::write_string(ids::kWritingApp, "test-app", out);
    ebml::write_float(ids::kDuration, 1000.0, out);
    ebml::write_date(ids::kDateUtc, 0, out);
    ebml::close_master(m, out);
    if (crc) seal_crc(out, crc_at);
}

inline void write_tracks(Bytes& out, const std::vector<TrackSpec>& tracks, bool crc = false) {
    auto m = ebml::open_master(ids::kTracks, out);
    const std::size_t crc_at = crc ? write_crc(out) : 0;
    for (const auto& t : tracks) {
        auto entry = ebml::open_master(ids::kTrackEntry, out);
        ebml::write_uint(ids::kTrackNumber, t.number, out);
        ebml::write_uint(ids::kTrackUid, t.number * 1000, out);
        ebml::write_uint(ids::kTrackType, static_cast<std::uint64_t>(t.type), out);
        ebml::write_string(ids::kCodecId, t.codec, out);
        ebml::write_string(ids::kLanguage, "und", out);
        if (t.default_duration_ns != 0) ebml::write_uint(ids::kDefaultDuration, t.default_duration_ns, out);
        if (!t.codec_private.empty()) ebml::write_binary(ids::kCodecPrivate, t.codec_private, out);
        if (t.type == TrackType::video) {
            auto video = ebml::open_master(ids::kVideo, out);
            ebml::write_uint(ids::kPixelWidth, 64, out);
            ebml::write_uint(ids::kPixelHeight, 48, out);
            ebml::close_master(video, out);
        } else if (t.type == TrackType::audio) {
            auto audio = ebml::open_master(ids::kAudio, out);
            // A 4-byte float, as some muxers write it.
            ebml::write_id(ids::kSamplingFrequency, out);
            ebml::write_size(4, out);
            append(out, {0x47, 0x3B, 0x80, 0x00});  // 48000.0f
            ebml::write_uint(ids::kChannels, 2, out);
            ebml::close_master(audio, out);
        }
        ebml::close_master(entry, out);
    }
    ebml::close_master(m, out);
    if (crc) seal_crc(out, crc_at);
}

inline void write_simple_block(Bytes& out, std::uint64_t track, std::int16_t timecode, bool key,
                               const Bytes& data) {
    ebml::write_binary(ids::kSimpleBlock, block_body(track, timecode, key ? 0x80 : 0x00, {}, {data}), out);
}

inline void write_block_group(Bytes& out, const Bytes& body, bool reference,
                              std::optional<std::uint64_t> duration = {}) {
    auto m = ebml::open_master(ids::kBlockGroup, out);
    ebml::write_binary(ids::kBlock, body, out);
    if (duration) ebml::write_uint(ids::kBlockDuration, *duration, out);
    if (reference) ebml::write_int(ids::kReferenceBlock, -33, out);
    ebml::close_master(m, out);
}

inline void write_tags(Bytes& out, const std::vector<std::pair<std::string, std::string>>& tags) {
    auto m = ebml::open_master(ids::kTags, out);
    auto tag = ebml::open_master(ids::kTag, out);
    auto targets = ebml::open_master(ids::kTargets, out);
    ebml::write_uint(ids::kTargetTypeValue, 50, out);
    ebml::close_master(targets, out);
    for (const auto& [name, value] : tags) {
        auto simple = ebml::open_master(ids::kSimpleTag, out);
        ebml::write_string(ids::kTagName, name, out);
        ebml::write_string(ids::kTagString, value, out);
        ebml::close_master(simple, out);
    }
    ebml::close_master(tag, out);
    ebml::close_master(m, out);
}

// EBML header, unknown-size Segment, Info and Tracks (one video track, number 1).
inline Bytes stream_head() {
    Bytes out;
    write_ebml_header(out);
    ebml::open_unknown_size_master(ids::kSegment, out);
    write_info(out);
    write_tracks(out, {TrackSpec{}});
    return out;
}

// stream_head() and an unknown-size Cluster with its Timecode.
inline Bytes cluster_head(std::uint64_t timecode = 0) {
    Bytes out = stream_head();
    ebml::open_unknown_size_master(ids::kCluster, out);
    ebml::write_uint(ids::kTimecode, timecode, out);
    return out;
}

// What a KVS producer sends: unknown-size Segment and Clusters, SimpleBlocks, Tags between clusters.
// Three clusters of three frames 33 ms apart, the first of each a key frame; payloads of 20..600 bytes.
inline Bytes kvs_stream() {
    Bytes out;
    write_ebml_header(out);
    ebml::open_unknown_size_master(ids::kSegment, out);
    write_info(out);
    write_tracks(out, {TrackSpec{}});
    for (int c = 0; c < 3; ++c) {
        if (c == 2) write_tags(out, {{"AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607"}});
        ebml::open_unknown_size_master(ids::kCluster, out);
        ebml::write_uint(ids::kTimecode, 1'700'000'000'000ull + 100u * static_cast<unsigned>(c), out);
        for (int f = 0; f < 3; ++f) {
            const std::size_t size = f == 0 ? 600 : 20 + 50 * static_cast<std::size_t>(f + c);
            write_simple_block(out, 1, static_cast<std::int16_t>(33 * f), f == 0,
                               payload(size, static_cast<std::uint8_t>(c * 3 + f)));
        }
    }
    return out;
}

// What ffmpeg -f matroska writes: known sizes, SeekHead, Void, CRC-32 inside masters, Cues and Tags at the
// end; plus a Void between blocks.
inline Bytes ffmpeg_like_stream() {
    Bytes out;
    write_ebml_header(out, "webm");
    auto segment = ebml::open_master(ids::kSegment, out);
    {
        auto seek_head = ebml::open_master(ids::kSeekHead, out);
        auto seek = ebml::open_master(0x4DBB, out);
        ebml::write_binary(0x53AB, Bytes{0x15, 0x49, 0xA9, 0x66}, out);
        ebml::write_uint(0x53AC, 100, out);
        ebml::close_master(seek, out);
        ebml::close_master(seek_head, out);
    }
    ebml::write_binary(ids::kVoid, Bytes(40, 0), out);
    write_info(out, 1'000'000, true);
    write_tracks(out, {TrackSpec{.default_duration_ns = 40'000'000}}, true);
    for (int c = 0; c < 2; ++c) {
        auto cluster = ebml::open_master(ids::kCluster, out);
        const std::size_t crc_at = write_crc(out);
        ebml::write_uint(ids::kTimecode, 1000u * static_cast<unsigned>(c), out);
        for (int f = 0; f < 4; ++f) {
            write_simple_block(out, 1, static_cast<std::int16_t>(40 * f), f == 0,
                               payload(100 + 10 * static_cast<std::size_t>(f), static_cast<std::uint8_t>(f)));
            if (f == 1) ebml::write_binary(ids::kVoid, Bytes(3, 0), out);
        }
        ebml::close_master(cluster, out);
        seal_crc(out, crc_at);
    }
    {
        auto cues = ebml::open_master(ids::kCues, out);
        ebml::write_binary(0xBB, Bytes(12, 1), out);  // a CuePoint we do not read
        ebml::close_master(cues, out);
    }
    write_tags(out, {{"ENCODER", "Lavf59.27.100"}, {"DURATION", "00:00:02.000000000"}});
    ebml::close_master(segment, out);
    return out;
}

// What mkvmerge writes for video + audio: BlockGroups (ReferenceBlock on delta frames, BlockDuration on the
// last) and laced audio (Xiph, EBML and fixed lacing).
inline Bytes mkvmerge_like_stream() {
    Bytes out;
    write_ebml_header(out);
    auto segment = ebml::open_master(ids::kSegment, out);
    write_info(out);
    write_tracks(out, {TrackSpec{.number = 1, .default_duration_ns = 40'000'000},
                       TrackSpec{.number = 2,
                                 .type = TrackType::audio,
                                 .codec = "A_AAC",
                                 .default_duration_ns = 21'333'333,
                                 .codec_private = {0x11, 0x90}}});
    auto cluster = ebml::open_master(ids::kCluster, out);
    ebml::write_uint(ids::kTimecode, 5000, out);
    write_block_group(out, block_body(1, 0, 0, {}, {payload(300, 1)}), false);
    const std::vector<Bytes> xiph = {payload(300, 2), payload(10, 3), payload(255, 4)};
    ebml::write_binary(ids::kSimpleBlock, block_body(2, 0, 0x80 | 0x02, xiph_lace_header(xiph), xiph), out);
    write_block_group(out, block_body(1, 40, 0, {}, {payload(50, 5)}), true);
    const std::vector<Bytes> laced = {payload(200, 6), payload(100, 7), payload(150, 8), payload(10, 9)};
    write_block_group(out, block_body(2, 64, 0x06, ebml_lace_header(laced), laced), false, 80);
    const std::vector<Bytes> fixed = {payload(32, 10), payload(32, 11)};
    ebml::write_binary(ids::kSimpleBlock, block_body(2, 150, 0x80 | 0x04, fixed_lace_header(fixed), fixed),
                       out);
    write_block_group(out, block_body(1, 80, 0, {}, {payload(60, 12)}), true, 40);
    ebml::close_master(cluster, out);
    ebml::close_master(segment, out);
    return out;
}

// What KVS GetMedia sends: per fragment a complete stream (EBML header, unknown-size Segment, Info, Tracks,
// Tags, Cluster, Tags), concatenated.
inline Bytes get_media_stream(int fragments = 3) {
    Bytes out;
    for (int i = 0; i < fragments; ++i) {
        write_ebml_header(out);
        ebml::open_unknown_size_master(ids::kSegment, out);
        write_info(out);
        write_tracks(out, {TrackSpec{}});
        write_tags(out, {{"AWS_KINESISVIDEO_FRAGMENT_NUMBER", std::to_string(9134 + i)},
                         {"AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1700000000." + std::to_string(100 + i)}});
        ebml::open_unknown_size_master(ids::kCluster, out);
        ebml::write_uint(ids::kTimecode, 1'700'000'000'000ull + 1000u * static_cast<unsigned>(i), out);
        write_simple_block(out, 1, 0, true, payload(80, static_cast<std::uint8_t>(i)));
        write_simple_block(out, 1, 500, false, payload(30, static_cast<std::uint8_t>(i + 1)));
        write_tags(out, {{"AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "120"}});
    }
    return out;
}

}  // namespace kinema::media::test
