// PutMedia over WebSocket and over chunked HTTP: one PutMediaConnection drives a PutMediaSession on the
// connection's strand; the two transports differ only in how bytes come in and ACKs go out.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "http_session.h"
#include "kvs_error.h"
#include "media_transport.h"
#include "metrics.h"
#include "shared_write_stream.h"
#include "transport_util.h"
#include "websocket_frame_reader.h"

namespace kinema::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

namespace {

// Bytes a PutMedia read asks for.
constexpr std::size_t kReadBytes = 256 * 1024;
// What a WebSocket connection's reads ask for from its first read that took kReadBytes: a producer sending
// faster than the server reads. In 8 kinema-bench-ingest --only single runs each, taking turns, the server's
// CPU per MB of that stream was 0.51-0.84 ms (mean 0.62) against 0.62-0.82 (mean 0.72) with 256 KiB reads,
// the rate 8087-10516 against 7952-9099 Mbit/s (within this VM's noise); per run (2 more each, both
// producers) the server made 17k sendmsg calls (its ACK writes) against 24k, 75-80k
// recvmsg against 89-90k and 182-185k epoll_wait against 202-203k. A camera's reads are a frame or a few,
// so its input buffer stays small.
constexpr std::size_t kFastReadBytes = 1024 * 1024;

// ACKs on their way to a connection's strand (see PutMediaConnection::begin).
struct AckInbox {
    std::mutex mutex;
    std::vector<std::pair<Ack, media::Duration>> acks;
};

class PutMediaConnection : public Connection, public std::enable_shared_from_this<PutMediaConnection> {
public:
    PutMediaConnection(asio::any_io_executor executor, PutMediaPlan plan, std::string request_id,
                       std::shared_ptr<SessionContext> context)
        : executor_(std::move(executor)),
          request_id_(std::move(request_id)),
          idle_timer_(executor_),
          plan_(std::move(plan)),
          ctx_(std::move(context)),
          media_(*ctx_->media),
          stream_metrics_(media_.metrics().stream(plan_.stream)) {}

    ~PutMediaConnection() override {
        if (claim_) media_.producers().release(*claim_);
        if (connected_) media_.metrics().producers_connected(-1);
        if (id_ != 0) ctx_->remove_connection(id_);
        spdlog::debug("stream {} session {}: PutMedia connection closed", plan_.stream, id_);
    }

    void start() {
        asio::dispatch(executor_, [self = shared_from_this()] { self->begin(); });
    }

    void shutdown() override {
        asio::dispatch(executor_, [self = shared_from_this()] { self->end_input(true); });
    }

protected:
    // Transport hooks, all on the strand.
    virtual void reject(ApiResponse response) = 0;  // before anything was accepted: an HTTP error, close
    virtual void accept() = 0;                      // upgrade / 200 header; then calls on_accepted()
    virtual void read_more() = 0;                   // next bytes -> on_input / end_input
    // Writes the first ACKs of `outbox` (at least one); returns how many, and calls on_written() when done.
    virtual std::size_t write_acks(const std::deque<std::string>& outbox) = 0;
    virtual void close_output() = 0;  // after the last ACK: close frame / last chunk, close
    virtual void close_now() = 0;     // the connection is gone or revoked

    void on_accepted() {
        accepted_ = true;
        media_.metrics().producers_connected(1);
        connected_ = true;
        spdlog::info("stream {} session {}: PutMedia producer connected ({}, request {})", plan_.stream, id_,
                     transport_name(), request_id_);
        if (!plan_.stream_active) {
            Ack ack{AckEventType::error, 0, "", AckError::stream_not_active};
            queue_ack(to_json(ack));
            input_done_ = true;
            finish_output_when_flushed();
            return;
        }
        arm_idle_timer();
        read_more();
    }

    // Where the transport reads the next bytes of the MKV stream: straight into the session's input, which
    // keeps the fragment in progress, so that no byte is copied between the socket and the store. The space
    // stays valid while the read is in flight, even if the session is aborted from another thread.
    std::span<std::uint8_t> input_space(std::size_t size) {
        std::lock_guard ingest(*claim_->ingest_lock);
        return session_->input_space(size);
    }

