// A generic incremental (push) EBML parser (RFC 8794), private to kinema::media.
//
// Bytes arrive in chunks of any size. The parser reads element headers (id and size vints, unknown sizes
// included), keeps the stack of open master elements and asks a handler, element by element, whether to
// descend into it, read its value or skip it. It never buffers more than one element header and one value
// the handler asked to read; a value that lies wholly inside the caller's chunk is handed out as a span into
// that chunk (zero copy).
//
// What is a child of what is the handler's business (the schema); the parser only asks it whether an
// element ends an open unknown-size master (RFC 8794 section 6.2: a sibling or parent level element does).
//
// CRC-32 elements are the parser's own (RFC 8794 section 11.3.1): one that is the first child of a master
// is read here, not shown to the handler, and checked against the rest of the master's data when the
// master ends (Errc::crc_mismatch, before the handler hears of the end). One anywhere else covers nothing
// the specification defines and goes to the handler like any element.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "kinema/media/error.h"

namespace kinema::media::ebml {

struct ElementHeader {
    std::uint32_t id = 0;      // with its length-marker bits, as in ebml_ids.h
    std::uint64_t offset = 0;  // absolute offset of the element's first byte (its id)
    // Value size. For an unknown-size master it is 0 while open and its measured size when it ends.
    std::uint64_t size = 0;
    std::uint8_t header_size = 0;  // id + size vint bytes
    bool unknown_size = false;

    std::uint64_t data_offset() const noexcept { return offset + header_size; }
    std::uint64_t end() const noexcept { return data_offset() + size; }
    std::uint64_t total_size() const noexcept { return header_size + size; }
};

enum class Action : std::uint8_t {
    descend,  // a master: its children follow, then on_master_end
    read,     // a leaf: its whole value is handed to on_value
    skip,     // ignored; its bytes are passed over without being buffered
};

class EbmlHandler {
public:
    virtual ~EbmlHandler() = default;
    // A header has been read. `parent` is the innermost open master (nullptr at the top level).
    // Returning an error stops the parser.
    virtual ParseError on_element(const ElementHeader& element, const ElementHeader* parent,
                                  Action& action) = 0;
    // The whole value of an element read with Action::read. Valid only during the call.
    virtual ParseError on_value(const ElementHeader& element, std::span<const std::uint8_t> value) = 0;
    // A master ended: at its known size, at the end of its parent, when an element that ends an
    // unknown-size master begins, or at finish().
    virtual ParseError on_master_end(const ElementHeader& element) = 0;
    // Whether an element `next_id` that begins inside the open unknown-size master `open_id` ends it.
    virtual bool ends_unknown_size(std::uint32_t open_id, std::uint32_t next_id) const = 0;
};

struct EbmlReaderLimits {
    std::uint64_t max_element_size = 1ull << 40;  // any known size above it is Errc::element_too_large
    std::uint32_t max_depth = 16;                 // open masters at once, else Errc::nesting_too_deep
};

// Element ids are at most 4 bytes and sizes at most 8 bytes (EBMLMaxIDLength/EBMLMaxSizeLength defaults).
inline constexpr int kMaxIdLength = 4;
inline constexpr int kMaxSizeLength = 8;
inline constexpr std::uint64_t kNoEnd = std::numeric_limits<std::uint64_t>::max();

class EbmlReader {
public:
    EbmlReader(EbmlHandler& handler, EbmlReaderLimits limits);

    // Parses the next bytes, calling the handler as elements are recognised. After an error the reader
    // stays failed and returns the same error.
    ParseError feed(std::span<const std::uint8_t> bytes);
    // End of input: ends open unknown-size masters (innermost first). Errc::truncated when the input ends
    // inside an element header, a value or a known-size master.
    ParseError finish();

