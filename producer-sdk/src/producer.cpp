#include "kinema/producer.h"

#include <libwebsockets.h>

#include <mutex>

#include "stream.h"

namespace kinema::producer {

Stream::Stream(std::unique_ptr<StreamImpl> impl) : impl_(std::move(impl)) {}
Stream::~Stream() = default;

std::error_code Stream::put_frame(const VideoFrame& frame) {
    return impl_->put_frame(frame);
}
std::error_code Stream::put_fragment_metadata(std::string_view name, std::string_view value,
                                              bool persistent) {
    return impl_->put_fragment_metadata(name, value, persistent);
}
std::error_code Stream::flush(Duration timeout) {
    return impl_->flush(timeout);
}
StopReport Stream::stop(Duration timeout) {
    return impl_->stop(timeout);
}
StreamMetrics Stream::metrics() const {
    return impl_->metrics();
}
const StreamConfig& Stream::config() const noexcept {
    return impl_->config();
}

Producer::Producer() {
    // libwebsockets logs notices to stderr by default; a device library keeps quiet except for errors.
    static std::once_flag quiet;
    std::call_once(quiet, [] { lws_set_log_level(LLL_ERR, nullptr); });
}

Producer::~Producer() {
    for (auto& stream : streams_)
        stream->stop(std::chrono::seconds(5));
}

Stream& Producer::add_stream(StreamConfig config, StreamCallbacks callbacks) {
    streams_.push_back(
        std::make_unique<Stream>(std::make_unique<StreamImpl>(std::move(config), std::move(callbacks))));
    return *streams_.back();
}

}  // namespace kinema::producer
