#include "ws_transport.h"

#include <libwebsockets.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "ack_parser.h"
#include "kinema/producer/error.h"

namespace kinema::producer {
namespace {

constexpr const char* kProtocolName = "kinema-putmedia";
// One WebSocket message per writable callback. Large enough that a 4 Mbit/s stream needs a few dozen
// callbacks a second, small enough to bound what lws buffers when the socket takes less.
constexpr std::size_t kChunkSize = 64 * 1024;
// How long destroying a transport waits for a network thread stop() could not wait for.
constexpr std::chrono::seconds kExitGrace{2};

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);

const lws_protocols kProtocols[] = {
    {kProtocolName, callback, 0, kMaxAckSize, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

struct WsTransport::Core {
    // lws timers carry no user pointer: each sits first in a struct that also holds its Core.
    struct Timer {
        lws_sorted_usec_list_t sul{};
        Core* core = nullptr;
    };

    TransportConfig config;

    std::mutex sink_mutex;  // held while the sink is called; shutdown() clears `sink_` under it
    TransportSink* sink_ = nullptr;

    std::mutex control_mutex;  // guards `context` against the network thread destroying it
    lws_context* context = nullptr;
    std::thread thread;
    std::atomic<bool> exit{false};
    std::atomic<bool> want_write{false};
    std::atomic<bool> want_restart{false};

    // Network-thread state.
    lws* wsi = nullptr;
    bool connection_live = false;  // a connect attempt or session that has not reported its end yet
    bool established = false;
    bool http_in_progress = false;  // createStream runs before the first PutMedia connect
    bool stream_created = false;
    int http_status = 0;
    std::string http_body;
    std::string http_error_type;  // x-amzn-ErrorType of the createStream answer
    int attempt = 0;
    std::string rx;
    bool rx_overflow = false;
    std::vector<unsigned char> tx = std::vector<unsigned char>(LWS_PRE + kChunkSize);
    std::string path;
    Timer reconnect_timer;
    Timer poll_timer;
    std::mt19937 rng{std::random_device{}()};

    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool started = false;  // the network thread was started (so `done` will be set)

    template <typename F>
    void with_sink(F&& f) {
        std::lock_guard lock(sink_mutex);
        if (sink_ != nullptr) f(*sink_);
    }

    void connect();
    void connect_create_stream();
    void schedule_reconnect();
    void schedule_poll();
    void on_closed(std::error_code why, std::string_view detail);
    void handle_wake();
    void run();
};

namespace {

WsTransport::Core* core_of(lws* wsi) {
    return static_cast<WsTransport::Core*>(lws_context_user(lws_get_context(wsi)));
}

lws_usec_t to_usec(std::chrono::nanoseconds d) {
    return static_cast<lws_usec_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

bool add_header(lws* wsi, const std::string& name, std::string_view value, unsigned char** p,
                unsigned char* end) {
    const std::string with_colon = name + ":";
    return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(with_colon.c_str()),
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), p, end) == 0;
}

int callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, size_t len) {
    WsTransport::Core* core = core_of(wsi);
    if (core == nullptr) return 0;
    const bool is_http = core->http_in_progress;
    switch (reason) {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            core->handle_wake();
            return 0;

        // --- createStream (plain HTTP POST) ---
        case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
            auto** p = static_cast<unsigned char**>(in);
            unsigned char* end = *p + len;
            if (is_http) {
                const std::string length = std::to_string(core->config.create_stream_body.size());
                if (!add_header(wsi, "content-type", "application/json", p, end) ||
                    !add_header(wsi, "content-length", length, p, end))
                    return -1;
                lws_client_http_body_pending(wsi, 1);
                lws_callback_on_writable(wsi);
                return 0;
            }
            for (const auto& [name, value] : core->config.headers)
                if (!add_header(wsi, name, value, p, end)) return -1;
            return 0;
        }
        case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: {
            if (!is_http) return 0;
            const std::string& body = core->config.create_stream_body;
            std::vector<unsigned char> buf(LWS_PRE + body.size());
            std::copy(body.begin(), body.end(), buf.begin() + LWS_PRE);
            if (lws_write(wsi, buf.data() + LWS_PRE, body.size(), LWS_WRITE_HTTP_FINAL) !=
                static_cast<int>(body.size()))
                return -1;
            lws_client_http_body_pending(wsi, 0);
            return 0;
        }
        case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: {
            if (!is_http) return 0;
            core->http_status = static_cast<int>(lws_http_client_http_response(wsi));
            // KVS names the exception in a header and in the body's __type; either is enough.
            char type[128] = {};
            constexpr std::string_view kErrorType = "x-amzn-errortype:";
            if (lws_hdr_custom_copy(wsi, type, sizeof type, kErrorType.data(),
                                    static_cast<int>(kErrorType.size())) > 0)
                core->http_error_type = type;
            return 0;
        }
        case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
            if (is_http && core->http_body.size() < 4096)
                core->http_body.append(static_cast<const char*>(in), len);
            return 0;
        case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
            char buffer[1024 + LWS_PRE];
            char* p = buffer + LWS_PRE;
            int n = sizeof(buffer) - LWS_PRE;
            return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
        }
        case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        case LWS_CALLBACK_CLOSED_CLIENT_HTTP: {
            if (!is_http) return 0;
            core->http_in_progress = false;
            // Created, or it already exists (KVS answers ResourceInUseException): either way, stream.
            const bool ok = core->http_status == 200 ||
                            core->http_error_type.starts_with("ResourceInUseException") ||
                            core->http_body.find("ResourceInUseException") != std::string::npos;
            std::error_code result;
            if (!ok) result = Errc::create_stream_failed;
            const std::string detail = "createStream: HTTP " + std::to_string(core->http_status) + " " +
                                       core->http_body.substr(0, 200);
            core->stream_created = true;  // one attempt: PutMedia reports a missing stream itself
            core->with_sink([&](TransportSink& sink) { sink.on_create_stream_result(result, detail); });
            if (!core->exit) core->connect();
            return 0;
        }

        // --- PutMedia WebSocket ---
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
            core->established = true;
            core->with_sink([](TransportSink& sink) { sink.on_session_open(); });
            lws_callback_on_writable(wsi);
            return 0;
        case LWS_CALLBACK_CLIENT_WRITEABLE: {
            if (core->want_restart.exchange(false) || core->exit) return -1;
            std::size_t n = 0;
            bool more = false;
            core->with_sink([&](TransportSink& sink) {
                n = sink.fill(core->tx.data() + LWS_PRE, kChunkSize);
                more = n > 0 && sink.has_unsent();
            });
            if (n > 0 && lws_write(wsi, core->tx.data() + LWS_PRE, n, LWS_WRITE_BINARY) < static_cast<int>(n))
                return -1;
            if (more) lws_callback_on_writable(wsi);
            return 0;
        }
        case LWS_CALLBACK_CLIENT_RECEIVE: {
            if (lws_frame_is_binary(wsi)) return 0;
            if (core->rx.size() + len > kMaxAckSize) {
                core->rx_overflow = true;
            } else {
                core->rx.append(static_cast<const char*>(in), len);
            }
            if (!lws_is_final_fragment(wsi)) return 0;
            bool restart = false;
            if (core->rx_overflow) core->rx.assign("<oversized>");
            core->with_sink([&](TransportSink& sink) { restart = sink.on_message(core->rx); });
            core->rx.clear();
            core->rx_overflow = false;
            core->attempt = 0;  // the server answers: back to the shortest backoff
            return restart ? -1 : 0;
        }
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            if (is_http) {
                core->http_status = 0;
                core->http_body = in != nullptr ? static_cast<const char*>(in) : "connection error";
                core->http_in_progress = false;
                core->stream_created = true;
                const std::string detail = "createStream: " + core->http_body;
                core->with_sink([&](TransportSink& sink) {
                    sink.on_create_stream_result(make_error_code(Errc::create_stream_failed), detail);
                });
                if (!core->exit) core->connect();
                return 0;
            }
            core->on_closed(
                make_error_code(Errc::connection_failed),
                in != nullptr ? std::string_view(static_cast<const char*>(in), len) : "connect failed");
            return 0;
        case LWS_CALLBACK_CLIENT_CLOSED:
            core->on_closed(make_error_code(Errc::connection_failed), "connection closed");
            return 0;
        case LWS_CALLBACK_WSI_DESTROY:
            if (wsi == core->wsi)
                core->on_closed(make_error_code(Errc::connection_failed), "connection destroyed");
            return 0;
        default:
            return 0;
    }
}

}  // namespace

