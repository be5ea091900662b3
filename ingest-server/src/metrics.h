// The server's Prometheus registry and the request-layer metrics. Ingest and viewer metrics (bytes and
// fragments per stream, ACK latency, viewers, skipped frames) register their families on registry().
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace kinema::server {

class Metrics {
public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // kinema_http_requests_total{operation,code} and kinema_http_request_duration_seconds{operation}.
    void observe_request(std::string_view operation, unsigned status, double seconds);
    // kinema_http_connections (open now) and kinema_http_connections_total (accepted).
    void connection_opened();
    void connection_closed();

    // The Prometheus text exposition format (version 0.0.4).
    std::string serialize() const;
    prometheus::Registry& registry() noexcept;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::server