    // `n` bytes arrived in input_space(). Returns true when the transport should read on.
    bool on_input(std::size_t n) {
        spdlog::trace("stream {} session {}: {} bytes in", plan_.stream, id_, n);
        if (input_done_) return false;
        claim_->touch();
        received_since_idle_ = true;
        stream_metrics_->bytes_in(n);
        PutMediaSession::State state;
        {
            std::lock_guard ingest(*claim_->ingest_lock);
            if (claim_->revoked) return false;
            state = session_->commit_input(n);
        }
        if (state == PutMediaSession::State::ended) {
            spdlog::warn("stream {} session {}: PutMedia ended: {}", plan_.stream, id_,
                         session_->error().message());
            input_done_ = true;
            release_claim();
            // The ERROR ACK was posted before this: close after it is written.
            asio::post(executor_, [self = shared_from_this()] { self->finish_output_when_flushed(); });
            return false;
        }
        return true;
    }

    // The input ended: cleanly (end of body, WebSocket close, server stop) or not (connection lost).
    // `close_connection` false: the transport closes the connection itself (after answering a WebSocket
    // close).
    void end_input(bool clean, bool close_connection = true) {
        if (input_done_) {
            if (!accepted_ && !clean) close_now();
            return;
        }
        input_done_ = true;
        idle_timer_.cancel();
        if (!session_) return close_now();
        {
            std::lock_guard ingest(*claim_->ingest_lock);
            if (!claim_->revoked) {
                if (clean) {
                    session_->finish();
                } else {
                    session_->abort();
                }
            }
        }
        const auto stats = session_->stats();
        spdlog::info(
            "stream {} session {}: PutMedia input ended ({}): {} bytes, {} fragments stored, {} duplicate, "
            "{} dropped",
            plan_.stream, id_, clean ? "clean" : "connection lost", stats.bytes, stats.fragments_stored,
            stats.fragments_duplicate, stats.fragments_dropped);
        release_claim();
        if (!clean || output_closed_) {
            // Fragments appended but not durable yet keep the live hub: a viewer handed over from the
            // archive meanwhile waits for them to be readable (LiveHub::join_after).
            session_->when_acknowledged([hub = hub_] {});
            if (close_connection) close_now();
            return;
        }
        // Close once every RECEIVED fragment has its PERSISTED (or ERROR) on the wire. The callback holds the
        // connection: nothing else may be pending on it while the last commits complete.
        session_->when_acknowledged([self = shared_from_this()] {
            asio::post(self->executor_, [self] { self->finish_output_when_flushed(); });
        });
    }

    void on_written() {
        writing_ = false;
        outbox_.erase(outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(in_write_));
        in_write_ = 0;
        flush();
    }

    void on_output_failed() {
        output_closed_ = true;
        outbox_.clear();
        writing_ = false;
        if (!input_done_) end_input(false);
        close_now();
    }

    virtual const char* transport_name() const = 0;

    const MediaServiceOptions& media_options() const { return media_.options(); }

    asio::any_io_executor executor_;
    std::uint64_t id_ = 0;
    bool output_closed_ = false;
    std::string request_id_;

private:
    void begin() {
        id_ = ctx_->add_connection(weak_from_this());
        claim_ = std::make_shared<ProducerClaim>();
        claim_->stream = plan_.stream;
        std::weak_ptr<PutMediaConnection> weak = weak_from_this();
        claim_->on_revoked = [weak, executor = executor_] {
            asio::post(executor, [weak] {
                auto self = weak.lock();
                if (!self) return;
                spdlog::warn("stream {} session {}: replaced by a newer producer connection",
                             self->plan_.stream, self->id_);
                self->input_done_ = true;
                self->close_now();
            });
        };
        claim_->on_stream_deleted = [weak, executor = executor_] {
            asio::post(executor, [weak] {
                if (auto self = weak.lock()) self->on_stream_deleted();
            });
        };
        if (!media_.producers().claim(claim_, media_.options().producer_takeover_after)) {
            claim_.reset();
            spdlog::warn("stream {} session {}: refused a second producer", plan_.stream, id_);
            return reject(kvs_error(400, "ResourceInUseException",
                                    "stream " + plan_.stream + " already has an active PutMedia producer"));
        }
        // ACKs come from the session on this strand and from the store's commit thread (PERSISTED, a commit
        // round's worth at once). They queue in the inbox, and one post hands a whole batch to the strand:
        // not one post, and so one network-thread wake-up, per ACK.
        auto inbox = std::make_shared<AckInbox>();
        auto acks = [weak, executor = executor_, inbox](const Ack& ack, media::Duration since_first_byte) {
            bool first = false;
            {
                std::lock_guard lock(inbox->mutex);
                first = inbox->acks.empty();
                inbox->acks.emplace_back(ack, since_first_byte);
            }
            if (!first) return;  // the post already queued takes this one too
            asio::post(executor, [weak, inbox] {
                std::vector<std::pair<Ack, media::Duration>> batch;
                {
                    std::lock_guard lock(inbox->mutex);
                    batch.swap(inbox->acks);
                }
                // The whole batch is queued before anything is written, so that it goes out in one write.
                if (auto self = weak.lock()) {
                    self->batching_ = true;
                    for (const auto& [queued, since] : batch)
                        self->on_ack(queued, since);
                    self->batching_ = false;
                    self->flush();
                }
            });
        };
        // A DeleteStream that completed after the check ended the plan's hub: refuse with 4008.
        if (plan_.hub && plan_.hub->ended()) plan_.stream_active = false;
        if (plan_.stream_active) hub_ = plan_.hub;
        plan_.hub.reset();
        session_ = std::make_shared<PutMediaSession>(media_.store(), plan_.options, std::move(acks), hub_);
        {
            std::lock_guard ingest(*claim_->ingest_lock);
            claim_->session = session_;
        }
        accept();
    }

