// Hand-written on purpose: the SDK runs on cameras and links only kinema::media, libwebsockets and the
// standard library, and an ACK is one flat object of at most five known fields. A general JSON library
// would cost more code size than the whole parser. The input comes from the network, so every read is
// bounds-checked and numbers are overflow-checked (tests/fuzz/ack_parser_fuzz.cpp).
#include "ack_parser.h"

#include <cstdint>
#include <limits>
#include <string>

#include "kinema/producer/error.h"

namespace kinema::producer {
namespace {

class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}

    void skip_space() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }
    bool consume(char c) {
        skip_space();
        if (peek() != c) return false;
        ++pos_;
        return true;
    }
    bool consume_word(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    // A JSON string, escapes decoded (\uXXXX to UTF-8; surrogate pairs joined, lone surrogates rejected).
    bool parse_string(std::string& out) {
        skip_space();
        if (peek() != '"') return false;
        ++pos_;
        out.clear();
        while (!at_end()) {
            const char c = text_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return false;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (at_end()) return false;
            const char e = text_[pos_++];
            switch (e) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!parse_hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        std::uint32_t low = 0;
                        if (!consume_word("\\u") || !parse_hex4(low) || low < 0xDC00 || low > 0xDFFF)
                            return false;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(cp, out);
                    break;
                }
                default:
                    return false;
            }
        }
        return false;
    }

    // A JSON number. Sets `is_integer` and `value` when it is an integer that fits int64.
    bool parse_number(bool& is_integer, std::int64_t& value) {
        skip_space();
        const std::size_t start = pos_;
        bool negative = false;
        if (peek() == '-') {
            negative = true;
            ++pos_;
        }
        if (!is_digit(peek())) return false;
        // Leading zeros are not JSON ("012").
        if (peek() == '0' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) return false;
        std::uint64_t magnitude = 0;
        bool overflow = false;
        constexpr std::uint64_t kLimit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        while (is_digit(peek())) {
            const auto digit = static_cast<std::uint64_t>(text_[pos_++] - '0');
            if (magnitude > (kLimit + 1 - digit) / 10) overflow = true;
            if (!overflow) magnitude = magnitude * 10 + digit;
        }
        is_integer = true;
        if (peek() == '.') {
            ++pos_;
            if (!is_digit(peek())) return false;
            while (is_digit(peek()))
                ++pos_;
            is_integer = false;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!is_digit(peek())) return false;
            while (is_digit(peek()))
                ++pos_;
            is_integer = false;
        }
        if (overflow || (!negative && magnitude > kLimit)) is_integer = false;
        if (is_integer)
            value =
                negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
        return pos_ > start;
    }

    // Skips a scalar value (string, number, true, false, null). Objects and arrays are not part of an ACK.
    bool skip_scalar() {
        skip_space();
        const char c = peek();
        if (c == '"') {
            std::string ignored;
            return parse_string(ignored);
        }
        if (c == '-' || is_digit(c)) {
            bool is_integer = false;
            std::int64_t ignored = 0;
            return parse_number(is_integer, ignored);
        }
        return consume_word("true") || consume_word("false") || consume_word("null");
    }

private:
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    bool parse_hex4(std::uint32_t& out) {
        if (text_.size() - pos_ < 4) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            std::uint32_t v = 0;
            if (h >= '0' && h <= '9')
                v = static_cast<std::uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f')
                v = static_cast<std::uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
                v = static_cast<std::uint32_t>(h - 'A' + 10);
            else
                return false;
            out = out * 16 + v;
        }
        return true;
    }

    static void append_utf8(std::uint32_t cp, std::string& out) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

bool parse_event_type(std::string_view name, AckType& type) {
    if (name == "BUFFERING")
        type = AckType::buffering;
    else if (name == "RECEIVED")
        type = AckType::received;
    else if (name == "PERSISTED")
        type = AckType::persisted;
    else if (name == "ERROR")
        type = AckType::error;
    else if (name == "IDLE")
        type = AckType::idle;
    else
        return false;
    return true;
}

}  // namespace

std::error_code parse_ack(std::string_view text, FragmentAck& ack) {
    const std::error_code invalid = make_error_code(Errc::invalid_ack);
    if (text.size() > kMaxAckSize) return invalid;
    ack = FragmentAck{};
    Cursor in(text);
    if (!in.consume('{')) return invalid;
    bool have_type = false;
    std::string key;
    std::string value;
    if (!in.consume('}')) {
        do {
            if (!in.parse_string(key) || !in.consume(':')) return invalid;
            in.skip_space();
            if (key == "EventType") {
                if (!in.parse_string(value) || !parse_event_type(value, ack.type)) return invalid;
                have_type = true;
            } else if (key == "FragmentTimecode" || key == "ErrorId") {
                bool is_integer = false;
                std::int64_t number = 0;
                if (!in.parse_number(is_integer, number) || !is_integer) return invalid;
                if (key == "FragmentTimecode") {
                    ack.fragment_timecode = number;
                    ack.has_timecode = true;
                } else {
                    if (number < std::numeric_limits<int>::min() || number > std::numeric_limits<int>::max())
                        return invalid;
                    ack.error_id = static_cast<int>(number);
                }
            } else if (key == "FragmentNumber") {
                if (!in.parse_string(ack.fragment_number)) return invalid;
            } else if (key == "ErrorCode") {
                if (!in.parse_string(ack.error_code)) return invalid;
            } else if (!in.skip_scalar()) {
                return invalid;
            }
        } while (in.consume(','));
        if (!in.consume('}')) return invalid;
    }
    in.skip_space();
    if (!in.at_end() || !have_type) return invalid;
    return {};
}

}  // namespace kinema::producer
