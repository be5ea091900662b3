// GetMedia over WebSocket (binary messages) and chunked HTTP (video/webm): archived fragments from the
// StartSelector's position, read on the blocking-work pool, then the live tail from the stream's hub at
// frame granularity, handed over without a gap (see start_selector.h). One write in flight at a time; while
// it is, the hub queues for this viewer (bounded) and skips to the next key frame when the queue is full.
// GetMediaForFragmentList (chunked HTTP) uses the same archive reads over its checked list, then ends the
// body instead of going live.
//
// The output always ends cleanly (the final chunk, or a WebSocket close): when the server stops, after an
// error (Tags AWS_KINESISVIDEO_ERROR_CODE/_ERROR_ID first), and when the stream is deleted (error
// ResourceNotFoundException, id 4000: KVS's "requested fragment is not found").
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>

#include <kinema/storage/error.h>

#include "archived_media.h"
#include "get_media_output.h"
#include "http_session.h"
#include "media_transport.h"
#include "metrics.h"
#include "transport_util.h"

namespace kinema::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

namespace {

// Archive reads hand back at most this much (MediaServiceOptions::archive_batch_bytes, or this many
// fragments) per trip to the blocking pool, so a viewer far behind alternates reading and sending instead of
// holding a large backlog in memory.
constexpr int kArchiveBatchFragments = 8;

constexpr const char* kStreamGoneCode = "ResourceNotFoundException";
constexpr int kStreamGoneId = 4000;

class GetMediaConnection : public Connection, public std::enable_shared_from_this<GetMediaConnection> {
public:
    GetMediaConnection(asio::any_io_executor executor, GetMediaPlan plan, std::string request_id,
                       std::shared_ptr<SessionContext> context)
        : executor_(std::move(executor)),
          request_id_(std::move(request_id)),
          plan_(std::move(plan)),
          ctx_(std::move(context)),
          media_(*ctx_->media),
          stream_metrics_(media_.metrics().stream(plan_.stream)),
          writer_(plan_.continuous ? OutputMode::continuous : OutputMode::kvs),
          cursor_(media_.store(), plan_.stream, plan_.position.after),
          hub_(plan_.hub) {}

    ~GetMediaConnection() override {
        if (connected_) media_.metrics().viewers_connected(-1);
        if (id_ != 0) ctx_->remove_connection(id_);
        spdlog::debug("stream {} session {}: GetMedia connection closed", plan_.stream, id_);
    }

    void start() {
        asio::dispatch(executor_, [self = shared_from_this()] {
            self->id_ = self->ctx_->add_connection(self->weak_from_this());
            self->accept();
        });
    }

    // Server stop: the output ends cleanly after the write in flight.
    void shutdown() override {
        asio::dispatch(executor_, [self = shared_from_this()] { self->end_output(nullptr, true); });
    }

protected:
    virtual void accept() = 0;                         // upgrade / 200 header; then on_accepted()
    virtual void watch_input() = 0;                    // reads until the client leaves, then close()
    virtual void write_bytes(const Bytes& bytes) = 0;  // one message / chunk; then on_written(ok)
    // The clean end: the final chunk, or a WebSocket close (going away when the server stops); then close().
    virtual void end_transport(bool server_stopping) = 0;
    virtual void close_transport() = 0;
    virtual const char* transport_name() const = 0;

    void on_accepted() {
        accepted_ = true;
        if (plan_.fragment_list) {
            spdlog::info("stream {} session {}: GetMediaForFragmentList of {} fragment(s) (request {})",
                         plan_.stream, id_, plan_.fragment_list->size(), request_id_);
            if (ending_) return write_end();  // the server began stopping during the accept
            watch_input();
            return read_archive();
        }
        connected_ = true;
        media_.metrics().viewers_connected(1);
        spdlog::info("stream {} session {}: GetMedia viewer connected ({}, {}, request {})", plan_.stream,
                     id_, transport_name(), plan_.continuous ? "continuous" : "per-fragment MKV",
                     request_id_);
        if (ending_) return write_end();  // the server began stopping during the accept
        watch_input();
        end_watch_ = hub_->watch_end([weak = weak_from_this(), executor = executor_] {
            asio::post(executor, [weak] {
                if (auto self = weak.lock()) self->on_stream_deleted();
            });
        });
        if (plan_.position.live_now) return join_live(hub_->join_now(notifier()));
        std::weak_ptr<GetMediaConnection> weak = weak_from_this();
        // Subscribed before the first read that may find the archive caught up, so no commit is missed.
        cursor_.follow([weak, executor = executor_] {
            asio::post(executor, [weak] {
                if (auto self = weak.lock()) self->on_commit();
            });
        });
        read_archive();
    }

