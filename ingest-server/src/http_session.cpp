#include "http_session.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <optional>

#include "http_request.h"
#include "kvs_error.h"
#include "media_service.h"
#include "media_transport.h"
#include "transport_util.h"

namespace kinema::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A handler that throws is a bug; the client still gets a KVS-shaped 500 rather than a dropped connection.
ApiResponse run_handler(const Route& route, const ApiRequest& request) {
    try {
        return route.handler(request);
    } catch (const std::exception& e) {
        spdlog::error("request {} {}: handler threw: {}", request.request_id, route.operation, e.what());
        return kvs_error(500, "InternalFailure", "internal error");
    }
}

}  // namespace

std::uint64_t SessionContext::add_connection(std::weak_ptr<Connection> connection) {
    const auto id = next_session_id++;
    std::lock_guard lock(sessions_mutex);
    sessions.emplace(id, std::move(connection));
    return id;
}

void SessionContext::remove_connection(std::uint64_t id) {
    {
        std::lock_guard lock(sessions_mutex);
        sessions.erase(id);
    }
    sessions_changed.notify_all();
}

class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(tcp::socket&& socket, std::shared_ptr<SessionContext> context)
        : stream_(std::move(socket)),
          executor_(stream_.get_executor()),
          ctx_(std::move(context)),
          id_(ctx_->next_session_id++) {
        ctx_->metrics.connection_opened();
    }

    // A connection a finite media response (GetMediaForFragmentList) gives back, with what it read meanwhile.
    HttpSession(beast::tcp_stream&& stream, beast::flat_buffer&& buffer,
                std::shared_ptr<SessionContext> context)
        : stream_(std::move(stream)),
          executor_(stream_.get_executor()),
          buffer_(std::move(buffer)),
          ctx_(std::move(context)),
          id_(ctx_->next_session_id++),
          resumed_(true) {
        ctx_->metrics.connection_resumed();
    }

    ~HttpSession() override {
        ctx_->metrics.connection_closed();
        ctx_->remove_connection(id_);
        spdlog::debug("session {} closed after {} request(s)", id_, requests_);
    }

    void start() {
        {
            std::lock_guard lock(ctx_->sessions_mutex);
            ctx_->sessions.emplace(id_, std::weak_ptr<Connection>(shared_from_this()));
        }
        beast::error_code ec;
        const auto peer = stream_.socket().remote_endpoint(ec);
        spdlog::debug("session {} {} from {}:{}", id_, resumed_ ? "resumed" : "opened",
                      peer.address().to_string(), peer.port());
        asio::dispatch(executor_, [self = shared_from_this()] { self->read_header(); });
    }

    void shutdown() override {
        asio::dispatch(executor_, [self = shared_from_this()] {
            self->keep_alive_ = false;
            if (!self->busy_) self->close();
        });
    }

