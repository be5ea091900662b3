// What carries a stream's MKV byte stream somewhere: the PutMedia WebSocket (WsTransport) or a local file
// (FileTransport). A transport owns no media bytes: it pulls them from its sink (the stream's content
// buffer) when it can take them and feeds acknowledgements back.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace kinema::producer {

using SteadyTime = std::chrono::steady_clock::time_point;

// Called on the transport's thread, one call at a time.
class TransportSink {
public:
    virtual ~TransportSink() = default;
    virtual void on_session_open() = 0;
    // Copies up to `max` bytes to send into `dst`; 0 when nothing is ready.
    virtual std::size_t fill(std::uint8_t* dst, std::size_t max) = 0;
    virtual bool has_unsent() = 0;
    // One text message (an ACK). Returns true when the session must restart.
    virtual bool on_message(std::string_view text) = 0;
    virtual void on_session_closed(std::error_code why, std::string_view detail) = 0;
    // Polled a few times a second while connected: true restarts the session (stale, broken).
    virtual bool needs_restart(SteadyTime now) = 0;
    // CreateStream finished: ok, or an error worth reporting (the stream keeps trying PutMedia).
    virtual void on_create_stream_result(std::error_code result, std::string_view detail) = 0;
    // Everything fill() returned so far is durable where it went (a local file, synced): each fragment
    // that went out whole counts as PERSISTED. Transports without a server's ACKs call this.
    virtual void on_durable() = 0;
    // The transport failed for good (a local file that cannot be written); nothing more will be sent.
    virtual void on_transport_error(std::error_code error, std::string_view detail) = 0;
};

class Transport {
public:
    virtual ~Transport() = default;
    // Starts the transport's thread.
    virtual std::error_code start() = 0;
    // New bytes are ready to send.
    virtual void wake() = 0;
    // Begin a new session (after the current one broke).
    virtual void restart_session() = 0;
    // Stops the thread. The sink is never called after this returns. False when the thread did not finish
    // by `deadline`: it then finishes and frees its resources on its own.
    virtual bool shutdown(SteadyTime deadline) = 0;
};

}  // namespace kinema::producer
