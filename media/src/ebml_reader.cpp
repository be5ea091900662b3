#include "ebml_reader.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

#include "crc32.h"
#include "kinema/media/ebml_ids.h"

namespace kinema::media::ebml {
namespace {

// Buffers for values that span chunks grow with the data received, starting at most this large, so a
// forged size never allocates memory the input does not back.
constexpr std::size_t kInitialValueReserve = 256 * 1024;

enum class HeaderStatus : std::uint8_t { complete, need_more, bad_id_length, reserved_id, bad_size_length };

struct RawHeader {
    std::uint32_t id = 0;
    std::uint64_t size = 0;
    std::uint8_t length = 0;
    bool unknown_size = false;
};

// Parses an element header from the first `n` bytes of `p`. When they do not suffice, `needed` is the
// header length known so far (so a caller copies no byte past the header).
HeaderStatus parse_header(const std::uint8_t* p, std::size_t n, RawHeader& out,
                          std::size_t& needed) noexcept {
    if (n == 0) {
        needed = 1;
        return HeaderStatus::need_more;
    }
    const int id_length = vint_length(p[0]);
    if (id_length == 0 || id_length > kMaxIdLength) return HeaderStatus::bad_id_length;
    if (n < static_cast<std::size_t>(id_length) + 1) {
        needed = static_cast<std::size_t>(id_length) + 1;
        return HeaderStatus::need_more;
    }
    std::uint32_t id = 0;
    for (int i = 0; i < id_length; ++i)
        id = (id << 8) | p[i];
    out.id = id;
    // RFC 8794 5: an id whose value bits are all zeros or all ones is reserved.
    const std::uint32_t id_value_mask = (1u << (7 * id_length)) - 1;
    if ((id & id_value_mask) == 0 || (id & id_value_mask) == id_value_mask) return HeaderStatus::reserved_id;
    const int size_length = vint_length(p[id_length]);
    if (size_length == 0) return HeaderStatus::bad_size_length;
    const auto total = static_cast<std::size_t>(id_length + size_length);
    if (n < total) {
        needed = total;
        return HeaderStatus::need_more;
    }
    std::uint64_t size = p[id_length] & (0xFFu >> size_length);
    for (int i = 1; i < size_length; ++i)
        size = (size << 8) | p[id_length + i];
    out.size = size;
    out.unknown_size = size == (1ull << (7 * size_length)) - 1;
    out.length = static_cast<std::uint8_t>(total);
    return HeaderStatus::complete;
}

std::string hex_byte(std::uint8_t b) {
    char text[8];
    std::snprintf(text, sizeof text, "0x%02X", b);
    return text;
}

std::string element_label(std::uint32_t id) {
    if (id == 0) return "the top level";
    auto name = ebml_id::element_name(id);
    if (!name.empty()) return std::string(name);
    char text[16];
    std::snprintf(text, sizeof text, "0x%X", id);
    return text;
}

}  // namespace

EbmlReader::EbmlReader(EbmlHandler& handler, EbmlReaderLimits limits) : handler_(handler), limits_(limits) {
    stack_.reserve(std::min<std::uint32_t>(limits_.max_depth, 32));
}

void EbmlReader::fail(Errc code, std::uint64_t offset, std::uint32_t element_id, std::string detail) {
    error_.code = make_error_code(code);
    error_.offset = offset;
    error_.element_id = element_id;
    error_.detail = std::move(detail);
}

ParseError EbmlReader::feed(std::span<const std::uint8_t> bytes) {
    if (error_) return error_;
    const std::uint8_t* data = bytes.data();
    const std::size_t size = bytes.size();
    std::size_t pos = 0;
    chunk_end_ = offset_ + size;
    for (;;) {
        if (state_ == State::header && header_len_ == 0) {
            // Masters that end here (at their size, or at the end of a known-size parent) end first, so
            // their end is reported in the same call whatever the chunking.
            while (!stack_.empty() && stack_.back().bound == offset_) {
                end_master(offset_);
                if (error_) return error_;
            }
        }
        if (pos == size) break;
        const std::size_t available = size - pos;
        switch (state_) {
            case State::header:
                pos += read_header(data + pos, available);
                break;
            case State::value:
                if (remaining_ == current_.size && available >= remaining_) {
                    // The whole value is in this chunk: hand it out in place.
                    const auto length = static_cast<std::size_t>(remaining_);
                    pos += length;
                    offset_ += length;
                    state_ = State::header;
                    add_to_crcs({data + pos - length, length});
                    deliver_value({data + pos - length, length}, false);
                } else {
                    const auto take =
                        static_cast<std::size_t>(std::min<std::uint64_t>(available, remaining_));
                    if (value_buf_.empty()) {
                        value_buf_.reserve(static_cast<std::size_t>(
                            std::min<std::uint64_t>(current_.size, kInitialValueReserve)));
                    }
                    value_buf_.insert(value_buf_.end(), data + pos, data + pos + take);
                    add_to_crcs({data + pos, take});
                    pos += take;
                    offset_ += take;
                    remaining_ -= take;
                    if (remaining_ == 0) {
                        state_ = State::header;
                        deliver_value(value_buf_, true);
                    }
                }
                break;
            case State::skip: {
                const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(available, remaining_));
                add_to_crcs({data + pos, take});
                pos += take;
                offset_ += take;
                remaining_ -= take;
                if (remaining_ == 0) state_ = State::header;
                break;
            }
        }
        if (error_) return error_;
    }
    return {};
}

