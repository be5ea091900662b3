// Writing the KVS stream shape: EBML header, Segment of unknown size, Info, Tracks, then one Cluster per
// fragment with SimpleBlocks, and optional Tags.
//
// Two layers:
// - mkv:: free functions serialise single pieces into a byte buffer (used by the server to rebuild headers
//   and tags for GetMedia, and by tests);
// - MkvWriter turns frames into a fragmented stream, deciding where clusters start.
// Every function appends to `out`; each payload is copied exactly once.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "kinema/media/mkv_types.h"
#include "kinema/media/timestamp.h"

namespace kinema::media {

using Bytes = std::vector<std::uint8_t>;

namespace mkv {
// EBML header (DocType "matroska", version 4, read version 2), then a Segment of unknown size, Info and
// Tracks. `header.muxing_app`/`writing_app` default to "kinema" when empty.
void write_stream_header(const SegmentHeader& header, Bytes& out);
// A Cluster header of unknown size and its Timecode element.
void write_cluster_start(std::int64_t timecode, Bytes& out);
// A SimpleBlock. `relative_timecode` must fit int16, else Errc::timecode_out_of_range and nothing is written.
std::error_code write_simple_block(std::uint64_t track, std::int64_t relative_timecode, bool key,
                                   std::span<const std::uint8_t> payload, Bytes& out);
// The bytes of that SimpleBlock before its payload of `payload_size` bytes, for a writer that places the
// payload itself: how many were written to `out`, or 0 (nothing) where write_simple_block would fail.
inline constexpr std::size_t kMaxSimpleBlockHeaderBytes = 20;
std::size_t simple_block_header(std::uint64_t track, std::int64_t relative_timecode, bool key,
                                std::size_t payload_size,
                                std::span<std::uint8_t, kMaxSimpleBlockHeaderBytes> out);
// A top-level Tags element with one Tag whose SimpleTags are `tags`.
void write_tags(std::span<const SimpleTag> tags, Bytes& out);
}  // namespace mkv

struct MkvWriterOptions {
    SegmentHeader header;  // tracks and timecode scale
    // true: every key frame starts a new Cluster. false: a key frame starts a new Cluster once the current
    // one is at least fragment_duration long.
    bool key_frame_fragmentation = true;
    Duration fragment_duration = std::chrono::seconds(2);
    // true: cluster timecodes are the frames' absolute times. false: relative to `start`, as KVS's RELATIVE
    // timecode type (the producer start timestamp travels in x-amzn-producer-start-timestamp).
    bool absolute_timecodes = true;
    Timestamp start;
};

struct FrameInput {
    std::uint64_t track = 1;
    Timestamp pts;
    bool key = false;
    std::span<const std::uint8_t> payload;
};

class MkvWriter {
public:
    // Throws std::invalid_argument for a timecode scale of 0 or above INT64_MAX ns (a configuration error).
    explicit MkvWriter(MkvWriterOptions options);

    const MkvWriterOptions& options() const noexcept { return options_; }

    // EBML header + Segment + Info + Tracks. Call again after a reconnect to start a new stream.
    void write_header(Bytes& out) const;

    // Appends one frame, starting a new Cluster first when the fragmentation rule says so (the first frame
    // always starts one; it must be a key frame unless allow_leading_delta is set). Sets *new_fragment when
    // a Cluster was started. Errors (nothing is written): Errc::timecode_out_of_range when the frame's
    // offset from its cluster does not fit int16 (a key frame starts a new Cluster instead) or a Cluster
    // would start before time 0, Errc::timecode_went_backwards when a key frame would start
    // a cluster earlier than the previous one, Errc::invalid_argument for a track not in the header or a
    // leading delta frame.
    std::error_code write_frame(const FrameInput& frame, Bytes& out, bool* new_fragment = nullptr);

    // Forgets the current cluster so the next frame starts a new one (after write_header on a new stream).
    void reset_fragment() noexcept;

    bool allow_leading_delta = false;

private:
    MkvWriterOptions options_;
    bool in_cluster_ = false;
    std::int64_t cluster_timecode_ = 0;  // ticks
    Timestamp cluster_start_;
    bool have_previous_cluster_ = false;
};

}  // namespace kinema::media