    // DeleteStream: the session was aborted (ProducerRegistry::end_stream); ERROR 4008, then a clean end.
    void on_stream_deleted() {
        if (!accepted_) {
            plan_.stream_active = false;  // on_accepted sends the ERROR
            return;
        }
        if (input_done_) return;
        spdlog::warn("stream {} session {}: the stream was deleted; PutMedia session ends", plan_.stream,
                     id_);
        input_done_ = true;
        queue_ack(to_json(Ack{AckEventType::error, 0, "", AckError::stream_not_active}));
        finish_output_when_flushed();
    }

    void release_claim() {
        if (claim_) media_.producers().release(*claim_);
    }

    void on_ack(const Ack& ack, media::Duration since_first_byte) {
        spdlog::trace("stream {} session {}: ACK {}", plan_.stream, id_, to_json(ack));
        const double seconds = std::chrono::duration<double>(since_first_byte).count();
        if (ack.type == AckEventType::received) {
            media_.metrics().observe_ack_latency(false, seconds);
            stream_metrics_->fragment_in();
            received_at_[ack.fragment_number] = seconds;
        } else if (ack.type == AckEventType::persisted) {
            media_.metrics().observe_ack_latency(true, seconds);
            if (auto it = received_at_.find(ack.fragment_number); it != received_at_.end()) {
                media_.metrics().observe_commit_latency(std::max(0.0, seconds - it->second));
                received_at_.erase(it);
            }
        } else if (ack.type == AckEventType::error) {
            received_at_.erase(ack.fragment_number);
            spdlog::warn("stream {} session {}: ERROR ACK {} for fragment {} (timecode {})", plan_.stream,
                         id_, ack.error ? ack_error_name(*ack.error) : "?", ack.fragment_number,
                         ack.fragment_timecode);
        }
        queue_ack(to_json(ack));
    }

    void queue_ack(std::string json) {
        if (output_closed_) return;
        outbox_.push_back(std::move(json));
        if (!batching_) flush();
    }

    void flush() {
        if (writing_ || output_closed_) return;
        if (outbox_.empty()) {
            if (close_when_flushed_) {
                output_closed_ = true;
                close_output();
            }
            return;
        }
        writing_ = true;
        in_write_ = write_acks(outbox_);
    }

    void finish_output_when_flushed() {
        close_when_flushed_ = true;
        idle_timer_.cancel();
        flush();
    }

