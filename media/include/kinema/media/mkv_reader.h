// An incremental (push) Matroska reader.
//
// Bytes arrive in chunks of any size, one byte at a time included. The reader never buffers a whole
// Cluster: it keeps at most one element header and one block (frame) at a time, and hands frames out as
// soon as their block is complete, with the payload pointing into the caller's chunk when the block lies
// inside it (zero copy) or into the reader's one-block buffer otherwise.
//
// It reads what KVS producers send (unknown-size Segment and Clusters) and what other muxers write
// (ffmpeg, GStreamer matroskamux, mkvmerge: known sizes, SeekHead, Cues, Void, CRC-32, Chapters, Tags,
// BlockGroups, laced blocks), and concatenated streams (one EBML header + Segment after another, as
// KVS GetMedia sends). A master's CRC-32 (its first child) is checked when the master ends:
// Errc::crc_mismatch.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kinema/media/error.h"
#include "kinema/media/mkv_types.h"

namespace kinema::media {

// Callbacks, all on the thread calling feed()/finish(), in stream order.
class MkvReaderHandler {
public:
    virtual ~MkvReaderHandler() = default;
    // A Segment's headers (EBML header, Info, Tracks) have been read. Called once per Segment; `offset` is
    // the absolute offset of that segment's EBML header.
    virtual void on_segment(const SegmentHeader& /*header*/, std::uint64_t /*offset*/) {}
    // A Cluster began and its Timecode has been read. `offset` is the Cluster element's offset.
    virtual void on_fragment_begin(std::uint64_t /*offset*/, std::int64_t /*timecode*/) {}
    virtual void on_frame(const Frame& /*frame*/) {}
    // A Cluster ended: at its known size, or for an unknown-size Cluster when the next top-level element
    // (or the next EBML header) begins, or at finish().
    virtual void on_fragment_end(const FragmentInfo& /*fragment*/) {}
    // A Tags element (top level, between clusters or before them) with its SimpleTags flattened.
    virtual void on_tags(const std::vector<SimpleTag>& /*tags*/, std::uint64_t /*offset*/) {}
};

struct MkvReaderLimits {
    std::uint64_t max_block_size = 64ull << 20;   // one SimpleBlock/BlockGroup (a frame)
    std::uint64_t max_header_size = 4ull << 20;   // EBML header, Info, Tracks, Tags: parsed in memory
    std::uint64_t max_element_size = 1ull << 40;  // any known element size; larger is an error
    std::uint32_t max_depth = 16;                 // nesting of master elements
    std::uint32_t max_tracks = 64;
};

class MkvReader {
public:
    explicit MkvReader(MkvReaderHandler& handler, MkvReaderLimits limits = {});
    ~MkvReader();
    MkvReader(const MkvReader&) = delete;
    MkvReader& operator=(const MkvReader&) = delete;

    // Parses the next bytes. On error the reader stays failed and returns the same error from then on;
    // the error names the absolute byte offset and the element being read.
    ParseError feed(std::span<const std::uint8_t> bytes);
    // End of input: completes an open unknown-size Cluster. Input that ends inside an element is
    // Errc::truncated (what was complete before it has been delivered).
    ParseError finish();

    // Total bytes accepted so far (the absolute offset of the next byte).
    std::uint64_t offset() const noexcept;
    // Headers of the current Segment, or nullptr before its Tracks have been read.
    const SegmentHeader* header() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::media