void WsTransport::Core::connect() {
    if (exit) return;
    if (!config.create_stream_body.empty() && !stream_created) {
        connect_create_stream();
        return;
    }
    lws_client_connect_info ci{};
    ci.context = context;
    ci.address = config.endpoint.host.c_str();
    ci.port = config.endpoint.port;
    path = config.endpoint.path_prefix + config.path;
    if (!config.query.empty()) path += "?" + config.query;
    ci.path = path.c_str();
    const std::string host = config.endpoint.host_header();
    ci.host = host.c_str();
    ci.origin = host.c_str();
    ci.ssl_connection = config.endpoint.tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = kProtocolName;  // no Sec-WebSocket-Protocol: PutMedia has no subprotocol
    ci.pwsi = &wsi;
    connection_live = true;
    established = false;
    rx.clear();
    rx_overflow = false;
    want_restart = false;
    if (lws_client_connect_via_info(&ci) == nullptr) {
        wsi = nullptr;
        on_closed(make_error_code(Errc::connection_failed), "connect failed");
    }
}

void WsTransport::Core::connect_create_stream() {
    lws_client_connect_info ci{};
    ci.context = context;
    ci.address = config.endpoint.host.c_str();
    ci.port = config.endpoint.port;
    path = config.endpoint.path_prefix + "/createStream";
    ci.path = path.c_str();
    const std::string host = config.endpoint.host_header();
    ci.host = host.c_str();
    ci.origin = host.c_str();
    ci.method = "POST";
    ci.ssl_connection = config.endpoint.tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = kProtocolName;
    http_in_progress = true;
    http_status = 0;
    http_body.clear();
    http_error_type.clear();
    if (lws_client_connect_via_info(&ci) == nullptr && http_in_progress) {
        http_in_progress = false;
        stream_created = true;
        with_sink([](TransportSink& sink) {
            sink.on_create_stream_result(make_error_code(Errc::create_stream_failed),
                                         "createStream: connect failed");
        });
        connect();
    }
}

