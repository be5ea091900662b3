#pragma once
// The client-to-server half of a WebSocket connection after its handshake (RFC 6455 section 5): decodes the
// frames a PutMedia producer sends, in place, in the buffer they were received into.
//
// Why not Beast's websocket::stream::read_some: it reads a frame's header into a 1.5 KB buffer of its own and
// then the rest of that frame, so a producer sending 64 KiB messages costs two recvmsg calls and two handler
// completions per 64 KiB, each completion also one epoll_wait in Asio's scheduler. Here one read takes
// whatever the socket has (up to the caller's buffer, many frames) and this decoder unmasks each data
// payload while moving it over the frame headers before it, so the MKV bytes end up contiguous at the front
// of the buffer: the same single pass over the bytes as Beast's unmasking in place. Beast still does the
// opening handshake; frames the server sends are built by the append_* functions below.
//
// What it enforces (each violation ends decoding with the close code a server sends, as Beast does): frames
// masked (section 5.1), no reserved bits (no extension is negotiated), known opcodes, control frames final
// and at most 125 bytes, continuation frames only inside a message, a message at most `max_message_bytes`
// (1009), minimal length encodings, binary data (a text message is 1003: PutMedia is MKV). Pings are
// collected for the caller to answer, pongs ignored, and a close frame ends decoding: bytes after it are
// never looked at.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kinema::server {

// Close status codes (RFC 6455 section 7.4.1).
enum class WsCloseCode : std::uint16_t {
    normal = 1000,
    protocol_error = 1002,
    unsupported_data = 1003,
    no_status = 1005,  // a close frame without a code; never sent
    too_big = 1009,
};

class WebSocketFrameReader {
public:
    explicit WebSocketFrameReader(std::uint64_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

    // Decodes `wire`, the bytes that just arrived after those of earlier calls; frames may be split anywhere
    // between calls. Returns how many data payload bytes (unmasked, in order, across message boundaries) are
    // now at the front of `wire`; the rest of `wire` is scratch. Stops at a close frame and at the first
    // violation: failed() and closed() say which, and later calls return 0.
    std::size_t decode(std::span<std::uint8_t> wire);

    bool failed() const noexcept { return error_ != nullptr; }
    const char* error() const noexcept { return error_; }                  // what was wrong, for the log
    WsCloseCode error_close_code() const noexcept { return error_code_; }  // what to close with

    bool closed() const noexcept { return closed_; }  // a close frame arrived
    std::uint16_t close_code() const noexcept { return close_code_; }

    // The payload of the latest ping not answered yet (RFC 6455 section 5.5.3: answering only the latest
    // is allowed); clears it.
    bool ping_pending() const noexcept { return ping_pending_; }
    std::string take_ping();

private:
    enum class Opcode : std::uint8_t {
        continuation = 0,
        text = 1,
        binary = 2,
        close = 8,
        ping = 9,
        pong = 10
    };

    void fail(WsCloseCode code, const char* why) noexcept;
    bool start_frame() noexcept;  // header_ is complete: check it and set up the payload; false on violation
    void end_frame() noexcept;    // the payload is complete

    std::uint64_t max_message_bytes_;
    // The header being read: 2 bytes, then 0, 2 or 8 of extended length, then the 4-byte masking key.
    std::array<std::uint8_t, 14> header_{};
    std::size_t header_size_ = 0;
    bool in_payload_ = false;
    Opcode opcode_ = Opcode::continuation;
    bool fin_ = false;
    std::uint64_t payload_left_ = 0;
    std::array<std::uint8_t, 4> key_{};
    std::size_t key_phase_ = 0;  // the key byte for the payload's next byte
    bool in_message_ = false;    // a data message whose final frame has not come yet
    std::uint64_t message_bytes_ = 0;
    std::array<std::uint8_t, 125> control_{};  // the control frame's payload, unmasked
    std::size_t control_size_ = 0;

    bool ping_pending_ = false;
    std::string ping_;
    bool closed_ = false;
    std::uint16_t close_code_ = 0;
    const char* error_ = nullptr;
    WsCloseCode error_code_ = WsCloseCode::normal;
};

// Frames a server sends: unmasked and final (RFC 6455 section 5.2). Inline, for the tests that build frames
// without the server's libraries.
inline void append_ws_frame(std::string& out, std::uint8_t opcode, std::string_view payload) {
    const std::size_t n = payload.size();
    out.push_back(static_cast<char>(0x80 | opcode));
    if (n < 126) {
        out.push_back(static_cast<char>(n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(126));
        for (int shift = 8; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((n >> shift) & 0xff));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
    }
    out.append(payload);
}

// One text message: an ACK.
inline void append_ws_text_frame(std::string& out, std::string_view payload) {
    append_ws_frame(out, 0x1, payload);
}

// Control frames; a control payload is at most 125 bytes (section 5.5), so a longer one is cut.
inline void append_ws_ping_frame(std::string& out, std::string_view payload) {
    append_ws_frame(out, 0x9, payload.substr(0, 125));
}
inline void append_ws_pong_frame(std::string& out, std::string_view payload) {
    append_ws_frame(out, 0xA, payload.substr(0, 125));
}
inline void append_ws_close_frame(std::string& out, std::uint16_t code) {
    const std::array<char, 2> status{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    append_ws_frame(out, 0x8, std::string_view(status.data(), status.size()));
}

}  // namespace kinema::server
