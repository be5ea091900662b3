// The KVS stream shape (what the KVS producer's mkvgen writes): EBML header, Segment of unknown size,
// Info, Tracks, then Clusters of unknown size holding SimpleBlocks, with Tags where the server adds them.
#include "kinema/media/mkv_writer.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <utility>

#include "kinema/media/ebml_ids.h"
#include "kinema/media/ebml_writer.h"
#include "kinema/media/error.h"

namespace kinema::media {
namespace {

namespace id = ebml_id;

constexpr std::string_view kDefaultApp = "kinema";

// Cluster id (4) + unknown size (8) + Timecode element (1 id + 1 size + 8 value).
constexpr std::size_t kMaxClusterStartSize = 4 + 8 + 1 + 1 + 8;
// SimpleBlock id (1) + size vint (8) + track vint (8) + int16 timecode (2) + flags (1).
constexpr std::size_t kMaxBlockHeaderSize = 1 + 8 + 8 + 2 + 1;

bool fits_int16(std::int64_t value) {
    return value >= std::numeric_limits<std::int16_t>::min() &&
           value <= std::numeric_limits<std::int16_t>::max();
}

// Makes room for `extra` more bytes with geometric growth, so that a frame costs at most one reallocation
// and a stream of frames amortises to none; the payload is then copied once, by the insert that follows.
void reserve_more(Bytes& out, std::size_t extra) {
    if (out.capacity() - out.size() >= extra) return;
    out.reserve(std::max(out.size() + extra, out.capacity() * 2));
}

// Appends a size vint of the shortest form to a fixed header buffer; returns the new end.
std::size_t put_vint(std::uint64_t value, std::uint8_t* header, std::size_t pos) {
    int length = ebml::size_length(value);
    std::uint64_t coded = value | (std::uint64_t{1} << (7 * length));
    for (int i = length - 1; i >= 0; --i)
        header[pos++] = static_cast<std::uint8_t>(coded >> (8 * i));
    return pos;
}

// A SimpleBlock's bytes before its payload. The caller has checked the track number and the timecode range.
std::size_t put_simple_block_header(std::uint64_t track, std::int16_t relative_timecode, bool key,
                                    std::size_t payload_size, std::uint8_t* header) {
    std::size_t pos = 0;
    header[pos++] = static_cast<std::uint8_t>(id::kSimpleBlock);
    std::uint64_t body = static_cast<std::uint64_t>(ebml::size_length(track)) + 3 + payload_size;
    pos = put_vint(body, header, pos);
    pos = put_vint(track, header, pos);
    auto timecode = static_cast<std::uint16_t>(relative_timecode);
    header[pos++] = static_cast<std::uint8_t>(timecode >> 8);
    header[pos++] = static_cast<std::uint8_t>(timecode);
    header[pos++] = key ? 0x80 : 0x00;  // no lacing, visible, not discardable
    return pos;
}

// The SimpleBlock, with its header built on the stack and the payload appended by one insert. The caller
// has checked the track number and the timecode range.
void append_simple_block(std::uint64_t track, std::int16_t relative_timecode, bool key,
                         std::span<const std::uint8_t> payload, Bytes& out) {
    std::array<std::uint8_t, kMaxBlockHeaderSize> header;
    const std::size_t pos =
        put_simple_block_header(track, relative_timecode, key, payload.size(), header.data());
    reserve_more(out, pos + payload.size());
    out.insert(out.end(), header.begin(), header.begin() + static_cast<std::ptrdiff_t>(pos));
    out.insert(out.end(), payload.begin(), payload.end());
}

bool valid_track_number(std::uint64_t track) {
    return track != 0 && track <= ebml::kMaxSize;
}

void write_track_entry(const TrackInfo& track, Bytes& out) {
    auto entry = ebml::open_master(id::kTrackEntry, out);
    ebml::write_uint(id::kTrackNumber, track.number, out);
    ebml::write_uint(id::kTrackUid, track.uid, out);
    ebml::write_uint(id::kTrackType, static_cast<std::uint64_t>(track.type), out);
    if (!track.name.empty()) ebml::write_string(id::kName, track.name, out);
    ebml::write_string(id::kCodecId, track.codec_id, out);
    if (!track.codec_private.empty()) ebml::write_binary(id::kCodecPrivate, track.codec_private, out);
    if (track.default_duration_ns != 0)
        ebml::write_uint(id::kDefaultDuration, track.default_duration_ns, out);
    // PixelWidth/PixelHeight and SamplingFrequency must be non-zero when present; an unknown value is left
    // out rather than written as an invalid zero.
    if (track.type == TrackType::video && track.pixel_width != 0 && track.pixel_height != 0) {
        auto video = ebml::open_master(id::kVideo, out);
        ebml::write_uint(id::kPixelWidth, track.pixel_width, out);
        ebml::write_uint(id::kPixelHeight, track.pixel_height, out);
        ebml::close_master(video, out);
    } else if (track.type == TrackType::audio) {
        auto audio = ebml::open_master(id::kAudio, out);
        if (track.sampling_frequency > 0)
            ebml::write_float(id::kSamplingFrequency, track.sampling_frequency, out);
        if (track.channels != 0) ebml::write_uint(id::kChannels, track.channels, out);
        ebml::close_master(audio, out);
    }
    ebml::close_master(entry, out);
}

}  // namespace

namespace mkv {

void write_stream_header(const SegmentHeader& header, Bytes& out) {
    auto ebml_header = ebml::open_master(id::kEbml, out);
    ebml::write_uint(id::kEbmlVersion, 1, out);
    ebml::write_uint(id::kEbmlReadVersion, 1, out);
    ebml::write_uint(id::kEbmlMaxIdLength, 4, out);
    ebml::write_uint(id::kEbmlMaxSizeLength, 8, out);
    ebml::write_string(id::kDocType, "matroska", out);
    ebml::write_uint(id::kDocTypeVersion, 4, out);
    ebml::write_uint(id::kDocTypeReadVersion, 2, out);
    ebml::close_master(ebml_header, out);

    // A live stream has no end to measure, so the Segment has unknown size.
    ebml::open_unknown_size_master(id::kSegment, out);

    auto info = ebml::open_master(id::kInfo, out);
    ebml::write_uint(id::kTimecodeScale, header.timecode_scale_ns, out);
    ebml::write_string(id::kMuxingApp, header.muxing_app.empty() ? kDefaultApp : header.muxing_app, out);
    ebml::write_string(id::kWritingApp, header.writing_app.empty() ? kDefaultApp : header.writing_app, out);
    ebml::close_master(info, out);

    auto tracks = ebml::open_master(id::kTracks, out);
    for (const auto& track : header.tracks)
        write_track_entry(track, out);
    ebml::close_master(tracks, out);
}

void write_cluster_start(std::int64_t timecode, Bytes& out) {
    // Cluster Timecode is an unsigned integer; a negative one is a caller bug, not a stream condition.
    if (timecode < 0) throw std::invalid_argument("mkv::write_cluster_start: negative cluster timecode");
    ebml::open_unknown_size_master(id::kCluster, out);
    ebml::write_uint(id::kTimecode, static_cast<std::uint64_t>(timecode), out);
}

std::size_t simple_block_header(std::uint64_t track, std::int64_t relative_timecode, bool key,
                                std::size_t payload_size,
                                std::span<std::uint8_t, kMaxSimpleBlockHeaderBytes> out) {
    static_assert(kMaxSimpleBlockHeaderBytes == kMaxBlockHeaderSize);
    if (!fits_int16(relative_timecode) || !valid_track_number(track)) return 0;
    return put_simple_block_header(track, static_cast<std::int16_t>(relative_timecode), key, payload_size,
                                   out.data());
}

std::error_code write_simple_block(std::uint64_t track, std::int64_t relative_timecode, bool key,
                                   std::span<const std::uint8_t> payload, Bytes& out) {
    if (!fits_int16(relative_timecode)) return Errc::timecode_out_of_range;
    if (!valid_track_number(track)) return Errc::invalid_argument;
    append_simple_block(track, static_cast<std::int16_t>(relative_timecode), key, payload, out);
    return {};
}

void write_tags(std::span<const SimpleTag> tags, Bytes& out) {
    auto tags_element = ebml::open_master(id::kTags, out);
    auto tag = ebml::open_master(id::kTag, out);
    // Empty Targets: the tags apply to the whole segment (TargetTypeValue defaults to 50).
    auto targets = ebml::open_master(id::kTargets, out);
    ebml::close_master(targets, out);
    for (const auto& simple : tags) {
        auto element = ebml::open_master(id::kSimpleTag, out);
        ebml::write_string(id::kTagName, simple.name, out);
        ebml::write_string(id::kTagString, simple.value, out);
        ebml::close_master(element, out);
    }
    ebml::close_master(tag, out);
    ebml::close_master(tags_element, out);
}

}  // namespace mkv

MkvWriter::MkvWriter(MkvWriterOptions options) : options_(std::move(options)) {
    if (options_.header.timecode_scale_ns == 0 ||
        options_.header.timecode_scale_ns >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw std::invalid_argument("MkvWriter: timecode scale must be between 1 ns and INT64_MAX ns");
    }
}

void MkvWriter::write_header(Bytes& out) const {
    mkv::write_stream_header(options_.header, out);
}

void MkvWriter::reset_fragment() noexcept {
    // The previous cluster's timecode is kept: timecodes of a stream must not go back across a reconnect.
    in_cluster_ = false;
}

std::error_code MkvWriter::write_frame(const FrameInput& frame, Bytes& out, bool* new_fragment) {
    if (new_fragment != nullptr) *new_fragment = false;
    if (options_.header.find_track(frame.track) == nullptr || !valid_track_number(frame.track)) {
        return Errc::invalid_argument;
    }
    const std::uint64_t scale = options_.header.timecode_scale_ns;
    const Timestamp stream_time = options_.absolute_timecodes
                                      ? frame.pts
                                      : Timestamp::from_nanoseconds((frame.pts - options_.start).count());
    const std::int64_t ticks = stream_time.to_mkv_ticks(scale);

    bool start_cluster = false;
    if (!in_cluster_) {
        if (!frame.key && !allow_leading_delta) return Errc::invalid_argument;
        start_cluster = true;
    } else if (frame.key) {
        // A key frame whose offset no longer fits int16 starts a cluster even before fragment_duration:
        // that is legal and keeps a long fragment_duration from turning into errors.
        start_cluster = options_.key_frame_fragmentation ||
                        frame.pts - cluster_start_ >= options_.fragment_duration ||
                        !fits_int16(ticks - cluster_timecode_);
    }

    std::int64_t relative = 0;
    if (start_cluster) {
        if (ticks < 0) return Errc::timecode_out_of_range;  // Cluster Timecode is unsigned
        if (have_previous_cluster_ && ticks < cluster_timecode_) return Errc::timecode_went_backwards;
    } else {
        relative = ticks - cluster_timecode_;
        if (!fits_int16(relative)) return Errc::timecode_out_of_range;
    }

    reserve_more(out,
                 (start_cluster ? kMaxClusterStartSize : 0) + kMaxBlockHeaderSize + frame.payload.size());
    if (start_cluster) {
        mkv::write_cluster_start(ticks, out);
        in_cluster_ = true;
        have_previous_cluster_ = true;
        cluster_timecode_ = ticks;
        cluster_start_ = frame.pts;
        if (new_fragment != nullptr) *new_fragment = true;
    }
    append_simple_block(frame.track, static_cast<std::int16_t>(relative), frame.key, frame.payload, out);
    return {};
}

}  // namespace kinema::media
