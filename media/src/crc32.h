// CRC-32 as EBML's CRC-32 element carries it (RFC 8794 section 11.3.1: ISO 3309 / ITU-T V.42, the IEEE
// polynomial, reflected; the same function as zlib's crc32()). Private to kinema::media.
#pragma once

#include <cstdint>
#include <span>

namespace kinema::media {

// Continues `crc` (0 to start; the result of an earlier call otherwise) over `bytes`.
std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::uint8_t> bytes) noexcept;

}  // namespace kinema::media