    void on_written(bool ok, std::size_t bytes) {
        writing_ = false;
        // The continuation usually holds this connection: release it on every path.
        auto next = std::move(after_write_);
        after_write_ = nullptr;
        if (!ok) return close();
        stream_metrics_->bytes_out(bytes);
        if (next) next();
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        viewer_.reset();
        end_watch_.reset();
        after_write_ = nullptr;
        cursor_.stop_following();
        spdlog::info("stream {} session {}: {}", plan_.stream, id_,
                     plan_.fragment_list ? "GetMediaForFragmentList ended" : "GetMedia viewer left");
        close_transport();
    }

    bool finite_output() const { return static_cast<bool>(plan_.fragment_list); }  // GetMediaForFragmentList
    const std::shared_ptr<SessionContext>& context() const { return ctx_; }

    asio::any_io_executor executor_;
    std::uint64_t id_ = 0;
    std::string request_id_;
    bool closed_ = false;

private:
    std::function<void()> notifier() {
        return [weak = weak_from_this(), executor = executor_] {
            asio::post(executor, [weak] {
                if (auto self = weak.lock()) self->drain_live();
            });
        };
    }

    void send(std::shared_ptr<Bytes> bytes, std::function<void()> then) {
        if (closed_ || ending_) return;
        writing_ = true;
        after_write_ = std::move(then);
        out_ = std::move(bytes);
        write_bytes(*out_);
    }

    // ---- The end -----------------------------------------------------------------------------------------

    // Ends the output cleanly: after the write in flight, `last` (if any), then end_transport(). Nothing
    // else is sent after this.
    void end_output(std::shared_ptr<Bytes> last, bool server_stopping) {
        if (closed_ || ending_) return;
        ending_ = true;
        end_bytes_ = std::move(last);
        server_stopping_ = server_stopping;
        viewer_.reset();
        end_watch_.reset();
        waiting_for_commit_ = false;
        cursor_.stop_following();
        if (!accepted_) return;  // on_accepted() finishes it
        if (writing_) {
            after_write_ = [self = shared_from_this()] { self->write_end(); };
            return;
        }
        write_end();
    }

    void write_end() {
        auto last = std::move(end_bytes_);
        if (!last || last->empty()) return end_transport(server_stopping_);
        writing_ = true;
        after_write_ = [self = shared_from_this()] { self->end_transport(self->server_stopping_); };
        out_ = std::move(last);
        write_bytes(*out_);
    }

    void end_with_error(const char* code, int id, std::shared_ptr<Bytes> bytes = nullptr) {
        if (!bytes) bytes = std::make_shared<Bytes>();
        writer_.write_error(code, id, *bytes);
        end_output(std::move(bytes), false);
    }

    // DeleteStream: what the hub queued goes out first, then the error.
    void on_stream_deleted() {
        if (closed_ || ending_) return;
        spdlog::info("stream {} session {}: the stream was deleted; GetMedia ends", plan_.stream, id_);
        stream_deleted_ = true;
        if (viewer_) return drain_live();
        end_with_error(kStreamGoneCode, kStreamGoneId);
    }

    // ---- Archive ---------------------------------------------------------------------------------------

    void read_archive() {
        if (closed_ || ending_) return;
        const auto commits_before = commits_;
        asio::post(*ctx_->blocking, [self = shared_from_this(), commits_before] {
            auto bytes = std::make_shared<Bytes>();
            int fragments = 0;
            bool caught_up = false;
            std::error_code error;
            self->read_batch(*bytes, fragments, caught_up, error);
            asio::post(self->executor_, [self, bytes, fragments, caught_up, error, commits_before] {
                self->on_archive(bytes, fragments, caught_up, error, commits_before);
            });
        });
    }

