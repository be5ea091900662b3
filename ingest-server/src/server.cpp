#include "kinema/server/server.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "archived_media_routes.h"
#include "control_plane.h"
#include "http_session.h"
#include "media_routes.h"
#include "media_service.h"

namespace kinema::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port) {
    std::string_view h;
    std::string_view p;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) return false;
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return false;
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
    }
    if (h.empty() || p.empty() || p.size() > 5) return false;
    unsigned value = 0;
    for (const char c : p) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return false;
    host = std::string(h);
    port = static_cast<std::uint16_t>(value);
    return true;
}

class Server::Impl {
public:
    explicit Impl(ServerConfig config)
        : config_(std::move(config)),
          blocking_(std::max(1u, config_.blocking_threads)),
          io_threads_count_(config_.network_threads != 0 ? config_.network_threads
                                                         : std::max(1u, std::thread::hardware_concurrency())),
          iocs_(make_io_contexts(io_threads_count_)),
          acceptor_(asio::make_strand(*iocs_.front())),
          retry_timer_(acceptor_.get_executor()) {}

    // One io_context per network thread, each run by its thread alone, and each connection on one of them
    // (round-robin at accept): a connection's handlers stay on one core, and a completion never wakes another
    // network thread. With one io_context shared by two threads, one fast PutMedia stream's handlers moved
    // between the cores at every read, each move a cross-core wake-up: on the 2-core development VM that
    // cost 10-20% more server CPU per MB and a lower single-stream rate (docs/server.md).
    static std::vector<std::unique_ptr<asio::io_context>> make_io_contexts(unsigned count) {
        std::vector<std::unique_ptr<asio::io_context>> iocs;
        for (unsigned i = 0; i < count; ++i)
            iocs.push_back(std::make_unique<asio::io_context>(1));
        return iocs;
    }

    ~Impl() { stop(); }

    void start() {
        if (started_) throw std::logic_error("Server::start called twice");
        storage::CatalogError error;
        catalog_ = storage::Catalog::open(config_.data_dir, {config_.region, config_.account}, error);
        if (!catalog_) throw std::runtime_error(error.message);
        store_ = storage::FragmentStore::open(config_.data_dir);
        finish_interrupted_deletes();

        ctx_ = std::make_shared<SessionContext>();
        ctx_->blocking = &blocking_;
        ctx_->max_body_bytes = config_.max_body_bytes;
        ctx_->max_header_bytes = config_.max_header_bytes;
        ctx_->idle_timeout = config_.idle_timeout;
        MediaServiceOptions media_options;
        media_options.idle_ack_interval = config_.idle_ack_interval;
        media_options.producer_takeover_after = config_.producer_takeover_after;
        media_options.viewer_queue_bytes = config_.viewer_queue_bytes;
        media_options.max_ws_message_bytes = config_.max_ws_message_bytes;
        media_options.websocket_silence_timeout = config_.websocket_silence_timeout;
        media_options.archive_batch_bytes = config_.archive_batch_bytes;
        ctx_->media = std::make_shared<MediaService>(*catalog_, *store_, ctx_->metrics, media_options);
        add_routes();

        listen();
        started_ = true;
        accept();
        threads_.reserve(io_threads_count_);
        for (auto& ioc : iocs_) {
            work_.push_back(asio::make_work_guard(*ioc));  // run() waits for connections until stop()
            threads_.emplace_back([&ioc = *ioc] {
                ::pthread_setname_np(::pthread_self(), "kinema-net");  // shown by top -H, perf, gdb
                ioc.run();
            });
        }
        spdlog::info("listening on {} ({} network thread(s), {} blocking thread(s)), data in {}", url(),
                     io_threads_count_, std::max(1u, config_.blocking_threads), config_.data_dir.string());
    }

