// The server's Prometheus registry and the request-layer metrics. Ingest and viewer metrics (bytes and
// fragments per stream, ACK latency, viewers, skipped frames) register their families on registry().
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
class Counter;
}  // namespace prometheus

namespace kinema::server {

// The per-stream media counters, looked up once per session (prometheus-cpp's Family::Add takes a lock and
// hashes the labels). Once the stream is deleted (Metrics::remove_stream) its series are gone from /metrics
// and the counts of sessions still ending go nowhere.
class StreamMetrics {
public:
    void bytes_in(std::uint64_t bytes);         // kinema_put_media_bytes_total{stream}
    void fragment_in();                         // kinema_put_media_fragments_total{stream} (RECEIVED)
    void bytes_out(std::uint64_t bytes);        // kinema_get_media_bytes_total{stream}
    void fragment_out();                        // kinema_get_media_fragments_total{stream}
    void frames_skipped(std::uint64_t frames);  // kinema_live_frames_skipped_total{stream}

private:
    friend class Metrics;
    void increment(prometheus::Counter* StreamMetrics::*counter, double value);

    std::mutex mutex_;  // the counters below are removed from their families under it
    prometheus::Counter* bytes_in_ = nullptr;
    prometheus::Counter* fragments_in_ = nullptr;
    prometheus::Counter* bytes_out_ = nullptr;
    prometheus::Counter* fragments_out_ = nullptr;
    prometheus::Counter* frames_skipped_ = nullptr;
};

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
    // A connection served by HTTP again after a finite media response: open again, not accepted again.
    void connection_resumed();

    // Media: counters of one stream (the same object for every call with that name).
    std::shared_ptr<StreamMetrics> stream(const std::string& name);
    // The stream was deleted: its series leave /metrics (a stream of that name created later starts at 0).
    void remove_stream(const std::string& name);
    // kinema_put_media_ack_latency_seconds{event="RECEIVED"|"PERSISTED"}: from a fragment's first byte.
    void observe_ack_latency(bool persisted, double seconds);
    // kinema_storage_commit_latency_seconds: from RECEIVED (appended) to PERSISTED (durable).
    void observe_commit_latency(double seconds);
    // kinema_put_media_producers / kinema_get_media_viewers (connected now).
    void producers_connected(int delta);
    void viewers_connected(int delta);

    // The Prometheus text exposition format (version 0.0.4).
    std::string serialize() const;
    prometheus::Registry& registry() noexcept;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::server