void WsTransport::Core::on_closed(std::error_code why, std::string_view detail) {
    if (!connection_live) return;
    connection_live = false;
    established = false;
    wsi = nullptr;
    if (exit) return;
    with_sink([&](TransportSink& sink) { sink.on_session_closed(why, detail); });
    schedule_reconnect();
}

void WsTransport::Core::schedule_reconnect() {
    if (exit) return;
    // Exponential backoff capped at max_backoff, each delay drawn from [50 %, 100 %] of its value so that
    // many cameras losing the same server do not reconnect in lockstep.
    const double base = static_cast<double>(config.min_backoff.count());
    const double cap = static_cast<double>(config.max_backoff.count());
    const double delay = std::min(cap, base * static_cast<double>(1ull << std::min(attempt, 30)));
    ++attempt;
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const auto wait = std::chrono::nanoseconds(static_cast<std::int64_t>(delay * jitter(rng)));
    reconnect_timer.core = this;
    lws_sul_schedule(
        context, 0, &reconnect_timer.sul,
        [](lws_sorted_usec_list_t* sul) { reinterpret_cast<Timer*>(sul)->core->connect(); }, to_usec(wait));
}

void WsTransport::Core::schedule_poll() {
    poll_timer.core = this;
    lws_sul_schedule(
        context, 0, &poll_timer.sul,
        [](lws_sorted_usec_list_t* sul) {
            Core* self = reinterpret_cast<Timer*>(sul)->core;
            if (self->exit) return;
            if (self->established && self->wsi != nullptr) {
                bool restart = false;
                self->with_sink([&](TransportSink& sink) {
                    restart = sink.needs_restart(std::chrono::steady_clock::now());
                });
                if (restart) lws_set_timeout(self->wsi, static_cast<pending_timeout>(1), LWS_TO_KILL_ASYNC);
            }
            self->schedule_poll();
        },
        to_usec(config.poll_interval));
}

