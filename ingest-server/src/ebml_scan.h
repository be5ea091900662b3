// A minimal EBML element-header scanner for bytes already in memory: the stored header and cluster bytes
// that GetMedia re-emits. Hand-written rather than going through MkvReader because the server only needs
// to step over a few top-level elements (and a Cluster's first children) to rewrite one of them, without
// parsing or copying frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace kinema::server::ebml_scan {

struct ElementHeader {
    std::uint32_t id = 0;       // with its length-marker bits, as on the wire
    std::uint64_t size = 0;     // payload size; meaningless when unknown_size
    bool unknown_size = false;  // all value bits set
    std::size_t header_length = 0;
};

// Reads the element header at the start of `bytes`; nullopt when it is malformed or incomplete.
inline std::optional<ElementHeader> read_element_header(std::span<const std::uint8_t> bytes) {
    auto vint_length = [](std::uint8_t first) -> std::size_t {
        for (std::size_t length = 1; length <= 8; ++length)
            if (first & (0x80u >> (length - 1))) return length;
        return 0;
    };
    if (bytes.empty()) return std::nullopt;
    std::size_t id_length = vint_length(bytes[0]);
    if (id_length == 0 || id_length > 4 || bytes.size() < id_length + 1) return std::nullopt;
    ElementHeader header;
    for (std::size_t i = 0; i < id_length; ++i)
        header.id = (header.id << 8) | bytes[i];
    std::size_t size_length = vint_length(bytes[id_length]);
    if (size_length == 0 || bytes.size() < id_length + size_length) return std::nullopt;
    std::uint64_t value = bytes[id_length] & (0xFFu >> size_length);
    for (std::size_t i = 1; i < size_length; ++i)
        value = (value << 8) | bytes[id_length + i];
    const std::uint64_t all_ones = (std::uint64_t{1} << (7 * size_length)) - 1;
    header.unknown_size = value == all_ones;
    header.size = value;
    header.header_length = id_length + size_length;
    return header;
}

// Reads an unsigned-integer element's payload (0-8 bytes, big endian).
inline std::optional<std::uint64_t> read_uint(std::span<const std::uint8_t> payload) {
    if (payload.size() > 8) return std::nullopt;
    std::uint64_t value = 0;
    for (auto byte : payload)
        value = (value << 8) | byte;
    return value;
}

}  // namespace kinema::server::ebml_scan
