// Errors of the media core: EBML/MKV parsing and writing, H.264 bitstream handling.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace kinema::media {

enum class Errc {
    ok = 0,
    // EBML
    invalid_vint = 1,          // a variable-length integer with no length marker in its first byte
    invalid_element_size,      // a size that does not fit the element's type (e.g. a 3-byte float)
    element_too_large,         // larger than the reader's limit
    nesting_too_deep,          // deeper than the reader's limit
    header_too_large,          // EBML header or segment headers larger than the reader's limit
    unknown_size_not_allowed,  // unknown size on an element that must have a known size
    child_overflows_parent,    // a child element extends past the end of its parent
    truncated,                 // the stream ended inside an element
    // Matroska
    invalid_ebml_header,    // missing EBML header, or a DocType that is not matroska/webm
    invalid_block,          // a SimpleBlock/Block whose header is malformed
    invalid_lacing,         // lace sizes that do not add up
    unknown_track,          // a block for a track that Tracks did not declare
    missing_tracks,         // a Cluster before any Tracks element
    timecode_out_of_range,  // a block timecode that does not fit int16 relative to its cluster
    timecode_went_backwards,
    invalid_argument,
    // H.264
    invalid_nal,             // a NAL unit that is empty or whose length prefix overruns the buffer
    invalid_sps,             // an SPS that cannot be parsed or has out-of-range values
    invalid_avcc,            // an avcC (AVCDecoderConfigurationRecord) that cannot be parsed
    missing_parameter_sets,  // no SPS/PPS where they are needed
    // EBML (numbered after the others: added later)
    crc_mismatch,  // a master's CRC-32 element does not match the master's data
};

const std::error_category& media_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), media_category()};
}

// A parse error with where it happened: the absolute byte offset in the input and the EBML id of the element
// being read (0 when none).
struct ParseError {
    std::error_code code;
    std::uint64_t offset = 0;
    std::uint32_t element_id = 0;
    std::string detail;

    explicit operator bool() const noexcept { return static_cast<bool>(code); }
    // "invalid block at byte 1234 (element 0xA3 SimpleBlock): lace sizes exceed the block"
    std::string message() const;
};

}  // namespace kinema::media

template <>
struct std::is_error_code_enum<kinema::media::Errc> : std::true_type {};
