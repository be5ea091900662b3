// Errors of the producer SDK. put_frame, flush and the callbacks report these; media errors (for example a
// frame whose timecode does not fit its fragment) come through unchanged in kinema::media's category.
#pragma once

#include <system_error>

namespace kinema::producer {

enum class Errc {
    ok = 0,
    invalid_argument = 1,   // a frame or metadata the stream cannot take (empty payload, reserved tag name)
    stopped,                // the stream was stopped
    buffer_full,            // no room even after dropping every whole fragment that could go
    waiting_for_key_frame,  // a delta frame before the first key frame (or after a dropped frame)
    missing_codec_private,  // no SPS/PPS yet: neither configured nor seen in the frames
    timed_out,              // flush or stop ran out of time before every fragment was acknowledged
    connection_failed,      // the WebSocket could not be opened or was closed
    connection_stale,       // no ACK within the connection-staleness timeout
    server_error,           // an ERROR ACK from the server (its KVS id and name are in the event)
    invalid_ack,            // a message from the server that is not an ACK object
    create_stream_failed,   // POST /createStream failed (other than ResourceInUseException)
    write_failed,           // the output file (StreamConfig::output_file) could not be opened or written
};

const std::error_category& producer_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), producer_category()};
}

}  // namespace kinema::producer

template <>
struct std::is_error_code_enum<kinema::producer::Errc> : std::true_type {};