void WsTransport::Core::handle_wake() {
    if (exit) return;
    if (want_restart && wsi != nullptr) {
        want_restart = false;
        // Killed rather than closed politely: the socket may be stuck behind a dead network.
        lws_set_timeout(wsi, static_cast<pending_timeout>(1), LWS_TO_KILL_ASYNC);
        return;
    }
    if (want_write.exchange(false) && established && wsi != nullptr) lws_callback_on_writable(wsi);
}

void WsTransport::Core::run() {
    connect();
    schedule_poll();
    while (!exit)
        lws_service(context, 0);
    lws_context* ctx = nullptr;
    {
        std::lock_guard lock(control_mutex);
        ctx = context;
        context = nullptr;
    }
    lws_context_destroy(ctx);
    {
        std::lock_guard lock(done_mutex);
        done = true;
    }
    done_cv.notify_all();
}

WsTransport::WsTransport(TransportConfig config, TransportSink& sink) : core_(std::make_shared<Core>()) {
    core_->config = std::move(config);
    core_->sink_ = &sink;
}

WsTransport::~WsTransport() {
    shutdown(std::chrono::steady_clock::now());
    // A thread that stop() left running because its deadline had passed is normally a few milliseconds
    // from done (lws_cancel_service woke it). Wait for that here, where the stream's life ends, so it does
    // not outlive the program's exit, whose atexit handlers (OpenSSL's cleanup) would pull the TLS state
    // from under it. Bounded: only a blocking DNS lookup takes longer, and then it finishes on its own.
    std::unique_lock lock(core_->done_mutex);
    if (core_->started) core_->done_cv.wait_for(lock, kExitGrace, [this] { return core_->done; });
}

std::error_code WsTransport::start() {
    lws_context_creation_info info{};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = kProtocols;
    info.user = core_.get();
    info.gid = -1;
    info.uid = -1;
    // A device streams one connection: a small fd table instead of one sized by `ulimit -n`.
    info.fd_limit_per_thread = 16;
    info.timeout_secs = static_cast<unsigned int>(std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(core_->config.connect_timeout).count()));
    if (core_->config.endpoint.tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (!core_->config.ca_path.empty()) info.client_ssl_ca_filepath = core_->config.ca_path.c_str();
    }
    lws_context* context = lws_create_context(&info);
    if (context == nullptr) return Errc::connection_failed;
    {
        std::lock_guard lock(core_->control_mutex);
        core_->context = context;
    }
    // The thread keeps the core alive, so a thread left behind by shutdown() cleans up after itself.
    core_->thread = std::thread([core = core_] { core->run(); });
    {
        std::lock_guard lock(core_->done_mutex);
        core_->started = true;
    }
    return {};
}

void WsTransport::wake() {
    if (core_->want_write.exchange(true)) return;  // a wake-up is already on its way
    std::lock_guard lock(core_->control_mutex);
    if (core_->context != nullptr) lws_cancel_service(core_->context);
}

void WsTransport::restart_session() {
    core_->want_restart = true;
    std::lock_guard lock(core_->control_mutex);
    if (core_->context != nullptr) lws_cancel_service(core_->context);
}

bool WsTransport::shutdown(SteadyTime deadline) {
    {
        std::lock_guard lock(core_->sink_mutex);
        core_->sink_ = nullptr;
    }
    {
        std::lock_guard lock(core_->control_mutex);
        core_->exit = true;
        if (core_->context != nullptr) lws_cancel_service(core_->context);
    }
    if (!core_->thread.joinable()) return true;
    std::unique_lock lock(core_->done_mutex);
    if (core_->done_cv.wait_until(lock, deadline, [this] { return core_->done; })) {
        lock.unlock();
        core_->thread.join();
        return true;
    }
    core_->thread.detach();
    return false;
}

}  // namespace kinema::producer
