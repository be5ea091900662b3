// EBML serialisation primitives (RFC 8794): element ids, variable-length sizes and typed elements,
// appended to a byte buffer.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace kinema::media::ebml {

using Bytes = std::vector<std::uint8_t>;

// The reserved all-ones size value that means "unknown size" (8-byte form: 01 FF FF FF FF FF FF FF).
inline constexpr std::uint64_t kUnknownSize = 0x00FFFFFFFFFFFFFFull;
// Largest size an 8-byte vint can express (2^56 - 2).
inline constexpr std::uint64_t kMaxSize = 0x00FFFFFFFFFFFFFEull;

// Bytes the shortest size vint for `value` takes (1..8); values of all ones for their width are skipped,
// since they are reserved.
int size_length(std::uint64_t value) noexcept;

void write_id(std::uint32_t id, Bytes& out);
// Writes `value` as a size vint of `length` bytes (0: shortest).
void write_size(std::uint64_t value, Bytes& out, int length = 0);
void write_unknown_size(Bytes& out);

void write_uint(std::uint32_t id, std::uint64_t value, Bytes& out);
void write_int(std::uint32_t id, std::int64_t value, Bytes& out);
void write_float(std::uint32_t id, double value, Bytes& out);  // 8-byte IEEE 754
void write_string(std::uint32_t id, std::string_view value, Bytes& out);
void write_binary(std::uint32_t id, std::span<const std::uint8_t> value, Bytes& out);
// Date: signed nanoseconds since 2001-01-01T00:00:00 UTC.
void write_date(std::uint32_t id, std::int64_t ns_since_2001, Bytes& out);

// A master element whose size is patched when it is closed:
//   auto m = ebml::open_master(id::kInfo, out); ...children...; ebml::close_master(m, out);
struct OpenMaster {
    std::size_t size_pos;  // where the 8-byte size placeholder starts
};
OpenMaster open_master(std::uint32_t id, Bytes& out);
void close_master(OpenMaster master, Bytes& out);
// A master element of unknown size (Segment, live Clusters): only its id and the unknown-size marker.
void open_unknown_size_master(std::uint32_t id, Bytes& out);

}  // namespace kinema::media::ebml