    // Blocking pool: the strand does not touch cursor_, writer_ or headers_ while this runs.
    void read_batch(Bytes& out, int& fragments, bool& caught_up, std::error_code& error) {
        const std::size_t batch_bytes = media_.options().archive_batch_bytes;
        if (auto& list = plan_.fragment_list) {
            while (fragments < kArchiveBatchFragments && out.size() < batch_bytes && list->next(out))
                ++fragments;
            caught_up = list->done();
            return;
        }
        auto& store = media_.store();
        while (fragments < kArchiveBatchFragments && out.size() < batch_bytes) {
            storage::FragmentInfo info;
            if (auto ec = cursor_.next(info)) {
                if (ec == storage::Errc::fragment_not_found) {
                    caught_up = true;
                } else {
                    error = ec;
                }
                return;
            }
            storage::Fragment fragment;
            if (auto ec = store.read(plan_.stream, info.number, fragment)) {
                if (ec == storage::Errc::fragment_not_found) continue;  // removed by retention meanwhile
                error = ec;
                return;
            }
            std::shared_ptr<const StreamHeader> header;
            if (auto ec = headers_.get(store, plan_.stream, fragment.info.header_id, header)) {
                error = ec;
                return;
            }
            if (writer_.write_fragment(*header, fragment, media::Timestamp::now(), out)) ++fragments;
        }
    }

    void on_archive(std::shared_ptr<Bytes> bytes, int fragments, bool caught_up, std::error_code error,
                    std::uint64_t commits_before) {
        if (closed_ || ending_) return;
        for (int i = 0; i < fragments; ++i)
            stream_metrics_->fragment_out();
        if (error == storage::Errc::resource_not_found || (error && hub_ && hub_->ended())) {
            return end_with_error(kStreamGoneCode, kStreamGoneId, std::move(bytes));  // deleted meanwhile
        }
        if (error) {
            spdlog::warn("stream {} session {}: GetMedia archive read failed: {}", plan_.stream, id_,
                         error.message());
            return end_with_error("INTERNAL_ERROR", 5000, std::move(bytes));
        }
        auto next = [self = shared_from_this(), caught_up, commits_before] {
            if (caught_up && self->plan_.fragment_list) {
                self->end_output(nullptr, false);  // a finite output: the final chunk, then close
            } else if (caught_up) {
                self->go_live(commits_before);
            } else {
                self->read_archive();
            }
        };
        if (bytes->empty()) return next();
        send(bytes, std::move(next));
    }

    void go_live(std::uint64_t commits_before) {
        auto viewer = hub_->join_after(cursor_.position(), notifier());
        if (viewer) {
            cursor_.stop_following();
            return join_live(std::move(viewer));
        }
        // Fragments after our position completed but are not readable yet: read them once they commit.
        if (commits_ != commits_before) return read_archive();
        waiting_for_commit_ = true;
    }

    void on_commit() {
        ++commits_;
        if (!waiting_for_commit_ || closed_ || ending_) return;
        waiting_for_commit_ = false;
        read_archive();
    }

    // ---- Live ------------------------------------------------------------------------------------------

    void join_live(std::shared_ptr<LiveViewer> viewer) {
        viewer_ = std::move(viewer);
        drain_live();
    }

    void drain_live() {
        if (closed_ || ending_ || !viewer_) return;
        // Reported even while a write is stuck: a viewer that stopped reading is the one that skips.
        const auto skipped = viewer_->frames_skipped();
        stream_metrics_->frames_skipped(skipped - skipped_reported_);
        skipped_reported_ = skipped;
        if (writing_) return;
        auto items = viewer_->take();
        if (items.empty()) {
            if (stream_deleted_) end_with_error(kStreamGoneCode, kStreamGoneId);
            return;
        }
        auto bytes = std::make_shared<Bytes>();
        for (const auto& item : items) {
            switch (item.kind) {
                case LiveItem::Kind::fragment_begin:
                    writer_.write_live_fragment_begin(*item.start, *bytes);
                    break;
                case LiveItem::Kind::frame:
                    bytes->insert(bytes->end(), item.block.begin(), item.block.end());
                    break;
                case LiveItem::Kind::fragment_end:
                    writer_.write_live_fragment_end(item.fragment_number, item.start->server_timestamp,
                                                    media::Timestamp::now(), *bytes);
                    if (!item.fragment_number.empty()) stream_metrics_->fragment_out();
                    break;
            }
        }
        // Only the end of a dropped fragment (or of any fragment, in continuous mode): nothing to write. An
        // empty chunk would end the HTTP body.
        if (bytes->empty()) return drain_live();
        send(bytes, [self = shared_from_this()] { self->drain_live(); });
    }

