// kinema::producer — H.264 frames in, KVS-compatible MKV fragments out over a WebSocket PutMedia session,
// with a bounded content buffer, ACK tracking, reconnect with loss-free replay and a bounded shutdown.
//
//   kinema::producer::Producer producer;
//   kinema::producer::StreamConfig config;
//   config.endpoint = "ws://127.0.0.1:8080";
//   config.stream_name = "cam1";
//   auto& stream = producer.add_stream(config);
//   kinema::producer::VideoFrame frame;  // data (Annex-B or AVCC), pts, dts, key
//   stream.put_frame(frame);
//   auto report = stream.stop(std::chrono::seconds(5));
//
// Threading: put_frame, put_fragment_metadata, flush, stop and metrics may be called from any thread; each
// stream serialises them internally. Each stream runs one network thread. See docs/producer.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "kinema/producer/error.h"
#include "kinema/producer/stream_config.h"
#include "kinema/producer/stream_events.h"

namespace kinema::producer {

struct VideoFrame {
    // One access unit: Annex-B (start codes) or AVCC (4-byte big-endian lengths), detected per frame.
    std::span<const std::uint8_t> data;
    Timestamp pts;
    // Accepted for parity with KVS; MKV SimpleBlocks carry the PTS only, so frames must come in decode order.
    Timestamp dts;
    bool key = false;  // an IDR access unit: may start a fragment
};

class StreamImpl;

class Stream {
public:
    explicit Stream(std::unique_ptr<StreamImpl> impl);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Adds one frame. Never blocks longer than config().max_put_frame_wait (except in offline mode).
    // Errors mean this frame was not buffered (on_dropped_frame fired too); older fragments dropped to make
    // room are reported through on_dropped_fragment and do not make this call fail.
    std::error_code put_frame(const VideoFrame& frame);

    // An MKV SimpleTag written before the next fragment (persistent: before every following fragment, until
    // replaced with the same name). At most 10 per fragment, names starting with "AWS" are reserved.
    std::error_code put_fragment_metadata(std::string_view name, std::string_view value, bool persistent);

    // Ends the current fragment and waits until everything buffered is acknowledged. Errc::timed_out when the
    // timeout passes first; frames keep streaming either way.
    std::error_code flush(Duration timeout);

    // Ends the current fragment, waits for ACKs up to `timeout`, closes the connection and stops the network
    // thread. Returns within `timeout` (plus scheduling noise) whatever the network does. Idempotent.
    StopReport stop(Duration timeout);

    StreamMetrics metrics() const;
    const StreamConfig& config() const noexcept;

private:
    std::unique_ptr<StreamImpl> impl_;
};

// Owns streams. Destroying a Producer stops every stream that is still running (5 s each at most).
class Producer {
public:
    Producer();
    ~Producer();
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;

    // Validates `config` (std::invalid_argument on a bad endpoint, stream name or limit) and starts
    // connecting at once. The reference stays valid for the Producer's lifetime.
    Stream& add_stream(StreamConfig config, StreamCallbacks callbacks = {});

    std::size_t stream_count() const noexcept { return streams_.size(); }

private:
    std::vector<std::unique_ptr<Stream>> streams_;
};

}  // namespace kinema::producer