    // KVS sends IDLE while the producer is connected and silent; it keeps proxies from closing the
    // connection and tells the producer the server is still there.
    void arm_idle_timer() {
        idle_timer_.expires_after(media_.options().idle_ack_interval);
        idle_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->input_done_) return;
            if (!self->received_since_idle_) self->queue_ack(to_json(Ack{AckEventType::idle, 0, "", {}}));
            self->received_since_idle_ = false;
            self->arm_idle_timer();
        });
    }

    asio::steady_timer idle_timer_;
    PutMediaPlan plan_;
    std::shared_ptr<SessionContext> ctx_;
    MediaService& media_;
    std::shared_ptr<StreamMetrics> stream_metrics_;
    std::shared_ptr<ProducerClaim> claim_;
    std::shared_ptr<LiveHub> hub_;
    std::shared_ptr<PutMediaSession> session_;
    std::deque<std::string> outbox_;
    std::map<std::string, double> received_at_;  // fragment number -> RECEIVED latency, for commit latency
    bool writing_ = false;
    bool batching_ = false;     // queue_ack only queues: the caller flushes
    std::size_t in_write_ = 0;  // ACKs at the front of outbox_ being written
    bool accepted_ = false;
    bool connected_ = false;
    bool input_done_ = false;
    bool close_when_flushed_ = false;
    bool received_since_idle_ = false;
};

// ---- WebSocket ---------------------------------------------------------------------------------------

class WebSocketPutMedia final : public PutMediaConnection {
public:
    WebSocketPutMedia(beast::tcp_stream stream, FullRequest request, PutMediaPlan plan,
                      std::string request_id, std::shared_ptr<SessionContext> context)
        : PutMediaConnection(stream.get_executor(), std::move(plan), std::move(request_id), context),
          ws_(std::move(stream)),
          request_(std::move(request)),
          frames_(context->media->options().max_ws_message_bytes),
          timer_(executor_) {}

private:
    auto self() { return std::static_pointer_cast<WebSocketPutMedia>(shared_from_this()); }

    const char* transport_name() const override { return "WebSocket"; }

    void reject(ApiResponse response) override {
        auto keep = self();
        write_error_response(beast::get_lowest_layer(ws_), std::move(response), request_id_,
                             [keep] { keep->close_now(); });
    }

