#include "websocket_frame_reader.h"

#include <algorithm>
#include <cstring>

namespace kinema::server {

namespace {

// XORs n bytes from `from` with the masking key (starting at key byte `phase`) into `to`, where to <= from
// (the payload moves towards the front of the buffer, over the headers before it). Eight bytes at a time,
// each loaded before it is stored: with to <= from a store never reaches a byte not loaded yet.
void unmask_to(std::uint8_t* to, const std::uint8_t* from, std::size_t n,
               const std::array<std::uint8_t, 4>& key, std::size_t phase) {
    std::array<std::uint8_t, 8> rotated{};
    for (std::size_t i = 0; i < rotated.size(); ++i)
        rotated[i] = key[(phase + i) % 4];
    std::uint64_t word_key = 0;
    std::memcpy(&word_key, rotated.data(), sizeof word_key);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, from + i, sizeof word);
        word ^= word_key;
        std::memcpy(to + i, &word, sizeof word);
    }
    for (; i < n; ++i)
        to[i] = static_cast<std::uint8_t>(from[i] ^ rotated[i % 8]);
}

bool valid_close_code(std::uint16_t code) {
    // RFC 6455 section 7.4: codes a peer may send; 1004-1006 and 1015 are reserved for reporting, never sent.
    if (code >= 3000 && code <= 4999) return true;
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

}  // namespace

std::size_t WebSocketFrameReader::decode(std::span<std::uint8_t> wire) {
    std::size_t out = 0;  // data bytes at the front so far
    std::size_t at = 0;
    while (at < wire.size() && !failed() && !closed_) {
        if (!in_payload_) {
            // The header: its first two bytes say how long the rest of it is.
            if (header_size_ < 2) {
                const std::size_t n = std::min(2 - header_size_, wire.size() - at);
                std::memcpy(header_.data() + header_size_, wire.data() + at, n);
                header_size_ += n;
                at += n;
                if (header_size_ < 2) break;
            }
            const std::size_t length7 = header_[1] & 0x7f;
            const std::size_t need = 2 +
                                     (length7 == 126   ? 2
                                      : length7 == 127 ? 8
                                                       : 0) +
                                     ((header_[1] & 0x80) ? 4 : 0);
            const std::size_t n = std::min(need - header_size_, wire.size() - at);
            std::memcpy(header_.data() + header_size_, wire.data() + at, n);
            header_size_ += n;
            at += n;
            if (header_size_ < need) break;
            if (!start_frame()) break;
            if (payload_left_ == 0) end_frame();
            continue;
        }
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, wire.size() - at));
        if (opcode_ == Opcode::continuation || opcode_ == Opcode::binary) {
            unmask_to(wire.data() + out, wire.data() + at, n, key_, key_phase_);
            out += n;
        } else {
            unmask_to(control_.data() + control_size_, wire.data() + at, n, key_, key_phase_);
            control_size_ += n;
        }
        key_phase_ = (key_phase_ + n) % 4;
        payload_left_ -= n;
        at += n;
        if (payload_left_ == 0) end_frame();
    }
    return out;
}

bool WebSocketFrameReader::start_frame() noexcept {
    const std::uint8_t first = header_[0];
    fin_ = (first & 0x80) != 0;
    if (first & 0x70) {
        fail(WsCloseCode::protocol_error, "reserved bits set (no extension was negotiated)");
        return false;
    }
    if (!(header_[1] & 0x80)) {
        fail(WsCloseCode::protocol_error, "unmasked frame from a client");
        return false;
    }
    const std::uint8_t op = first & 0x0f;
    const std::size_t length7 = header_[1] & 0x7f;
    std::uint64_t length = length7;
    std::size_t key_at = 2;
    if (length7 == 126) {
        length = (std::uint64_t{header_[2]} << 8) | header_[3];
        key_at = 4;
        if (length < 126) {
            fail(WsCloseCode::protocol_error, "length not in its shortest form");
            return false;
        }
    } else if (length7 == 127) {
        length = 0;
        for (std::size_t i = 2; i < 10; ++i)
            length = (length << 8) | header_[i];
        key_at = 10;
        if (length >> 63) {
            fail(WsCloseCode::protocol_error, "length with its most significant bit set");
            return false;
        }
        if (length <= 0xffff) {
            fail(WsCloseCode::protocol_error, "length not in its shortest form");
            return false;
        }
    }
    std::memcpy(key_.data(), header_.data() + key_at, key_.size());
    key_phase_ = 0;
    header_size_ = 0;
    switch (op) {
        case 0x0:  // continuation
            if (!in_message_) {
                fail(WsCloseCode::protocol_error, "continuation frame outside a message");
                return false;
            }
            break;
        case 0x1:
            fail(WsCloseCode::unsupported_data, "text message (PutMedia takes binary messages)");
            return false;
        case 0x2:
            if (in_message_) {
                fail(WsCloseCode::protocol_error, "new message before the last one's final frame");
                return false;
            }
            in_message_ = true;
            message_bytes_ = 0;
            break;
        case 0x8:
        case 0x9:
        case 0xA:
            if (!fin_) {
                fail(WsCloseCode::protocol_error, "fragmented control frame");
                return false;
            }
            if (length > control_.size()) {
                fail(WsCloseCode::protocol_error, "control frame longer than 125 bytes");
                return false;
            }
            control_size_ = 0;
            break;
        default:
            fail(WsCloseCode::protocol_error, "unknown opcode");
            return false;
    }
    if (op <= 0x2) {
        if (length > max_message_bytes_ - message_bytes_) {
            fail(WsCloseCode::too_big, "message larger than the server takes");
            return false;
        }
        message_bytes_ += length;
    }
    opcode_ = static_cast<Opcode>(op);
    payload_left_ = length;
    in_payload_ = true;
    return true;
}

void WebSocketFrameReader::end_frame() noexcept {
    in_payload_ = false;
    switch (opcode_) {
        case Opcode::continuation:
        case Opcode::binary:
            if (fin_) in_message_ = false;
            break;
        case Opcode::ping:
            ping_.assign(reinterpret_cast<const char*>(control_.data()), control_size_);
            ping_pending_ = true;
            break;
        case Opcode::pong:
            break;  // an answer to a ping of ours; being received is all that counts
        case Opcode::close:
            if (control_size_ == 1) {
                fail(WsCloseCode::protocol_error, "close frame with a one-byte payload");
                break;
            }
            close_code_ = static_cast<std::uint16_t>(WsCloseCode::no_status);
            if (control_size_ >= 2) {
                close_code_ = static_cast<std::uint16_t>((control_[0] << 8) | control_[1]);
                if (!valid_close_code(close_code_)) {
                    fail(WsCloseCode::protocol_error, "invalid close code");
                    break;
                }
            }
            // The reason (bytes 2..) is not used: not checked for UTF-8 either.
            closed_ = true;
            break;
        case Opcode::text:
            break;  // refused in start_frame
    }
}

void WebSocketFrameReader::fail(WsCloseCode code, const char* why) noexcept {
    error_ = why;
    error_code_ = code;
}

std::string WebSocketFrameReader::take_ping() {
    ping_pending_ = false;
    return std::move(ping_);
}

}  // namespace kinema::server