    void stop() {
        if (!started_ || stopped_) return;
        stopped_ = true;
        spdlog::info("draining: no new connections, waiting up to {} ms for requests in flight",
                     config_.drain_timeout.count());
        std::promise<void> closed;
        asio::post(acceptor_.get_executor(), [this, &closed] {
            boost::system::error_code ec;
            acceptor_.close(ec);
            retry_timer_.cancel();
            closed.set_value();
        });
        closed.get_future().wait();

        ctx_->draining = true;
        std::vector<std::shared_ptr<Connection>> live;
        {
            std::lock_guard lock(ctx_->sessions_mutex);
            for (auto& [id, weak] : ctx_->sessions)
                if (auto session = weak.lock()) live.push_back(std::move(session));
        }
        for (const auto& session : live)
            session->shutdown();
        live.clear();
        {
            std::unique_lock lock(ctx_->sessions_mutex);
            const bool drained = ctx_->sessions_changed.wait_for(lock, config_.drain_timeout,
                                                                 [this] { return ctx_->sessions.empty(); });
            if (!drained)
                spdlog::warn("drain timeout: closing {} connection(s) in flight", ctx_->sessions.size());
        }
        work_.clear();
        for (auto& ioc : iocs_)
            ioc->stop();
        for (auto& t : threads_)
            t.join();
        threads_.clear();
        blocking_.join();
        // Fragments appended by sessions that ended during the drain become durable before exit.
        if (auto ec = store_->flush()) spdlog::warn("flushing the fragment store at stop: {}", ec.message());
        spdlog::info("stopped");
    }

    std::string url() const {
        const bool v6 = config_.listen_host.find(':') != std::string::npos;
        return "http://" + (v6 ? "[" + config_.listen_host + "]" : config_.listen_host) + ":" +
               std::to_string(port_);
    }

    ServerConfig config_;
    std::unique_ptr<storage::Catalog> catalog_;
    std::unique_ptr<storage::FragmentStore> store_;
    asio::thread_pool blocking_;
    unsigned io_threads_count_;
    std::vector<std::unique_ptr<asio::io_context>> iocs_;  // one per network thread
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::size_t next_ioc_ = 0;  // the acceptor's strand only
    tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::vector<std::thread> threads_;
    std::shared_ptr<SessionContext> ctx_;
    std::uint16_t port_ = 0;
    std::string public_url_;
    bool started_ = false;
    bool stopped_ = false;

private:
    void finish_interrupted_deletes() {
        std::vector<storage::StreamInfo> pending;
        if (auto e = catalog_->streams_being_deleted(pending)) throw std::runtime_error(e.message);
        for (const auto& info : pending) {
            spdlog::info("finishing the interrupted deletion of stream {}", info.name);
            if (auto e = catalog_->delete_stream({{}, info.arn}, {}, delete_stream_data()))
                spdlog::warn("stream {} stays DELETING: {}", info.name, e.message);
        }
    }

    // DeleteStream removes the stream's fragments before its catalog row (a stream that never stored data
    // has nothing to remove). While it is DELETING: its producer gets ERROR 4008 and stores nothing more,
    // then the data goes, then its live viewers end and its hub and metrics go.
    storage::DeleteStreamData delete_stream_data() {
        std::weak_ptr<MediaService> weak_media = ctx_ ? ctx_->media : nullptr;
        return [store = store_.get(), weak_media](const storage::StreamInfo& info) -> std::error_code {
            auto remove = [&] {
                auto ec = store->delete_stream(info.name);
                return ec == storage::Errc::resource_not_found ? std::error_code{} : ec;
            };
            const auto media = weak_media.lock();
            return media ? media->delete_stream_data(info.name, remove) : remove();
        };
    }