    // Beast does the opening handshake; after it, frames go both ways through this class
    // (websocket_frame_reader.h says why), over ws_.next_layer().
    void accept() override {
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout timeout;
        timeout.handshake_timeout = std::chrono::seconds(30);
        timeout.idle_timeout = websocket::stream_base::none();
        timeout.keep_alive_pings = false;
        ws_.set_option(timeout);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "kinema-server"); }));
        ws_.async_accept(request_, [keep = self()](beast::error_code ec) {
            if (ec) {
                spdlog::warn("PutMedia WebSocket handshake failed: {}", ec.message());
                keep->output_closed_ = true;
                return keep->end_input(false);
            }
            keep->arm_keepalive();
            keep->on_accepted();
        });
    }

    // Whatever the message boundaries: PutMedia's MKV is one byte stream. A read takes what the socket has
    // (many frames) straight into the session's input, where the frame reader unmasks the payloads and moves
    // them together.
    void read_more() override {
        const auto space = input_space(read_bytes_);
        read(space.data(), space.size());
    }

    void read(std::uint8_t* data, std::size_t size) {
        reading_ = true;
        ws_.next_layer().async_read_some(asio::buffer(data, size),
                                         [keep = self(), data](beast::error_code ec, std::size_t n) {
                                             keep->on_read(ec, std::span(data, n));
                                         });
    }

    void on_read(beast::error_code ec, std::span<std::uint8_t> wire) {
        reading_ = false;
        received_ = true;
        if (wire.size() >= kReadBytes) read_bytes_ = kFastReadBytes;
        if (ending_) {
            if (ec) return close_now();
            return discard();  // until the producer's end of stream
        }
        if (ec) {
            if (!draining_)
                spdlog::debug("stream session {}: PutMedia WebSocket read ended: {}", id_, ec.message());
            // A connection lost (or, when draining, the close timeout) without a close frame: the fragment
            // in progress is dropped.
            if (!draining_) return end_input(false);
            return close_now();
        }
        const std::size_t data = frames_.decode(wire);
        bool read_on = true;
        if (data > 0 && !draining_) read_on = on_input(data);
        if (frames_.failed()) {
            spdlog::warn("stream session {}: PutMedia WebSocket protocol violation: {}", id_,
                         frames_.error());
            // As Beast did: the fragment in progress is dropped and the close frame says why.
            output_closed_ = true;
            end_input(false, false);
            if (close_sent_) return end_connection();  // one close frame only
            return send_close(frames_.error_close_code());
        }
        if (frames_.closed()) {
            // The producer's clean end: every byte before the close frame went through on_input. The input
            // ends (the last fragment stored, the producer claim released) before the close answer goes out,
            // so a producer that reconnects as soon as it has the answer is not refused. No ACK follows a
            // close frame (RFC 6455 section 5.5.1).
            if (!draining_) {
                output_closed_ = true;
                end_input(true, false);
            }
            if (close_sent_) return end_connection();
            return send_close(frames_.close_code() == static_cast<std::uint16_t>(WsCloseCode::no_status)
                                  ? WsCloseCode::normal
                                  : static_cast<WsCloseCode>(frames_.close_code()));
        }
        if (frames_.ping_pending() && !close_sent_) {
            auto frame = std::make_shared<std::string>();
            append_ws_pong_frame(*frame, frames_.take_ping());
            send_frame(std::move(frame), false);
        }
        if (draining_) return discard();
        if (read_on) read_more();
    }

    std::size_t write_acks(const std::deque<std::string>& outbox) override {
        // One text message per ACK (DESIGN.md), every queued ACK in one write.
        framed_.clear();
        for (const auto& json : outbox)
            append_ws_text_frame(framed_, json);
        ws_.next_layer().async_write_whole(asio::buffer(framed_),
                                           [keep = self()](beast::error_code ec, std::size_t) {
                                               if (ec) return keep->on_output_failed();
                                               keep->on_written();
                                           });
        return outbox.size();
    }

    // The server ends the session: a close frame, then whatever the producer still sends is read and
    // dropped until its close answer; a producer that never answers is cut after kWebSocketCloseTimeout.
    void close_output() override {
        if (close_sent_) return;
        auto frame = std::make_shared<std::string>();
        append_ws_close_frame(*frame, static_cast<std::uint16_t>(WsCloseCode::normal));
        close_sent_ = true;
        timer_.cancel();
        send_frame(std::move(frame), false);
        draining_ = true;
        arm_close_deadline();
        if (!reading_) discard();  // else the read in flight goes on as the drain
    }

    void discard() { read(discard_.data(), discard_.size()); }

    // The close answer (or a violation's close), then the end of the connection.
    void send_close(WsCloseCode code) {
        close_sent_ = true;
        timer_.cancel();
        auto frame = std::make_shared<std::string>();
        append_ws_close_frame(*frame, static_cast<std::uint16_t>(code));
        send_frame(std::move(frame), true);
    }

    // A control frame of our own, in its turn after the ACK batch being written (SharedWriteStream).
    void send_frame(std::shared_ptr<std::string> frame, bool then_end) {
        auto& stream = ws_.next_layer();
        stream.async_write_whole(asio::buffer(*frame),
                                 [keep = self(), frame, then_end](beast::error_code ec, std::size_t) {
                                     if (ec) return keep->close_now();
                                     if (then_end) keep->end_connection();
                                 });
    }

    // After the close frames (RFC 6455 section 7.1.1, and Beast's teardown): the server ends its side of the
    // TCP connection first, then reads and drops what is still coming until the producer's end too (or
    // kWebSocketCloseTimeout). Closing with bytes unread would make the kernel send a reset, which can
    // destroy the close frame before the producer has read it.
    void end_connection() {
        if (ending_) return;
        ending_ = true;
        arm_close_deadline();
        if (!reading_) discard();
        // An empty write, after every write queued before it (the close frame among them).
        ws_.next_layer().async_write_whole(asio::const_buffer(),
                                           [keep = self()](beast::error_code ec, std::size_t) {
                                               if (!ec)
                                                   beast::get_lowest_layer(keep->ws_).socket().shutdown(
                                                       asio::ip::tcp::socket::shutdown_send, ec);
                                               if (ec) keep->close_now();
                                           });
    }

    // Once the close has begun, the producer gets kWebSocketCloseTimeout to finish it. (On its own timer:
    // the TCP stream's expiry may not be set while a read and a write are both in flight, as they are here.)
    void arm_close_deadline() {
        if (deadline_armed_) return;
        deadline_armed_ = true;
        timer_.expires_after(kWebSocketCloseTimeout);  // the keep-alive is over: close_sent_ is set
        timer_.async_wait([weak = std::weak_ptr(self())](boost::system::error_code ec) {
            if (ec) return;
            if (auto keep = weak.lock()) keep->close_now();
        });
    }

    // As Beast's suggested server settings did while Beast read the frames: after half of
    // websocket_silence_timeout without a byte from the producer it gets a ping; still nothing by the end,
    // and the connection is cut (the fragment in progress dropped, as for any connection lost).
    void arm_keepalive() {
        timer_.expires_after(media_options().websocket_silence_timeout / 2);
        timer_.async_wait([weak = std::weak_ptr(self())](boost::system::error_code ec) {
            auto keep = weak.lock();
            if (ec || !keep || keep->close_sent_ || keep->draining_) return;
            if (keep->received_) {
                keep->ping_sent_ = false;
            } else if (keep->ping_sent_) {
                spdlog::warn("stream session {}: PutMedia producer silent for {} ms, even to a ping; closing",
                             keep->id_, keep->media_options().websocket_silence_timeout.count());
                return keep->end_input(false);
            } else {
                auto frame = std::make_shared<std::string>();
                append_ws_ping_frame(*frame, "");
                keep->send_frame(std::move(frame), false);
                keep->ping_sent_ = true;
            }
            keep->received_ = false;
            keep->arm_keepalive();
        });
    }

    void close_now() override {
        timer_.cancel();
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(ws_).close();
    }

    websocket::stream<SharedWriteStream> ws_;  // Beast's part: the handshake
    FullRequest request_;
    WebSocketFrameReader frames_;
    asio::steady_timer timer_;                       // the keep-alive ping's, then the close's deadline
    std::string framed_;                             // the ACK frames being written
    std::array<std::uint8_t, 16 * 1024> discard_{};  // discard() reads into it
    bool reading_ = false;                           // a read is in flight
    std::size_t read_bytes_ = kReadBytes;            // what the next read asks for
    bool draining_ = false;    // after our close frame: reading until the producer's answer
    bool close_sent_ = false;  // no frame may follow it
    bool ending_ = false;      // our side of the TCP connection is shut: reading until the producer's end
    bool deadline_armed_ = false;
    bool received_ = false;   // bytes came in since the keep-alive timer's last turn
    bool ping_sent_ = false;  // the keep-alive timer's ping is not answered yet
};