std::size_t EbmlReader::read_header(const std::uint8_t* data, std::size_t size) {
    // Bytes of this header read from earlier chunks are already counted in offset_.
    const std::uint64_t header_offset = offset_ - header_len_;
    RawHeader raw;
    std::size_t needed = 0;
    std::size_t consumed = 0;
    HeaderStatus status = HeaderStatus::need_more;
    if (header_len_ == 0) {
        // Common case: the whole header is in this chunk; parse it in place.
        status = parse_header(data, size, raw, needed);
        if (status == HeaderStatus::complete) consumed = raw.length;
    }
    while (status == HeaderStatus::need_more) {
        status = parse_header(header_buf_, header_len_, raw, needed);
        if (status != HeaderStatus::need_more) break;
        if (consumed == size) {
            offset_ += consumed;
            return consumed;
        }
        const std::size_t take = std::min(needed - header_len_, size - consumed);
        std::memcpy(header_buf_ + header_len_, data + consumed, take);
        header_len_ += take;
        consumed += take;
    }
    offset_ += consumed;
    const std::uint8_t* bytes = header_len_ != 0 ? header_buf_ : data;
    header_len_ = 0;
    switch (status) {
        case HeaderStatus::complete: {
            ElementHeader element;
            element.id = raw.id;
            element.offset = header_offset;
            element.size = raw.unknown_size ? 0 : raw.size;
            element.header_size = raw.length;
            element.unknown_size = raw.unknown_size;
            start_element(element);
            // After start_element: the header of an element that ends an unknown-size master is not that
            // master's data, and a new master's own header is not in its CRC.
            if (!error_) add_to_crcs({bytes, raw.length});
            break;
        }
        case HeaderStatus::bad_id_length:
            fail(Errc::invalid_vint, header_offset, context_id(),
                 "element id starting with byte " + hex_byte(bytes[0]) + " (ids are 1 to 4 bytes) inside " +
                     element_label(context_id()));
            break;
        case HeaderStatus::reserved_id:
            fail(Errc::invalid_vint, header_offset, context_id(),
                 "reserved element id " + element_label(raw.id) + " inside " + element_label(context_id()));
            break;
        case HeaderStatus::bad_size_length:
            fail(Errc::invalid_vint, header_offset, raw.id != 0 ? raw.id : context_id(),
                 "element size starting with byte 0x00 (sizes are 1 to 8 bytes)");
            break;
        case HeaderStatus::need_more:
            break;
    }
    return consumed;
}

void EbmlReader::start_element(const ElementHeader& element) {
    // RFC 8794 6.2: an unknown-size master ends where an element that cannot be its child begins.
    while (!stack_.empty() && stack_.back().header.unknown_size &&
           handler_.ends_unknown_size(stack_.back().header.id, element.id)) {
        end_master(element.offset);
        if (error_) return;
    }
    const std::uint64_t limit = bound();
    if (element.data_offset() > limit) {
        fail(
            Errc::child_overflows_parent, element.offset, element.id,
            "header crosses the end of " + element_label(context_id()) + " at byte " + std::to_string(limit));
        return;
    }
    if (!element.unknown_size) {
        if (element.size > limits_.max_element_size) {
            fail(Errc::element_too_large, element.offset, element.id,
                 std::to_string(element.size) + " bytes, limit " + std::to_string(limits_.max_element_size));
            return;
        }
        if (element.size > limit - element.data_offset()) {
            fail(Errc::child_overflows_parent, element.offset, element.id,
                 std::to_string(element.size) + " bytes run past the end of " + element_label(context_id()) +
                     " at byte " + std::to_string(limit));
            return;
        }
    }
    if (element.id == ebml_id::kCrc32 && !stack_.empty() &&
        element.offset == stack_.back().header.data_offset()) {
        if (element.unknown_size || element.size != 4) {
            fail(Errc::invalid_element_size, element.offset, element.id,
                 "CRC-32 element of " +
                     (element.unknown_size ? std::string("unknown size")
                                           : std::to_string(element.size) + " bytes") +
                     " in " + element_label(context_id()) + " (it has 4)");
            return;
        }
        current_ = element;
        remaining_ = element.size;
        value_buf_.clear();
        reading_crc_ = true;
        state_ = State::value;
        return;
    }
    Action action = Action::skip;
    if (auto e = handler_.on_element(element, stack_.empty() ? nullptr : &stack_.back().header, action)) {
        error_ = std::move(e);
        return;
    }
    if (action != Action::descend && element.unknown_size) {
        fail(Errc::unknown_size_not_allowed, element.offset, element.id,
             "only masters may have an unknown size");
        return;
    }
    switch (action) {
        case Action::descend:
            if (stack_.size() >= limits_.max_depth) {
                fail(Errc::nesting_too_deep, element.offset, element.id,
                     "more than " + std::to_string(limits_.max_depth) + " nested masters");
                return;
            }
            stack_.push_back({element, element.unknown_size ? limit : element.end()});
            break;
        case Action::read:
            current_ = element;
            remaining_ = element.size;
            value_buf_.clear();
            if (remaining_ == 0) {
                deliver_value({}, false);
            } else {
                state_ = State::value;
            }
            break;
        case Action::skip:
            remaining_ = element.size;
            if (remaining_ != 0) state_ = State::skip;
            break;
    }
}

