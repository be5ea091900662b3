// What a Stream tells its user: ACKs, errors, drops, pressure, connection state, metrics and the stop
// report. Callbacks run on the stream's callback thread, one at a time and in order (ACKs, errors,
// connection events: what the network thread sees), or on the thread calling put_frame (drops, latency
// pressure), never under a lock of the stream and never on its network thread: a slow callback delays
// only later callbacks, and a callback may call metrics(), put_fragment_metadata(), flush() and even
// stop() of its own stream. stop() waits for queued callbacks only until its deadline; a callback still
// running then finishes later, and destroying the stream waits for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "kinema/media/timestamp.h"

namespace kinema::producer {

using Duration = std::chrono::nanoseconds;
using media::Timestamp;

enum class AckType { buffering, received, persisted, error, idle };
const char* to_string(AckType type) noexcept;

// One ACK as the server sent it.
struct FragmentAck {
    AckType type = AckType::idle;
    bool has_timecode = false;
    std::int64_t fragment_timecode = 0;  // cluster timecode, ms
    std::string fragment_number;         // decimal string
    int error_id = 0;                    // KVS ErrorId, ERROR only
    std::string error_code;              // KVS ErrorCode, ERROR only
};

struct StreamError {
    std::error_code code;
    int kvs_error_id = 0;        // from an ERROR ACK, else 0
    std::string kvs_error_name;  // from an ERROR ACK, else empty
    bool has_timecode = false;
    std::int64_t fragment_timecode = 0;  // ms, when the error is about one fragment
    std::string message;
};

enum class DropReason {
    buffer_full,         // storage_size or buffer_duration reached
    replay_window,       // older than replay_duration at a reconnect
    rejected_by_server,  // a 4xxx ERROR ACK: resending the same bytes cannot succeed
};
const char* to_string(DropReason reason) noexcept;

struct DroppedFragment {
    std::int64_t fragment_timecode = 0;  // ms
    Timestamp start;                     // first frame's PTS
    std::uint32_t frames = 0;
    std::uint64_t bytes = 0;
    bool was_sent = false;  // at least partly sent; the server may still have it
    DropReason reason = DropReason::buffer_full;
};

struct StreamCallbacks {
    std::function<void(const FragmentAck&)> on_ack;
    std::function<void(const StreamError&)> on_error;
    std::function<void(Timestamp pts, std::error_code why)> on_dropped_frame;
    std::function<void(const DroppedFragment&)> on_dropped_fragment;
    // Data waiting to be sent is older than max_latency; fires once per crossing.
    std::function<void(Duration current_latency)> on_latency_pressure;
    // No ACK within connection_staleness; a reconnect follows.
    std::function<void(Duration since_last_ack)> on_connection_stale;
    // A PutMedia session is open (again, after a reconnect).
    std::function<void()> on_stream_ready;
    // A PutMedia session ended; a reconnect follows unless the stream is stopping.
    std::function<void(std::error_code why)> on_stream_closed;
};

struct StreamMetrics {
    double frame_rate = 0;     // frames/s put, over the last second or so
    double transfer_rate = 0;  // bytes/s handed to the socket, over the last second or so
    Duration buffered_duration{0};
    std::uint64_t buffered_bytes = 0;
    std::uint32_t buffered_fragments = 0;
    // Age of the oldest data not yet sent (0 when everything is sent).
    Duration current_latency{0};
    std::uint64_t frames_put = 0;
    std::uint64_t frames_dropped = 0;
    std::uint64_t fragments_put = 0;  // fragments started (MKV Clusters)
    std::uint64_t fragments_dropped = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t acks_buffering = 0;
    std::uint64_t acks_received = 0;
    std::uint64_t acks_persisted = 0;
    std::uint64_t acks_error = 0;
    std::uint64_t acks_idle = 0;
    std::uint64_t sessions = 0;    // PutMedia sessions opened
    std::uint64_t reconnects = 0;  // sessions opened after the first
    std::uint64_t stale_connections = 0;
    // Callback events not delivered: the callback queue (4096 events) was full because a callback did
    // not return, or stop()'s deadline passed first.
    std::uint64_t callbacks_dropped = 0;
};

// What stop() leaves behind: fragments that never got their final ACK (PERSISTED, or RECEIVED with
// retention 0). They are lost unless the caller keeps the frames elsewhere.
struct StopReport {
    bool all_acknowledged = true;
    bool timed_out = false;
    std::uint32_t unacknowledged_fragments = 0;
    std::uint64_t unacknowledged_frames = 0;
    std::uint64_t unacknowledged_bytes = 0;
    std::vector<std::int64_t> unacknowledged_timecodes;  // ms, oldest first
};

}  // namespace kinema::producer