// ---- Chunked HTTP --------------------------------------------------------------------------------------

class HttpPutMedia final : public PutMediaConnection {
public:
    HttpPutMedia(beast::tcp_stream stream, beast::flat_buffer buffer, std::unique_ptr<HeaderParser> header,
                 PutMediaPlan plan, std::string request_id, std::shared_ptr<SessionContext> context)
        : PutMediaConnection(stream.get_executor(), std::move(plan), std::move(request_id),
                             std::move(context)),
          stream_(std::move(stream)),
          buffer_(std::move(buffer)),
          expect_continue_(beast::iequals((*header).get()[http::field::expect], "100-continue")),
          parser_(std::move(*header)) {
        // Fragment limits are the PutMediaSession's; the body as a whole is a live stream of any length.
        parser_.body_limit(boost::none);
        // Beast reads at most max(512, capacity - size) bytes per read (beast::read_size): left at its
        // capacity after the request header, the buffer would take the body 512 bytes per system call.
        buffer_.reserve(kReadBytes);
    }

private:
    const char* transport_name() const override { return "chunked HTTP"; }

    auto self() { return std::static_pointer_cast<HttpPutMedia>(shared_from_this()); }

    void reject(ApiResponse response) override {
        auto keep = self();
        write_error_response(stream_, std::move(response), request_id_,
                             [keep] { keep->close_after_error(); });
    }

    void accept() override {
        stream_.expires_never();
        // The 200 goes out at once, as KVS does: ACKs follow as chunks while the body is still coming. A
        // client that asked for 100 Continue gets it first, or it would not send the body.
        std::string head = expect_continue_ ? "HTTP/1.1 100 Continue\r\n\r\n" : "";
        head +=
            "HTTP/1.1 200 OK\r\nServer: kinema-server\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nx-amzn-RequestId: " +
            request_id_ + "\r\nConnection: close\r\n\r\n";
        head_ = std::make_shared<std::string>(std::move(head));
        asio::async_write(stream_, asio::buffer(*head_), [keep = self()](beast::error_code ec, std::size_t) {
            if (ec) {
                keep->output_closed_ = true;
                return keep->end_input(false);
            }
            keep->on_accepted();
        });
    }

