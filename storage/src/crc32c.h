// CRC32C (Castagnoli), the checksum of every record and index entry in the data directory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kinema::storage {

// Continues `crc` (0 to start) over `data`. Uses the SSE4.2 crc32 instruction when the CPU has it (about
// 10 GB/s, so checksumming never limits appends), otherwise a slicing-by-8 table version.
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size) noexcept;
// The table-driven version crc32c() uses without the instruction; public so tests can compare the two.
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size) noexcept;
inline std::uint32_t crc32c(std::span<const std::uint8_t> data) noexcept {
    return crc32c(0, data.data(), data.size());
}

}  // namespace kinema::storage
