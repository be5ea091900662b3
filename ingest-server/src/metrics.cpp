#include "metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <sstream>

namespace kinema::server {

class Metrics::Impl {
public:
    Impl()
        : registry_(std::make_shared<prometheus::Registry>()),
          requests_(prometheus::BuildCounter()
                        .Name("kinema_http_requests_total")
                        .Help("HTTP requests answered, by operation and status code")
                        .Register(*registry_)),
          durations_(prometheus::BuildHistogram()
                         .Name("kinema_http_request_duration_seconds")
                         .Help("Time from a complete request to its response being queued, by operation")
                         .Register(*registry_)),
          open_(prometheus::BuildGauge()
                    .Name("kinema_http_connections")
                    .Help("Open HTTP/WebSocket connections")
                    .Register(*registry_)
                    .Add({})),
          accepted_(prometheus::BuildCounter()
                        .Name("kinema_http_connections_total")
                        .Help("Connections accepted")
                        .Register(*registry_)
                        .Add({})),
          bytes_in_(family("kinema_put_media_bytes_total", "PutMedia bytes received, by stream")),
          fragments_in_(family("kinema_put_media_fragments_total", "PutMedia fragments received, by stream")),
          bytes_out_(family("kinema_get_media_bytes_total", "GetMedia bytes sent, by stream")),
          fragments_out_(family("kinema_get_media_fragments_total", "GetMedia fragments sent, by stream")),
          skipped_(family("kinema_live_frames_skipped_total",
                          "Live frames a slow viewer skipped (its queue was full), by stream")),
          ack_latency_(prometheus::BuildHistogram()
                           .Name("kinema_put_media_ack_latency_seconds")
                           .Help("Time from a fragment's first byte to its ACK, by event")
                           .Register(*registry_)),
          received_(ack_latency_.Add({{"event", "RECEIVED"}}, latency_buckets())),
          persisted_(ack_latency_.Add({{"event", "PERSISTED"}}, latency_buckets())),
          commit_(prometheus::BuildHistogram()
                      .Name("kinema_storage_commit_latency_seconds")
                      .Help("Time from a fragment's append to its durable commit")
                      .Register(*registry_)
                      .Add({}, latency_buckets())),
          producers_(prometheus::BuildGauge()
                         .Name("kinema_put_media_producers")
                         .Help("PutMedia producers connected")
                         .Register(*registry_)
                         .Add({})),
          viewers_(prometheus::BuildGauge()
                       .Name("kinema_get_media_viewers")
                       .Help("GetMedia viewers connected")
                       .Register(*registry_)
                       .Add({})) {}

    prometheus::Family<prometheus::Counter>& family(const char* name, const char* help) {
        return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
    }
    // 0.5 ms .. 30 s: loopback ACKs are sub-millisecond, a fragment's RECEIVED waits for its last frame.
    static const prometheus::Histogram::BucketBoundaries& latency_buckets() {
        static const prometheus::Histogram::BucketBoundaries buckets = {
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30};
        return buckets;
    }

    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& requests_;
    prometheus::Family<prometheus::Histogram>& durations_;
    prometheus::Gauge& open_;
    prometheus::Counter& accepted_;
    prometheus::Family<prometheus::Counter>& bytes_in_;
    prometheus::Family<prometheus::Counter>& fragments_in_;
    prometheus::Family<prometheus::Counter>& bytes_out_;
    prometheus::Family<prometheus::Counter>& fragments_out_;
    prometheus::Family<prometheus::Counter>& skipped_;
    prometheus::Family<prometheus::Histogram>& ack_latency_;
    prometheus::Histogram& received_;
    prometheus::Histogram& persisted_;
    prometheus::Histogram& commit_;
    prometheus::Gauge& producers_;
    prometheus::Gauge& viewers_;
    std::map<std::string, std::shared_ptr<StreamMetrics>, std::less<>> streams_;

    // Family::Add looks the labels up under its own lock anyway; caching the histogram per operation saves
    // building the bucket vector on every request.
    std::mutex mutex_;
    std::map<std::string, prometheus::Histogram*, std::less<>> histograms_;