private:
    void read_header() {
        if (ctx_->draining) return close();
        parser_ = std::make_unique<HeaderParser>();
        parser_->header_limit(static_cast<std::uint32_t>(ctx_->max_header_bytes));
        parser_->body_limit(ctx_->max_body_bytes);
        stream_.expires_after(ctx_->idle_timeout);
        busy_ = false;
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
    }

    void on_header(beast::error_code ec) {
        busy_ = true;
        if (ec) return on_read_error(ec);
        const auto& header = parser_->get();
        // PutMedia over HTTP streams its body: it is checked on the header and handed over unread.
        if ((header.method() == http::verb::post || header.method() == http::verb::put) && ctx_->media &&
            header.target().substr(0, header.target().find('?')) == "/putMedia") {
            return prepare_put_media_http();
        }
        // Refuse an oversized body before reading it (and before inviting it with 100 Continue).
        if (parser_->content_length() && *parser_->content_length() > ctx_->max_body_bytes)
            return reject(413, "request body of " + std::to_string(*parser_->content_length()) +
                                   " bytes exceeds the limit of " + std::to_string(ctx_->max_body_bytes));
        // curl and some SDKs wait for this before sending a body.
        if (beast::iequals(header[http::field::expect], "100-continue")) {
            auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
            return http::async_write(stream_, *cont,
                                     [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                                         if (wec) return self->close();
                                         self->read_body();
                                     });
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) return self->on_read_error(ec);
                             self->on_request();
                         });
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == asio::error::operation_aborted ||
            ec.category() != http::make_error_code(http::error::end_of_stream).category())
            return close();  // the peer left, went quiet, or the socket failed: nobody to answer
        if (ec == http::error::body_limit)
            return reject(
                413, "request body exceeds the limit of " + std::to_string(ctx_->max_body_bytes) + " bytes");
        if (ec == http::error::header_limit)
            return reject(431, "request headers exceed the limit of " +
                                   std::to_string(ctx_->max_header_bytes) + " bytes");
        reject(400, "malformed HTTP request: " + ec.message());
    }

    // Answers a request that could not be read whole, then closes: the rest of the stream is unusable.
    void reject(unsigned status, const std::string& message) {
        keep_alive_ = false;
        ApiRequest request;
        request.request_id = next_request_id();
        respond(kvs_error(status, "InvalidArgumentException", message), "(invalid)", request.request_id,
                Clock::now());
    }

    std::string next_request_id() {
        char id[40];
        std::snprintf(id, sizeof id, "%08llx-%04llx", static_cast<unsigned long long>(id_),
                      static_cast<unsigned long long>(++requests_));
        return id;
    }

    void prepare_put_media_http() {
        const auto started = Clock::now();
        ApiRequest request = to_api_request(parser_->get(), next_request_id());
        keep_alive_ = false;  // after an error answer, the unread body makes the connection unusable
        auto media = ctx_->media;
        asio::post(*ctx_->blocking, [self = shared_from_this(), media, request = std::move(request),
                                     started] {
            PutMediaPlan plan;
            auto error = media->prepare_put_media(request, plan);
            asio::post(self->executor_, [self, error = std::move(error), plan = std::move(plan),
                                         id = request.request_id, started]() mutable {
                if (!error.error_type.empty())
                    return self->respond(std::move(error), "PutMedia", id, started);
                self->ctx_->metrics.observe_request(
                    "PutMedia", 200, std::chrono::duration<double>(Clock::now() - started).count());
                self->handed_off_ = true;
                start_put_media_http(std::move(self->stream_), std::move(self->buffer_),
                                     std::move(self->parser_), std::move(plan), std::move(id), self->ctx_);
            });
        });
    }

    // PutMedia over WebSocket, GetMedia over WebSocket or HTTP, GetMediaForFragmentList over HTTP: checked
    // on the blocking pool, then the connection goes to its media session.
    void start_streaming(const Route& route, ApiRequest request, FullRequest message,
                         Clock::time_point started) {
        auto media = ctx_->media;
        const bool put = route.streaming == Streaming::put_media;
        asio::post(*ctx_->blocking, [self = shared_from_this(), media, put, request = std::move(request),
                                     message = std::move(message), started, &route]() mutable {
            PutMediaPlan put_plan;
            GetMediaPlan get_plan;
            auto error = put ? media->prepare_put_media(request, put_plan)
                         : route.streaming == Streaming::fragment_list
                             ? media->prepare_fragment_list(request, get_plan)
                             : media->prepare_get_media(request, get_plan);
            asio::post(self->executor_, [self, error = std::move(error), put_plan = std::move(put_plan),
                                         get_plan = std::move(get_plan), message = std::move(message),
                                         id = request.request_id, websocket = request.websocket_upgrade, put,
                                         started, &route]() mutable {
                if (!error.error_type.empty())
                    return self->respond(std::move(error), route.operation, id, started);
                self->ctx_->metrics.observe_request(
                    route.operation, websocket ? 101 : 200,
                    std::chrono::duration<double>(Clock::now() - started).count());
                self->handed_off_ = true;
                if (put) {
                    start_put_media_websocket(std::move(self->stream_), std::move(message),
                                              std::move(put_plan), std::move(id), self->ctx_);
                } else if (websocket) {
                    start_get_media_websocket(std::move(self->stream_), std::move(message),
                                              std::move(get_plan), std::move(id), self->ctx_);
                } else {
                    const bool keep_alive = self->keep_alive_ && !self->ctx_->draining;
                    start_get_media_http(std::move(self->stream_), std::move(self->buffer_), keep_alive,
                                         std::move(get_plan), std::move(id), self->ctx_);
                }
            });
        });
    }

    void on_request() {
        const auto started = Clock::now();
        auto message = parser_->release();
        if (!message.keep_alive()) keep_alive_ = false;
        ApiRequest request = to_api_request(message, next_request_id());

        auto match = ctx_->router.match(request);
        if (match.route == nullptr)
            return respond(std::move(match.error), "(unrouted)", request.request_id, started);
        const Route& route = *match.route;
        const bool streams = (route.streaming == Streaming::put_media && request.websocket_upgrade) ||
                             (route.streaming == Streaming::get_media &&
                              (request.websocket_upgrade || request.method == "POST")) ||
                             (route.streaming == Streaming::fragment_list && !request.websocket_upgrade);
        if (streams && ctx_->media)
            return start_streaming(route, std::move(request), std::move(message), started);
        if (route.execution == Execution::network_thread)
            return respond(run_handler(route, request), route.operation, request.request_id, started);

        asio::post(*ctx_->blocking,
                   [self = shared_from_this(), &route, request = std::move(request), started] {
                       auto response = run_handler(route, request);
                       asio::post(self->executor_, [self, &route, id = request.request_id, started,
                                                    response = std::move(response)]() mutable {
                           self->respond(std::move(response), route.operation, id, started);
                       });
                   });
    }

    void respond(ApiResponse response, const std::string& operation, const std::string& request_id,
                 Clock::time_point started) {
        const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        ctx_->metrics.observe_request(operation, response.status, seconds);
        if (response.status >= 500) {
            spdlog::warn("session {} request {} {} -> {} {} ({:.2f} ms)", id_, request_id, operation,
                         response.status, response.error_type, seconds * 1000);
        } else {
            spdlog::info("session {} request {} {} -> {}{}{} ({:.2f} ms)", id_, request_id, operation,
                         response.status, response.error_type.empty() ? "" : " ", response.error_type,
                         seconds * 1000);
        }

        auto out = make_http_response(std::move(response), request_id, keep_alive_ && !ctx_->draining);
        const bool close_after = !out->keep_alive();
        stream_.expires_after(ctx_->idle_timeout);
        http::async_write(stream_, *out,
                          [self = shared_from_this(), out, close_after](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              if (close_after) return self->close_gracefully();
                              self->read_header();
                          });
    }

    // After a final response: stop sending, then read and discard whatever the client still sends (the rest
    // of a rejected body) until it closes. Closing with unread data would make the kernel send a reset, and
    // the client could lose the response it has not read yet.
    void close_gracefully() {
        busy_ = true;
        if (handed_off_) return;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec) return close();
        stream_.expires_after(std::chrono::seconds(2));
        discard_ = std::make_shared<std::array<char, 16384>>();
        drain();
    }

    void drain() {
        stream_.async_read_some(asio::buffer(*discard_),
                                [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (ec) return self->close();
                                    self->drain();
                                });
    }

    void close() {
        busy_ = false;
        if (handed_off_) return;  // the socket belongs to a media session now
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    asio::any_io_executor executor_;  // the connection's strand; still valid once stream_ is handed over
    beast::flat_buffer buffer_;
    std::unique_ptr<HeaderParser> parser_;
    std::shared_ptr<SessionContext> ctx_;
    std::uint64_t id_;
    std::uint64_t requests_ = 0;
    bool busy_ = false;  // a request is being read past its header, handled or answered
    bool keep_alive_ = true;
    bool handed_off_ = false;
    bool resumed_ = false;  // serving again after a media response (resume_http_session)
    std::shared_ptr<std::array<char, 16384>> discard_;
};

void start_http_session(tcp::socket socket, const std::shared_ptr<SessionContext>& context) {
    std::make_shared<HttpSession>(std::move(socket), context)->start();
}

void resume_http_session(beast::tcp_stream stream, beast::flat_buffer buffer,
                         std::shared_ptr<SessionContext> context) {
    std::make_shared<HttpSession>(std::move(stream), std::move(buffer), std::move(context))->start();
}

}  // namespace kinema::server