    GetMediaPlan plan_;
    std::shared_ptr<SessionContext> ctx_;
    MediaService& media_;
    std::shared_ptr<StreamMetrics> stream_metrics_;
    GetMediaWriter writer_;
    StreamHeaderCache headers_;
    FragmentCursor cursor_;
    std::shared_ptr<LiveHub> hub_;
    std::shared_ptr<LiveViewer> viewer_;
    std::shared_ptr<void> end_watch_;  // hub_->watch_end()
    std::shared_ptr<Bytes> out_;
    std::shared_ptr<Bytes> end_bytes_;  // written by write_end()
    std::function<void()> after_write_;
    std::uint64_t commits_ = 0;
    std::uint64_t skipped_reported_ = 0;
    bool writing_ = false;
    bool waiting_for_commit_ = false;
    bool accepted_ = false;   // the response head / upgrade went out
    bool connected_ = false;  // a viewer (counted in the viewers metric)
    bool ending_ = false;     // end_output() was called
    bool server_stopping_ = false;
    bool stream_deleted_ = false;
};

// ---- WebSocket ---------------------------------------------------------------------------------------

class WebSocketGetMedia final : public GetMediaConnection {
public:
    WebSocketGetMedia(beast::tcp_stream stream, FullRequest request, GetMediaPlan plan,
                      std::string request_id, std::shared_ptr<SessionContext> context)
        : GetMediaConnection(stream.get_executor(), std::move(plan), std::move(request_id),
                             std::move(context)),
          ws_(std::move(stream)),
          request_(std::move(request)) {}

private:
    auto self() { return std::static_pointer_cast<WebSocketGetMedia>(shared_from_this()); }
    const char* transport_name() const override { return "WebSocket"; }

    void accept() override {
        beast::get_lowest_layer(ws_).expires_never();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "kinema-server"); }));
        // A viewer only sends control frames (and maybe small messages we ignore).
        ws_.read_message_max(64 * 1024);
        ws_.async_accept(request_, [keep = self()](beast::error_code ec) {
            if (ec) return keep->close();
            keep->ws_.binary(true);
            keep->on_accepted();
        });
    }

    void watch_input() override {
        ws_.async_read(input_, [keep = self()](beast::error_code ec, std::size_t) {
            if (ec) return keep->close();
            keep->input_.consume(keep->input_.size());
            keep->watch_input();
        });
    }

    void write_bytes(const Bytes& bytes) override {
        ws_.async_write(asio::buffer(bytes),
                        [keep = self()](beast::error_code ec, std::size_t n) { keep->on_written(!ec, n); });
    }

    void end_transport(bool server_stopping) override {
        // The pending read sees the viewer's close reply; a silent viewer is cut after
        // kWebSocketCloseTimeout.
        ws_.set_option(close_timeout());
        ws_.async_close(server_stopping ? websocket::close_code::going_away : websocket::close_code::normal,
                        [keep = self()](beast::error_code) { keep->close(); });
    }

    void close_transport() override {
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(ws_).close();
    }

    websocket::stream<beast::tcp_stream> ws_;
    FullRequest request_;
    beast::flat_buffer input_;
};

// ---- Chunked HTTP --------------------------------------------------------------------------------------

// A finite output (GetMediaForFragmentList) on a kept-alive connection gives the connection back to HTTP
// after its final chunk, as botocore's connection pool expects; a live GetMedia body ends with the
// connection.
class HttpGetMedia final : public GetMediaConnection {
public:
    HttpGetMedia(beast::tcp_stream stream, beast::flat_buffer buffer, bool keep_alive, GetMediaPlan plan,
                 std::string request_id, std::shared_ptr<SessionContext> context)
        : GetMediaConnection(stream.get_executor(), std::move(plan), std::move(request_id),
                             std::move(context)),
          stream_(std::move(stream)),
          pending_(std::move(buffer)),
          keep_alive_(keep_alive && finite_output()) {}

private:
    auto self() { return std::static_pointer_cast<HttpGetMedia>(shared_from_this()); }
    const char* transport_name() const override { return "chunked HTTP"; }