    void read_more() override {
        if (body_complete_) return end_input(true);
        // The parser writes the body's bytes (chunk framing removed) straight into the session's input.
        const auto space = input_space(kReadBytes);
        parser_.get().body().data = space.data();
        parser_.get().body().size = space.size();
        reading_ = true;
        http::async_read_some(stream_, buffer_, parser_, [keep = self()](beast::error_code ec, std::size_t) {
            keep->reading_ = false;
            if (keep->draining_) return keep->drain_for(std::chrono::seconds(2));
            if (ec == http::error::need_buffer) ec = {};
            const std::size_t n = kReadBytes - keep->parser_.get().body().size;
            if (ec) {
                spdlog::debug("stream session {}: PutMedia body read ended: {}", keep->id_, ec.message());
                return keep->end_input(false);
            }
            if (keep->parser_.is_done()) {
                if (n != 0)
                    keep->on_bytes_then_end(n);
                else
                    keep->end_input(true);
                return;
            }
            if (keep->on_input(n)) keep->read_more();
        });
    }

    void on_bytes_then_end(std::size_t n) {
        body_complete_ = true;
        if (on_input(n)) read_more();
    }

    std::size_t write_acks(const std::deque<std::string>& outbox) override {
        // One chunk per ACK line, every queued ACK in one write.
        framed_.clear();
        for (const auto& json : outbox) {
            char size[20];
            const int len = std::snprintf(size, sizeof size, "%zx\r\n", json.size() + 1);
            framed_.append(size, static_cast<std::size_t>(len));
            framed_ += json;
            framed_ += "\n\r\n";
        }
        asio::async_write(stream_, asio::buffer(framed_), [keep = self()](beast::error_code ec, std::size_t) {
            if (ec) return keep->on_output_failed();
            keep->on_written();
        });
        return outbox.size();
    }

    void close_output() override {
        framed_ = "0\r\n\r\n";
        asio::async_write(stream_, asio::buffer(framed_),
                          [keep = self()](beast::error_code, std::size_t) { keep->close_after_error(); });
    }

    // Stop sending, then read and discard what the client still sends until it closes (or 2 s pass): closing
    // with unread data would make the kernel send a reset, and the client could lose the last ACKs.
    void close_after_error() {
        beast::error_code ec;
        stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
        if (ec) return close_now();
        if (reading_) {
            // The output ended while the body was being read (the stream was deleted): that read's
            // handler drains, once cancelled here (no write is in flight).
            draining_ = true;
            stream_.socket().cancel(ec);
            return;
        }
        drain_for(std::chrono::seconds(2));
    }

    void drain_for(std::chrono::seconds limit) {
        stream_.expires_after(limit);
        drain();
    }

    void drain() {
        stream_.async_read_some(asio::buffer(discard_), [keep = self()](beast::error_code ec, std::size_t) {
            if (ec) return keep->close_now();
            keep->drain();
        });
    }

    void close_now() override {
        beast::error_code ec;
        stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    bool expect_continue_ = false;
    http::request_parser<http::buffer_body> parser_;
    std::array<std::uint8_t, 16 * 1024> discard_{};  // drain() reads into it
    std::shared_ptr<std::string> head_;
    std::string framed_;
    bool body_complete_ = false;
    bool reading_ = false;   // a body read is in flight
    bool draining_ = false;  // close_after_error() waits for it
};

}  // namespace

void start_put_media_http(beast::tcp_stream stream, beast::flat_buffer buffer,
                          std::unique_ptr<HeaderParser> parser, PutMediaPlan plan, std::string request_id,
                          std::shared_ptr<SessionContext> context) {
    std::make_shared<HttpPutMedia>(std::move(stream), std::move(buffer), std::move(parser), std::move(plan),
                                   std::move(request_id), std::move(context))
        ->start();
}

void start_put_media_websocket(beast::tcp_stream stream, FullRequest request, PutMediaPlan plan,
                               std::string request_id, std::shared_ptr<SessionContext> context) {
    std::make_shared<WebSocketPutMedia>(std::move(stream), std::move(request), std::move(plan),
                                        std::move(request_id), std::move(context))
        ->start();
}

}  // namespace kinema::server