void EbmlReader::deliver_value(std::span<const std::uint8_t> value, bool buffered) {
    if (reading_crc_) {
        reading_crc_ = false;
        OpenMaster& master = stack_.back();
        // Little-endian (RFC 8794 section 11.3.1), unlike every other EBML integer.
        master.crc_expected =
            static_cast<std::uint32_t>(value[0]) | static_cast<std::uint32_t>(value[1]) << 8 |
            static_cast<std::uint32_t>(value[2]) << 16 | static_cast<std::uint32_t>(value[3]) << 24;
        master.crc = 0;
        master.crc_checked = true;
        ++crc_masters_;
        return;
    }
    value_buffered_ = buffered;
    if (auto e = handler_.on_value(current_, value)) error_ = std::move(e);
}

void EbmlReader::add_to_crcs(std::span<const std::uint8_t> bytes) noexcept {
    if (crc_masters_ == 0 || bytes.empty()) return;
    for (auto& master : stack_)
        if (master.crc_checked) master.crc = crc32_update(master.crc, bytes);
}

void EbmlReader::end_master(std::uint64_t end_offset) {
    const OpenMaster master = stack_.back();
    ElementHeader element = master.header;
    stack_.pop_back();
    if (element.unknown_size) element.size = end_offset - element.data_offset();
    if (master.crc_checked) {
        --crc_masters_;
        if (master.crc != master.crc_expected) {
            char text[96];
            std::snprintf(text, sizeof text, "CRC-32 0x%08X stored, 0x%08X computed", master.crc_expected,
                          master.crc);
            fail(Errc::crc_mismatch, element.offset, element.id,
                 std::string(text) + " over the " + element_label(element.id) + "'s data after it");
            return;
        }
    }
    if (auto e = handler_.on_master_end(element)) error_ = std::move(e);
}

ParseError EbmlReader::finish() {
    if (error_) return error_;
    if (state_ != State::header || header_len_ != 0) {
        const bool in_header = state_ == State::header;
        fail(Errc::truncated, offset_, in_header ? context_id() : current_.id,
             in_header ? "input ends inside an element header in " + element_label(context_id())
                       : "input ends " + std::to_string(remaining_) + " bytes before the end of the element");
        return error_;
    }
    // An open known-size master (or one bounded by it) did not get all its bytes.
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
        if (!it->header.unknown_size) {
            fail(Errc::truncated, offset_, it->header.id,
                 "input ends " + std::to_string(it->header.end() - offset_) + " bytes before the end of " +
                     element_label(it->header.id));
            return error_;
        }
    }
    while (!stack_.empty()) {
        end_master(offset_);
        if (error_) return error_;
    }
    return {};
}

std::error_code decode_uint(std::span<const std::uint8_t> value, std::uint64_t& out) noexcept {
    if (value.size() > 8) return Errc::invalid_element_size;
    std::uint64_t v = 0;
    for (auto b : value)
        v = (v << 8) | b;
    out = v;
    return {};
}

std::error_code decode_int(std::span<const std::uint8_t> value, std::int64_t& out) noexcept {
    if (value.size() > 8) return Errc::invalid_element_size;
    if (value.empty()) {
        out = 0;
        return {};
    }
    // Sign-extend from the first byte, then shift the rest in (two's complement, big-endian).
    std::uint64_t v = (value[0] & 0x80) ? ~0ull : 0ull;
    for (auto b : value)
        v = (v << 8) | b;
    out = static_cast<std::int64_t>(v);
    return {};
}

std::error_code decode_float(std::span<const std::uint8_t> value, double& out) noexcept {
    std::uint64_t bits = 0;
    switch (value.size()) {
        case 0:
            out = 0;
            return {};
        case 4:
            decode_uint(value, bits);
            out = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
            return {};
        case 8:
            decode_uint(value, bits);
            out = std::bit_cast<double>(bits);
            return {};
        default:
            return Errc::invalid_element_size;
    }
}

std::error_code decode_date(std::span<const std::uint8_t> value, std::int64_t& ns_since_2001) noexcept {
    if (value.size() != 0 && value.size() != 8) return Errc::invalid_element_size;
    return decode_int(value, ns_since_2001);
}

std::string_view decode_string(std::span<const std::uint8_t> value) noexcept {
    if (value.empty()) return {};
    const auto* begin = reinterpret_cast<const char*>(value.data());
    const auto* nul = static_cast<const char*>(std::memchr(begin, 0, value.size()));
    return {begin, nul != nullptr ? static_cast<std::size_t>(nul - begin) : value.size()};
}

}  // namespace kinema::media::ebml
