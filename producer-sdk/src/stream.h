// StreamImpl: one PutMedia stream. Frames go through the fragmenter into the content buffer under one
// lock; the transport's network thread pulls bytes out of the buffer and feeds ACKs back in. Callbacks are
// collected under the lock and run after it is released: events of the network thread on the callback
// thread (CallbackDispatcher), so user code never runs on the network thread or under the transport's
// lock; events of put_frame on the thread calling it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "callback_dispatcher.h"
#include "content_buffer.h"
#include "fragmenter.h"
#include "kinema/media/mkv_types.h"
#include "kinema/producer.h"
#include "rate_meter.h"
#include "ws_transport.h"

namespace kinema::producer {

class StreamImpl final : public TransportSink {
public:
    // Throws std::invalid_argument for a bad configuration.
    StreamImpl(StreamConfig config, StreamCallbacks callbacks);
    ~StreamImpl() override;

    std::error_code put_frame(const VideoFrame& frame);
    std::error_code put_fragment_metadata(std::string_view name, std::string_view value, bool persistent);
    std::error_code flush(Duration timeout);
    StopReport stop(Duration timeout);
    StreamMetrics metrics() const;
    const StreamConfig& config() const noexcept { return config_; }

    // TransportSink (network thread)
    void on_session_open() override;
    std::size_t fill(std::uint8_t* dst, std::size_t max) override;
    bool has_unsent() override;
    bool on_message(std::string_view text) override;
    void on_session_closed(std::error_code why, std::string_view detail) override;
    bool needs_restart(SteadyTime now) override;
    void on_create_stream_result(std::error_code result, std::string_view detail) override;
    void on_durable() override;
    void on_transport_error(std::error_code error, std::string_view detail) override;

private:
    // What happened under the lock, reported to the user after it is released.
    struct Events {
        std::vector<DroppedFragment> dropped_fragments;
        std::optional<std::pair<Timestamp, std::error_code>> dropped_frame;
        std::optional<Duration> latency_pressure;
        std::optional<FragmentAck> ack;
        std::vector<StreamError> errors;
        std::optional<Duration> stale;
        bool ready = false;
        std::optional<std::error_code> closed;

        bool empty() const {
            return dropped_fragments.empty() && !dropped_frame && !latency_pressure && !ack &&
                   errors.empty() && !stale && !ready && !closed;
        }
    };
    static void deliver(const StreamCallbacks& callbacks, const Events& events);
    // Runs the events' callbacks on the calling thread (put_frame's events).
    void deliver(const Events& events) const { deliver(*callbacks_, events); }
    // Queues the events' callbacks for the callback thread (the network thread's events, stop's).
    void dispatch(Events&& events);
    void count_dropped(Events& events);
    void end_open_fragment_locked();
    bool all_acknowledged_locked() const;
    std::error_code start_transport_locked();
    TransportConfig transport_config_locked() const;

    const StreamConfig config_;
    // Shared with queued callback tasks, which may outlive a stop() whose deadline passed.
    const std::shared_ptr<const StreamCallbacks> callbacks_;
    Endpoint endpoint_;

    std::timed_mutex stop_mutex_;  // serialises stop()
    mutable std::mutex mutex_;
    std::condition_variable changed_;  // an ACK arrived, room was freed, or the stream is stopping
    Fragmenter fragmenter_;
    ContentBuffer buffer_;
    Bytes scratch_;
    std::vector<media::SimpleTag> next_tags_;        // before the next fragment only
    std::vector<media::SimpleTag> persistent_tags_;  // before every fragment
    std::unique_ptr<Transport> transport_;
    bool transport_failed_ = false;  // the transport could not start; not retried
    bool stopping_ = false;
    bool stopped_ = false;
    std::optional<StopReport> stop_report_;
    bool session_open_ = false;
    bool latency_pressure_ = false;
    SteadyTime last_ack_{};

    StreamMetrics counters_;  // the counting fields; rates and buffer state are filled in by metrics()
    mutable RateMeter frame_rate_;
    mutable RateMeter transfer_rate_;

    CallbackDispatcher dispatcher_;
};

}  // namespace kinema::producer
