// Matroska SimpleBlock/Block bodies (RFC 9559 10): track number, relative timecode, flags, and the frames of
// a laced block, private to kinema::media.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "kinema/media/error.h"

namespace kinema::media::mkv {

inline constexpr std::uint8_t kFlagKey = 0x80;  // SimpleBlock only
inline constexpr std::uint8_t kFlagInvisible = 0x08;
inline constexpr std::uint8_t kFlagLacingMask = 0x06;
inline constexpr std::uint8_t kFlagDiscardable = 0x01;  // SimpleBlock only

enum class Lacing : std::uint8_t { none = 0x00, xiph = 0x02, fixed = 0x04, ebml = 0x06 };

// A laced block holds at most 256 frames (the count is one byte, minus one).
inline constexpr std::size_t kMaxLacedFrames = 256;

struct Block {
    std::uint64_t track = 0;
    std::int16_t timecode = 0;  // relative to the cluster, in ticks
    std::uint8_t flags = 0;
    std::size_t frame_count = 0;
    // frame_sizes[i] is the size of frame i; the frames follow each other from `frames`.
    std::array<std::uint64_t, kMaxLacedFrames> frame_sizes{};
    std::span<const std::uint8_t> frames;

    Lacing lacing() const noexcept { return static_cast<Lacing>(flags & kFlagLacingMask); }
};

// Parses a SimpleBlock or Block value. On failure returns Errc::invalid_block (header too short or
// malformed) or Errc::invalid_lacing (lace sizes that do not add up), with `detail` explaining.
std::error_code parse_block(std::span<const std::uint8_t> value, Block& out, std::string& detail);

}  // namespace kinema::media::mkv
