// The PutMedia WebSocket client: one libwebsockets context and one network thread per stream.
//
// The transport owns no media bytes: when the socket is writable it asks its sink for the next chunk
// (straight out of the content buffer), so the only send queue is the content buffer itself, already
// bounded. ACK text messages go to the sink as they arrive. On any close it reconnects with exponential
// backoff and jitter; each new connection is a new session, and the sink starts the MKV stream again.
//
// Other threads talk to the network thread only through wake()/restart_session()/shutdown(), which set
// flags and call lws_cancel_service().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "endpoint.h"
#include "transport.h"

namespace kinema::producer {

struct TransportConfig {
    Endpoint endpoint;
    std::string path;   // "/putMedia"
    std::string query;  // "a=b&c=d" (already escaped) or empty; appended to the PutMedia path
    std::vector<std::pair<std::string, std::string>> headers;  // lowercase names, no colon
    std::string ca_path;
    // Non-empty: POST this JSON body to <prefix>/createStream once before the first PutMedia session.
    std::string create_stream_body;
    std::chrono::nanoseconds min_backoff = std::chrono::milliseconds(100);
    std::chrono::nanoseconds max_backoff = std::chrono::seconds(10);
    std::chrono::nanoseconds connect_timeout = std::chrono::seconds(10);
    std::chrono::nanoseconds poll_interval = std::chrono::milliseconds(100);
};

class WsTransport final : public Transport {
public:
    WsTransport(TransportConfig config, TransportSink& sink);
    // shutdown() with no wait if still running; then up to 2 s for a thread a timed-out shutdown() left.
    ~WsTransport() override;
    WsTransport(const WsTransport&) = delete;
    WsTransport& operator=(const WsTransport&) = delete;

    // Creates the context and starts the network thread, which connects at once.
    std::error_code start() override;
    // New bytes are ready to send.
    void wake() override;
    // Close the current connection and open a new session (after the backoff).
    void restart_session() override;
    // Stops the network thread. The sink is never called after this returns. Returns false when the
    // thread did not finish by `deadline` (a blocking DNS lookup): it is then left to finish on its own and
    // frees its resources itself.
    bool shutdown(SteadyTime deadline) override;

    struct Core;

private:
    std::shared_ptr<Core> core_;
};

}  // namespace kinema::producer
