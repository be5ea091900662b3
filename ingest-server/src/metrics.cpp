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
                        .Add({})) {}

    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& requests_;
    prometheus::Family<prometheus::Histogram>& durations_;
    prometheus::Gauge& open_;
    prometheus::Counter& accepted_;

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

void Metrics::connection_closed() {
    impl_->open_.Decrement();
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
