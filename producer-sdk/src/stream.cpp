#include "stream.h"

#include <algorithm>
#include <stdexcept>

#include "ack_parser.h"
#include "file_transport.h"
#include "kinema/media/mkv_writer.h"

namespace kinema::producer {
namespace {

using Clock = std::chrono::steady_clock;

// KVS stores at most 10 metadata tags per fragment (ErrorId 4009 beyond that).
constexpr std::size_t kMaxTagsPerFragment = 10;
// Written after the last cluster on flush and stop: a top-level element ends an unknown-size Cluster, so
// the server can finish (and acknowledge) the fragment without waiting for the next one.
constexpr std::string_view kEndOfFragmentTag = "KINEMA_END_OF_FRAGMENT";

FragmenterConfig fragmenter_config(const StreamConfig& c) {
    FragmenterConfig f;
    f.key_frame_fragmentation = c.key_frame_fragmentation;
    f.fragment_duration = c.fragment_duration;
    f.absolute_timecodes = c.absolute_fragment_times;
    f.track_name = c.track_name;
    f.codec_private = c.codec_private;
    f.frame_rate = c.frame_rate;
    return f;
}

ContentBufferLimits buffer_limits(const StreamConfig& c) {
    return ContentBufferLimits{c.buffer_duration, c.storage_size, c.retention_hours == 0};
}

const StreamConfig& validated(const StreamConfig& c) {
    Endpoint e;
    if (c.output_file.empty() && parse_endpoint(c.endpoint, e))
        throw std::invalid_argument("invalid endpoint: " + c.endpoint);
    if (!valid_stream_name(c.stream_name))
        throw std::invalid_argument("invalid stream name (1-256 of [a-zA-Z0-9_.-]): " + c.stream_name);
    if (c.storage_size == 0) throw std::invalid_argument("storage_size must be positive");
    if (c.buffer_duration <= Duration{0} || c.fragment_duration <= Duration{0} ||
        c.connection_staleness <= Duration{0} || c.replay_duration < Duration{0} ||
        c.reconnect_min_backoff <= Duration{0} || c.reconnect_max_backoff < c.reconnect_min_backoff)
        throw std::invalid_argument("durations must be positive (and max backoff >= min backoff)");
    return c;
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (static_cast<unsigned char>(c) < 0x20) {
            static const char* const hex = "0123456789abcdef";
            out += "\\u00";
            out.push_back(hex[(c >> 4) & 0xF]);
            out.push_back(hex[c & 0xF]);
            continue;
        }
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

}  // namespace

StreamImpl::StreamImpl(StreamConfig config, StreamCallbacks callbacks)
    : config_(validated(config)),
      callbacks_(std::make_shared<const StreamCallbacks>(std::move(callbacks))),
      fragmenter_(fragmenter_config(config_)),
      buffer_(buffer_limits(config_)) {
    parse_endpoint(config_.endpoint, endpoint_);
}

StreamImpl::~StreamImpl() {
    // First the callback thread: a callback still running (say one inside stop()) may be using this stream,
    // so it must return before anything here is torn down.
    dispatcher_.close();
    stop(Duration{0});
}

std::error_code StreamImpl::put_frame(const VideoFrame& frame) {
    Events events;
    std::error_code result;
    bool wake = false;
    {
        std::unique_lock lock(mutex_);
        const auto frame_dropped = [&](std::error_code why) {
            ++counters_.frames_dropped;
            events.dropped_frame = std::make_pair(frame.pts, why);
            return why;
        };
        if (stopping_) {
            result = frame_dropped(Errc::stopped);
        } else {
            // Room first: wait for ACKs to free some (bounded, or without bound in offline mode), then
            // drop old fragments below.
            const std::size_t estimate = frame.data.size() + 64;
            const auto has_room = [&] { return stopping_ || buffer_.fits(estimate, frame.pts); };
            if (!has_room()) {
                if (config_.offline_mode)
                    changed_.wait(lock, has_room);
                else if (config_.max_put_frame_wait > Duration{0})
                    changed_.wait_for(lock, config_.max_put_frame_wait, has_room);
            }
            std::optional<FragmentStart> started;
            if (stopping_) {
                result = frame_dropped(Errc::stopped);
            } else if (auto ec = fragmenter_.add_frame(frame, scratch_, started)) {
                result = frame_dropped(ec);
            } else {
                Bytes tags;
                if (started) {
                    buffer_.close_fragment();
                    std::vector<media::SimpleTag> all = persistent_tags_;
                    all.insert(all.end(), next_tags_.begin(), next_tags_.end());
                    if (!all.empty()) media::mkv::write_tags(all, tags);
                }
                if (!buffer_.make_room(scratch_.size() + tags.size(), frame.pts, events.dropped_fragments)) {
                    // Not even the open fragment fits: this frame is lost, so is the rest of its GOP.
                    buffer_.close_fragment();
                    fragmenter_.resync();
                    result = frame_dropped(Errc::buffer_full);
                } else {
                    if (started) {
                        ++counters_.fragments_put;
                        next_tags_.clear();
                        buffer_.open_fragment(started->timecode, started->start);
                        buffer_.append(tags, frame.pts, false);
                    }
                    buffer_.append(scratch_, frame.pts, true);
                    ++counters_.frames_put;
                    frame_rate_.add(1, Clock::now());
                    wake = true;
                }
            }
            if (buffer_.session_broken() && transport_) transport_->restart_session();
            if (!transport_ && !transport_failed_ && !fragmenter_.header().empty()) {
                buffer_.set_header(fragmenter_.header());
                if (auto ec = start_transport_locked()) {
                    // Once: it fails the same way again (no file, no lws context), and one error is enough.
                    transport_failed_ = true;
                    events.errors.push_back(StreamError{
                        ec,
                        0,
                        {},
                        false,
                        0,
                        config_.output_file.empty() ? "cannot start the network thread"
                                                    : "cannot open the output file " + config_.output_file});
                }
            }
            const Duration latency = buffer_.unsent_age();
            if (latency > config_.max_latency) {
                if (!latency_pressure_) events.latency_pressure = latency;
                latency_pressure_ = true;
            } else {
                latency_pressure_ = false;
            }
        }
        count_dropped(events);
    }
    if (wake && transport_) transport_->wake();
    deliver(events);
    return result;
}

std::error_code StreamImpl::put_fragment_metadata(std::string_view name, std::string_view value,
                                                  bool persistent) {
    if (name.empty() || name.starts_with("AWS") || name == kEndOfFragmentTag) return Errc::invalid_argument;
    std::lock_guard lock(mutex_);
    if (stopping_) return Errc::stopped;
    auto& list = persistent ? persistent_tags_ : next_tags_;
    // A persistent tag with the same name replaces the old one; a one-off one adds a SimpleTag.
    std::erase_if(persistent_tags_, [&](const media::SimpleTag& t) { return t.name == name; });
    if (persistent_tags_.size() + next_tags_.size() >= kMaxTagsPerFragment) return Errc::invalid_argument;
    list.push_back(media::SimpleTag{std::string(name), std::string(value)});
    return {};
}

void StreamImpl::end_open_fragment_locked() {
    if (!buffer_.has_open_fragment()) return;
    Bytes marker;
    const media::SimpleTag tag{std::string(kEndOfFragmentTag), "1"};
    media::mkv::write_tags(std::span(&tag, 1), marker);
    const Timestamp pts = buffer_.newest_pts().value_or(Timestamp{});
    buffer_.append(marker, pts, false);
    buffer_.close_fragment();
    fragmenter_.end_fragment();
}

bool StreamImpl::all_acknowledged_locked() const {
    return buffer_.unacknowledged().all_acknowledged;
}

std::error_code StreamImpl::flush(Duration timeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mutex_);
    end_open_fragment_locked();
    if (transport_) transport_->wake();
    if (!changed_.wait_until(lock, deadline, [&] { return stopping_ || all_acknowledged_locked(); }))
        return Errc::timed_out;
    return all_acknowledged_locked() ? std::error_code{} : make_error_code(Errc::stopped);
}

StopReport StreamImpl::stop(Duration timeout) {
    const auto deadline = Clock::now() + timeout;
    // One stop at a time (say a callback and the owner stop together). The second one waits for the first
    // only until its own deadline, then reports what is unacknowledged at that moment.
    std::unique_lock serial(stop_mutex_, deadline);
    if (!serial.owns_lock()) {
        std::lock_guard lock(mutex_);
        if (stop_report_) return *stop_report_;
        StopReport report = buffer_.unacknowledged();
        report.timed_out = !report.all_acknowledged;
        return report;
    }
    {
        std::unique_lock lock(mutex_);
        if (stop_report_) return *stop_report_;
        if (!stopping_) {
            end_open_fragment_locked();
            stopping_ = true;
            changed_.notify_all();  // releases put_frame calls waiting for room
        }
        if (transport_) {
            transport_->wake();
            changed_.wait_until(lock, deadline, [&] { return all_acknowledged_locked(); });
        }
    }
    // Not under the lock: the network thread may be waiting for it inside a sink call.
    if (transport_) transport_->shutdown(deadline);
    Events events;
    StopReport report;
    {
        std::lock_guard lock(mutex_);
        report = buffer_.unacknowledged();
        report.timed_out = !report.all_acknowledged && Clock::now() >= deadline;
        stop_report_ = report;
        stopped_ = true;
        if (session_open_) events.closed = make_error_code(Errc::stopped);
        session_open_ = false;
    }
    // After the transport's last events, so on_stream_closed comes last; then whatever is still queued
    // runs until the deadline (called from a callback, it runs after that callback returns).
    dispatch(std::move(events));
    dispatcher_.stop(deadline);
    return report;
}

StreamMetrics StreamImpl::metrics() const {
    std::lock_guard lock(mutex_);
    StreamMetrics m = counters_;
    const auto now = Clock::now();
    m.frame_rate = frame_rate_.rate(now);
    m.transfer_rate = transfer_rate_.rate(now);
    m.buffered_duration = buffer_.duration();
    m.buffered_bytes = buffer_.bytes();
    m.buffered_fragments = static_cast<std::uint32_t>(buffer_.fragment_count());
    m.current_latency = buffer_.unsent_age();
    m.callbacks_dropped = dispatcher_.dropped();
    return m;
}

std::error_code StreamImpl::start_transport_locked() {
    std::unique_ptr<Transport> transport;
    if (!config_.output_file.empty())
        transport = std::make_unique<FileTransport>(config_.output_file, *this);
    else
        transport = std::make_unique<WsTransport>(transport_config_locked(), *this);
    if (auto ec = transport->start()) return ec;
    transport_ = std::move(transport);
    return {};
}

TransportConfig StreamImpl::transport_config_locked() const {
    TransportConfig t;
    t.endpoint = endpoint_;
    t.path = "/putMedia";
    t.headers = {
        {"x-amzn-stream-name", config_.stream_name},
        {"x-amzn-fragment-timecode-type", config_.absolute_fragment_times ? "ABSOLUTE" : "RELATIVE"},
        {"x-amzn-fragment-acknowledgment-required", "1"},
    };
    if (auto start = fragmenter_.start_timestamp())
        t.headers.emplace_back("x-amzn-producer-start-timestamp", start->to_kvs_seconds());
    // The same values as query parameters too (DESIGN.md: headers or query), for proxies and WebSocket
    // gateways that drop custom headers on the upgrade request. Stream names ([a-zA-Z0-9_.-]), the
    // timecode type and "sec.mmm" need no escaping.
    t.query = "StreamName=" + config_.stream_name +
              "&FragmentTimecodeType=" + (config_.absolute_fragment_times ? "ABSOLUTE" : "RELATIVE");
    if (auto start = fragmenter_.start_timestamp())
        t.query += "&ProducerStartTimestamp=" + start->to_kvs_seconds();
    t.ca_path = config_.ca_path;
    if (config_.create_if_missing) {
        t.create_stream_body = "{\"StreamName\":\"" + json_escape(config_.stream_name) +
                               "\",\"DataRetentionInHours\":" + std::to_string(config_.retention_hours) +
                               ",\"MediaType\":\"video/h264\"";
        if (!config_.stream_tags.empty()) {
            std::string tags;
            for (const auto& [key, value] : config_.stream_tags)
                tags +=
                    (tags.empty() ? "\"" : ",\"") + json_escape(key) + "\":\"" + json_escape(value) + "\"";
            t.create_stream_body += ",\"Tags\":{" + tags + "}";
        }
        t.create_stream_body += "}";
    }
    t.min_backoff = config_.reconnect_min_backoff;
    t.max_backoff = config_.reconnect_max_backoff;
    t.connect_timeout = config_.connect_timeout;
    // Staleness is checked this often; a tenth of the timeout is precise enough and costs nothing.
    t.poll_interval = std::clamp<Duration>(config_.connection_staleness / 10, std::chrono::milliseconds(10),
                                           std::chrono::milliseconds(500));
    return t;
}

// --- network thread ---

void StreamImpl::on_session_open() {
    Events events;
    {
        std::lock_guard lock(mutex_);
        buffer_.start_session(config_.replay_duration, events.dropped_fragments);
        ++counters_.sessions;
        if (counters_.sessions > 1) ++counters_.reconnects;
        session_open_ = true;
        last_ack_ = Clock::now();
        events.ready = true;
        count_dropped(events);
    }
    dispatch(std::move(events));
}

std::size_t StreamImpl::fill(std::uint8_t* dst, std::size_t max) {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    const std::size_t n = buffer_.next_chunk(dst, max, now);
    counters_.bytes_sent += n;
    if (n > 0) transfer_rate_.add(static_cast<double>(n), now);
    return n;
}

bool StreamImpl::has_unsent() {
    std::lock_guard lock(mutex_);
    return buffer_.has_unsent();
}

bool StreamImpl::on_message(std::string_view text) {
    Events events;
    bool restart = false;
    FragmentAck ack;
    if (auto ec = parse_ack(text, ack)) {
        events.errors.push_back(
            StreamError{ec, 0, {}, false, 0, "not an ACK: " + std::string(text.substr(0, 200))});
        dispatch(std::move(events));
        return false;
    }
    {
        std::lock_guard lock(mutex_);
        last_ack_ = Clock::now();
        switch (ack.type) {
            case AckType::buffering:
                ++counters_.acks_buffering;
                break;
            case AckType::received:
                ++counters_.acks_received;
                break;
            case AckType::persisted:
                ++counters_.acks_persisted;
                break;
            case AckType::error:
                ++counters_.acks_error;
                break;
            case AckType::idle:
                ++counters_.acks_idle;
                break;
        }
        if (ack.type == AckType::error) {
            events.errors.push_back(StreamError{
                make_error_code(Errc::server_error), ack.error_id, ack.error_code, ack.has_timecode,
                ack.fragment_timecode, "ERROR ACK " + std::to_string(ack.error_id) + " " + ack.error_code});
            // 5xxx are the server's own failures (internal, archival): the same bytes may succeed later, so
            // reconnect and replay. 4xxx reject the fragment itself: resending it would fail the same way.
            if (ack.error_id >= 5000 || !ack.has_timecode)
                restart = true;
            else
                buffer_.apply_ack(AckType::error, ack.fragment_timecode, events.dropped_fragments);
        } else if (ack.has_timecode) {
            buffer_.apply_ack(ack.type, ack.fragment_timecode, events.dropped_fragments);
        }
        count_dropped(events);
        changed_.notify_all();
    }
    events.ack = std::move(ack);
    dispatch(std::move(events));
    return restart;
}

void StreamImpl::on_session_closed(std::error_code why, std::string_view /*detail*/) {
    Events events;
    {
        std::lock_guard lock(mutex_);
        buffer_.end_session();
        if (session_open_) events.closed = why;
        session_open_ = false;
    }
    dispatch(std::move(events));
}

bool StreamImpl::needs_restart(SteadyTime now) {
    Events events;
    bool restart = false;
    {
        std::lock_guard lock(mutex_);
        if (buffer_.session_broken()) {
            restart = true;
        } else if (auto oldest = buffer_.oldest_awaiting_ack()) {
            const Duration waited = now - std::max(*oldest, last_ack_);
            if (waited > config_.connection_staleness) {
                ++counters_.stale_connections;
                events.stale = waited;
                restart = true;
            }
        }
    }
    dispatch(std::move(events));
    return restart;
}

void StreamImpl::on_create_stream_result(std::error_code result, std::string_view detail) {
    if (!result) return;
    Events events;
    events.errors.push_back(StreamError{result, 0, {}, false, 0, std::string(detail)});
    dispatch(std::move(events));
}

void StreamImpl::on_durable() {
    // What a server would say for each fragment that went out whole: PERSISTED, in order.
    std::vector<FragmentAck> acks;
    {
        std::lock_guard lock(mutex_);
        std::vector<std::int64_t> timecodes;
        for (const auto& f : buffer_.fragments())
            if (f.closed && f.sent_at && f.state < FragmentState::persisted) timecodes.push_back(f.timecode);
        std::vector<DroppedFragment> none;
        for (const std::int64_t timecode : timecodes) {
            buffer_.apply_ack(AckType::persisted, timecode, none);
            ++counters_.acks_persisted;
            FragmentAck ack;
            ack.type = AckType::persisted;
            ack.has_timecode = true;
            ack.fragment_timecode = timecode;
            acks.push_back(std::move(ack));
        }
        last_ack_ = Clock::now();
        if (!acks.empty()) changed_.notify_all();
    }
    for (auto& ack : acks) {
        Events events;
        events.ack = std::move(ack);
        dispatch(std::move(events));
    }
}

void StreamImpl::on_transport_error(std::error_code error, std::string_view detail) {
    Events events;
    events.errors.push_back(StreamError{error, 0, {}, false, 0, std::string(detail)});
    dispatch(std::move(events));
}

void StreamImpl::count_dropped(Events& events) {
    for (const auto& d : events.dropped_fragments) {
        ++counters_.fragments_dropped;
        (void)d;
    }
}

void StreamImpl::dispatch(Events&& events) {
    const StreamCallbacks& cb = *callbacks_;
    // No callback thread for a stream nobody listens to.
    const bool anyone = cb.on_ack || cb.on_error || cb.on_dropped_frame || cb.on_dropped_fragment ||
                        cb.on_latency_pressure || cb.on_connection_stale || cb.on_stream_ready ||
                        cb.on_stream_closed;
    if (events.empty() || !anyone) return;
    // The task owns the events and a reference to the callbacks: it may run after stop() returned.
    dispatcher_.post([callbacks = callbacks_, events = std::move(events)] { deliver(*callbacks, events); });
}

void StreamImpl::deliver(const StreamCallbacks& cb, const Events& events) {
    if (events.ready && cb.on_stream_ready) cb.on_stream_ready();
    if (events.ack && cb.on_ack) cb.on_ack(*events.ack);
    for (const auto& e : events.errors)
        if (cb.on_error) cb.on_error(e);
    if (events.dropped_frame && cb.on_dropped_frame)
        cb.on_dropped_frame(events.dropped_frame->first, events.dropped_frame->second);
    for (const auto& d : events.dropped_fragments)
        if (cb.on_dropped_fragment) cb.on_dropped_fragment(d);
    if (events.latency_pressure && cb.on_latency_pressure) cb.on_latency_pressure(*events.latency_pressure);
    if (events.stale && cb.on_connection_stale) cb.on_connection_stale(*events.stale);
    if (events.closed && cb.on_stream_closed) cb.on_stream_closed(*events.closed);
}

}  // namespace kinema::producer
