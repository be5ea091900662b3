// The stream header GetMedia and the live fan-out send in front of fragments, made from the header bytes a
// producer sent (EBML header + Segment + Info + Tracks, stored once per session with put_header).
//
// The producer's own elements are kept byte for byte (Info, Tracks and any Tags before the first Cluster),
// so codec private data and track details nothing in Kinema models survive. What only made sense in the
// producer's file is dropped: a known Segment size (rewritten as unknown size, since clusters are added
// live), SeekHead, Cues, Chapters, Attachments, Void and CRC-32 elements (their offsets would be wrong), and
// a second Info or Tracks (each may occur once; the MKV reader, like every player, reads the first).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace kinema::server {

using Bytes = std::vector<std::uint8_t>;

struct StreamHeader {
    Bytes bytes;  // EBML header + Segment (unknown size) + Info + Tracks [+ Tags]
    std::uint64_t timecode_scale_ns = 1'000'000;  // from Info (Matroska's default when absent)
};

// nullopt when `raw` does not start with an EBML header and a Segment holding known-size Info and Tracks.
std::optional<StreamHeader> normalize_stream_header(std::span<const std::uint8_t> raw);

}  // namespace kinema::server