    std::uint64_t offset() const noexcept { return offset_; }
    // Absolute offset just past the chunk being parsed: a span into that chunk stays valid while the
    // handler is called for elements that end before it.
    std::uint64_t chunk_end() const noexcept { return chunk_end_; }
    // Whether the value just handed to on_value lives in the reader's own buffer (not the caller's chunk).
    bool value_is_buffered() const noexcept { return value_buffered_; }
    // Takes the reader's value buffer (the value just handed to on_value when value_is_buffered()),
    // leaving `other`'s old storage in its place; saves a copy of a value that must outlive the call.
    void swap_value_buffer(std::vector<std::uint8_t>& other) noexcept { value_buf_.swap(other); }
    std::size_t depth() const noexcept { return stack_.size(); }
    const ParseError& error() const noexcept { return error_; }

private:
    enum class State : std::uint8_t { header, value, skip };
    struct OpenMaster {
        ElementHeader header;
        std::uint64_t bound;       // where it must end at the latest: its own end or its parent's bound
        bool crc_checked = false;  // its first child is a CRC-32 element
        std::uint32_t crc_expected = 0;
        std::uint32_t crc = 0;  // of its data after the CRC-32 element, so far
    };

    // Reads one header from `data` (complete or partial); returns bytes consumed.
    std::size_t read_header(const std::uint8_t* data, std::size_t size);
    void start_element(const ElementHeader& element);
    void end_master(std::uint64_t end_offset);
    void deliver_value(std::span<const std::uint8_t> value, bool buffered);
    // Bytes consumed, added to the CRC of every open master that has a CRC-32 element.
    void add_to_crcs(std::span<const std::uint8_t> bytes) noexcept;
    std::uint64_t bound() const noexcept { return stack_.empty() ? kNoEnd : stack_.back().bound; }
    std::uint32_t context_id() const noexcept { return stack_.empty() ? 0 : stack_.back().header.id; }
    void fail(Errc code, std::uint64_t offset, std::uint32_t element_id, std::string detail);

    EbmlHandler& handler_;
    EbmlReaderLimits limits_;
    std::vector<OpenMaster> stack_;
    State state_ = State::header;
    std::uint64_t offset_ = 0;
    std::uint64_t chunk_end_ = 0;
    // The header being read when it spans chunks.
    std::uint8_t header_buf_[kMaxIdLength + kMaxSizeLength] = {};
    std::size_t header_len_ = 0;
    // The element whose value is being read or skipped.
    ElementHeader current_;
    std::uint64_t remaining_ = 0;
    std::vector<std::uint8_t> value_buf_;
    bool value_buffered_ = false;
    bool reading_crc_ = false;     // the value being read is a CRC-32 element's, for the innermost master
    std::size_t crc_masters_ = 0;  // open masters with crc_checked
    ParseError error_;
};

// An error about `element`, at its offset.
inline ParseError make_error(std::error_code code, const ElementHeader& element, std::string detail) {
    return {code, element.offset, element.id, std::move(detail)};
}
inline ParseError make_error(Errc code, const ElementHeader& element, std::string detail) {
    return make_error(make_error_code(code), element, std::move(detail));
}

// Value decoding (RFC 8794 section 7). Each returns Errc::invalid_element_size when the value's length does
// not fit the type.
std::error_code decode_uint(std::span<const std::uint8_t> value, std::uint64_t& out) noexcept;
std::error_code decode_int(std::span<const std::uint8_t> value, std::int64_t& out) noexcept;
// 0, 4 or 8 bytes (IEEE 754 binary32/binary64).
std::error_code decode_float(std::span<const std::uint8_t> value, double& out) noexcept;
// 0 or 8 bytes: signed nanoseconds since 2001-01-01T00:00:00 UTC.
std::error_code decode_date(std::span<const std::uint8_t> value, std::int64_t& ns_since_2001) noexcept;
// String and UTF-8 values end at the first NUL (writers may pad with zeros).
std::string_view decode_string(std::span<const std::uint8_t> value) noexcept;

// Length in bytes (1..8) of a vint from its first byte, or 0 when the first byte has no length marker.
inline int vint_length(std::uint8_t first) noexcept {
    return first == 0 ? 0 : std::countl_zero(first) + 1;
}

}  // namespace kinema::media::ebml