    prometheus::Histogram& histogram(std::string_view operation) {
        std::lock_guard lock(mutex_);
        auto it = histograms_.find(operation);
        if (it != histograms_.end()) return *it->second;
        // 0.5 ms .. 10 s: control-plane calls are milliseconds, slow disks are seconds.
        static const prometheus::Histogram::BucketBoundaries buckets = {
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        auto& h = durations_.Add({{"operation", std::string(operation)}}, buckets);
        histograms_.emplace(std::string(operation), &h);
        return h;
    }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::observe_request(std::string_view operation, unsigned status, double seconds) {
    impl_->requests_.Add({{"operation", std::string(operation)}, {"code", std::to_string(status)}})
        .Increment();
    impl_->histogram(operation).Observe(seconds);
}

void Metrics::connection_opened() {
    impl_->open_.Increment();
    impl_->accepted_.Increment();
}

void Metrics::connection_resumed() {
    impl_->open_.Increment();
}

void Metrics::connection_closed() {
    impl_->open_.Decrement();
}

void StreamMetrics::increment(prometheus::Counter* StreamMetrics::*counter, double value) {
    std::lock_guard lock(mutex_);
    if (auto* c = this->*counter) c->Increment(value);
}
void StreamMetrics::bytes_in(std::uint64_t bytes) {
    increment(&StreamMetrics::bytes_in_, static_cast<double>(bytes));
}
void StreamMetrics::fragment_in() {
    increment(&StreamMetrics::fragments_in_, 1);
}
void StreamMetrics::bytes_out(std::uint64_t bytes) {
    increment(&StreamMetrics::bytes_out_, static_cast<double>(bytes));
}
void StreamMetrics::fragment_out() {
    increment(&StreamMetrics::fragments_out_, 1);
}
void StreamMetrics::frames_skipped(std::uint64_t frames) {
    if (frames != 0) increment(&StreamMetrics::frames_skipped_, static_cast<double>(frames));
}

std::shared_ptr<StreamMetrics> Metrics::stream(const std::string& name) {
    std::lock_guard lock(impl_->mutex_);
    auto& entry = impl_->streams_[name];
    if (!entry) {
        entry = std::make_shared<StreamMetrics>();
        const std::map<std::string, std::string> labels{{"stream", name}};
        entry->bytes_in_ = &impl_->bytes_in_.Add(labels);
        entry->fragments_in_ = &impl_->fragments_in_.Add(labels);
        entry->bytes_out_ = &impl_->bytes_out_.Add(labels);
        entry->fragments_out_ = &impl_->fragments_out_.Add(labels);
        entry->frames_skipped_ = &impl_->skipped_.Add(labels);
    }
    return entry;
}

void Metrics::remove_stream(const std::string& name) {
    std::shared_ptr<StreamMetrics> entry;
    {
        std::lock_guard lock(impl_->mutex_);
        auto it = impl_->streams_.find(name);
        if (it == impl_->streams_.end()) return;
        entry = std::move(it->second);
        impl_->streams_.erase(it);
        // Under the registry's lock: stream(name) cannot hand the same labels out again meanwhile.
        std::lock_guard counters(entry->mutex_);
        const std::pair<prometheus::Counter * StreamMetrics::*, prometheus::Family<prometheus::Counter>*>
            series[] = {{&StreamMetrics::bytes_in_, &impl_->bytes_in_},
                        {&StreamMetrics::fragments_in_, &impl_->fragments_in_},
                        {&StreamMetrics::bytes_out_, &impl_->bytes_out_},
                        {&StreamMetrics::fragments_out_, &impl_->fragments_out_},
                        {&StreamMetrics::frames_skipped_, &impl_->skipped_}};
        for (auto [counter, family] : series) {
            family->Remove(entry.get()->*counter);
            entry.get()->*counter = nullptr;
        }
    }
}

void Metrics::observe_ack_latency(bool persisted, double seconds) {
    (persisted ? impl_->persisted_ : impl_->received_).Observe(seconds);
}

void Metrics::observe_commit_latency(double seconds) {
    impl_->commit_.Observe(seconds);
}

void Metrics::producers_connected(int delta) {
    impl_->producers_.Increment(delta);
}

void Metrics::viewers_connected(int delta) {
    impl_->viewers_.Increment(delta);
}

std::string Metrics::serialize() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, impl_->registry_->Collect());
    return out.str();
}

prometheus::Registry& Metrics::registry() noexcept {
    return *impl_->registry_;
}

}  // namespace kinema::server