    void accept() override {
        stream_.expires_never();
        head_ =
            "HTTP/1.1 200 OK\r\nServer: kinema-server\r\nContent-Type: video/webm\r\n"
            "Transfer-Encoding: chunked\r\nx-amzn-RequestId: " +
            request_id_ + (keep_alive_ ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
        asio::async_write(stream_, asio::buffer(head_), [keep = self()](beast::error_code ec, std::size_t) {
            if (ec) return keep->close();
            keep->on_accepted();
        });
    }

    // The request was read whole. On a kept-alive connection what arrives meanwhile is the client's next
    // request (pipelined), kept for the HTTP session that takes the connection back (up to the header
    // limit; past it the reads stop and the write path notices a client that left). Otherwise anything
    // more, or the end of the stream, means the client is done.
    void watch_input() override {
        if (keep_alive_) {
            if (pending_.size() >= context()->max_header_bytes) return;
            watching_ = true;
            stream_.async_read_some(
                pending_.prepare(4096), [keep = self()](beast::error_code ec, std::size_t n) {
                    keep->watching_ = false;
                    keep->pending_.commit(n);
                    if (keep->handing_back_ && (!ec || ec == asio::error::operation_aborted))
                        return keep->hand_back();
                    if (ec) return keep->close();
                    keep->watch_input();
                });
            return;
        }
        stream_.async_read_some(asio::buffer(input_), [keep = self()](beast::error_code ec, std::size_t) {
            if (ec) return keep->close();
            keep->watch_input();
        });
    }

    void write_bytes(const Bytes& bytes) override {
        const int len = std::snprintf(size_line_, sizeof size_line_, "%zx\r\n", bytes.size());
        const std::array<asio::const_buffer, 3> buffers{
            asio::buffer(size_line_, static_cast<std::size_t>(len)), asio::buffer(bytes),
            asio::buffer("\r\n", 2)};
        asio::async_write(stream_, buffers,
                          [keep = self(), size = bytes.size()](beast::error_code ec, std::size_t) {
                              keep->on_written(!ec, size);
                          });
    }

    void end_transport(bool server_stopping) override {
        static constexpr char kLastChunk[] = "0\r\n\r\n";
        asio::async_write(stream_, asio::buffer(kLastChunk, sizeof kLastChunk - 1),
                          [keep = self(), server_stopping](beast::error_code ec, std::size_t) {
                              if (ec || !keep->keep_alive_ || server_stopping || keep->context()->draining)
                                  return keep->close();
                              keep->handing_back_ = true;
                              if (!keep->watching_) return keep->hand_back();
                              beast::error_code ignored;
                              keep->stream_.socket().cancel(ignored);  // its handler hands back
                          });
    }

    // The response is complete: the connection serves HTTP again, with what was read meanwhile.
    void hand_back() {
        if (closed_) return;
        handed_back_ = true;
        close();  // the media session's end; the socket stays open
        resume_http_session(std::move(stream_), std::move(pending_), context());
    }

    void close_transport() override {
        if (handed_back_) return;
        beast::error_code ec;
        stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    std::string head_;
    char size_line_[24] = {};
    std::array<char, 512> input_{};
    beast::flat_buffer pending_;  // read past the request on a kept-alive connection
    bool keep_alive_ = false;
    bool watching_ = false;      // a read of pending_ is in flight
    bool handing_back_ = false;  // the final chunk is written; hand back once no read is in flight
    bool handed_back_ = false;
};

}  // namespace

void start_get_media_http(beast::tcp_stream stream, beast::flat_buffer buffer, bool keep_alive,
                          GetMediaPlan plan, std::string request_id,
                          std::shared_ptr<SessionContext> context) {
    std::make_shared<HttpGetMedia>(std::move(stream), std::move(buffer), keep_alive, std::move(plan),
                                   std::move(request_id), std::move(context))
        ->start();
}

void start_get_media_websocket(beast::tcp_stream stream, FullRequest request, GetMediaPlan plan,
                               std::string request_id, std::shared_ptr<SessionContext> context) {
    std::make_shared<WebSocketGetMedia>(std::move(stream), std::move(request), std::move(plan),
                                        std::move(request_id), std::move(context))
        ->start();
}

}  // namespace kinema::server