    void add_routes() {
        Router& router = ctx_->router;
        std::weak_ptr<SessionContext> weak_ctx = ctx_;
        router.add(
            {"GET", "/healthz", "Healthz", Execution::network_thread, false, [weak_ctx](const ApiRequest&) {
                 ApiResponse response;
                 response.content_type = "text/plain";
                 auto ctx = weak_ctx.lock();
                 const bool draining = !ctx || ctx->draining;
                 response.status = draining ? 503 : 200;
                 response.body = draining ? "draining\n" : "ok\n";
                 return response;
             }});
        router.add(
            {"GET", "/metrics", "Metrics", Execution::network_thread, false, [weak_ctx](const ApiRequest&) {
                 ApiResponse response;
                 response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                 if (auto ctx = weak_ctx.lock()) response.body = ctx->metrics.serialize();
                 return response;
             }});
        ControlPlaneContext control;
        control.catalog = catalog_.get();
        control.public_url = [this] { return public_url_; };
        control.max_json_depth = config_.max_json_depth;
        control.delete_stream_data = delete_stream_data();
        control.retention_changed = [store = store_.get()](const std::string& name, std::int64_t hours) {
            const auto retention = static_cast<std::uint32_t>(hours);
            auto ec = store->is_open(name) ? store->set_retention(name, retention)
                                           : store->open_stream(name, retention);
            if (ec)
                spdlog::warn("stream {}: applying retention of {} h to its fragment log: {}", name, hours,
                             ec.message());
        };
        add_control_plane_routes(router, std::move(control));
        add_archived_media_routes(router, {catalog_.get(), store_.get()});
        add_media_routes(router);
    }

    void listen() {
        boost::system::error_code ec;
        auto address = asio::ip::make_address(config_.listen_host, ec);
        if (ec) {
            tcp::resolver resolver(*iocs_.front());
            const auto results = resolver.resolve(config_.listen_host, "", ec);
            if (ec || results.empty())
                throw std::runtime_error("cannot resolve listen host " + config_.listen_host + ": " +
                                         ec.message());
            address = results.begin()->endpoint().address();
        }
        const tcp::endpoint endpoint(address, config_.listen_port);
        const std::string where = config_.listen_host + ":" + std::to_string(config_.listen_port);
        if (acceptor_.open(endpoint.protocol(), ec))
            throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
        acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (acceptor_.bind(endpoint, ec))
            throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
        if (acceptor_.listen(asio::socket_base::max_listen_connections, ec))
            throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
        port_ = acceptor_.local_endpoint().port();
        public_url_ = config_.public_url.empty() ? url() : config_.public_url;
    }

    void accept() {
        // Each connection gets its own strand (its handlers never run concurrently, without locks) on the
        // next network thread's io_context.
        auto& ioc = *iocs_[next_ioc_++ % iocs_.size()];
        acceptor_.async_accept(asio::make_strand(ioc),
                               [this](boost::system::error_code ec, tcp::socket socket) {
                                   if (!acceptor_.is_open()) return;
                                   if (ec) {
                                       // Out of descriptors (EMFILE) fails every accept at once; back off
                                       // instead of spinning.
                                       spdlog::warn("accept failed: {}", ec.message());
                                       retry_timer_.expires_after(std::chrono::milliseconds(100));
                                       retry_timer_.async_wait([this](boost::system::error_code wec) {
                                           if (!wec) accept();
                                       });
                                       return;
                                   }
                                   // Live frames and ACKs are small writes that must not wait for Nagle.
                                   boost::system::error_code nodelay_ec;
                                   socket.set_option(tcp::no_delay(true), nodelay_ec);
                                   start_http_session(std::move(socket), ctx_);
                                   accept();
                               });
    }
};

Server::Server(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Server::~Server() = default;

void Server::start() {
    impl_->start();
}
void Server::stop() {
    impl_->stop();
}
std::uint16_t Server::port() const noexcept {
    return impl_->port_;
}
std::string Server::url() const {
    return impl_->url();
}
const std::string& Server::public_url() const noexcept {
    return impl_->public_url_;
}
const ServerConfig& Server::config() const noexcept {
    return impl_->config_;
}

}  // namespace kinema::server
