// One HTTP/1.1 connection: read a request, route it, run its handler (on the blocking pool when it touches
// storage), write the response, repeat while keep-alive. All session state lives on the connection's strand.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "metrics.h"
#include "router.h"

namespace kinema::server {

class MediaService;

// Anything the server keeps open and must close on stop(): an HTTP session, or a media session it handed
// its socket to.
class Connection {
public:
    virtual ~Connection() = default;
    // Asks the connection to finish what is in flight and close. Any thread.
    virtual void shutdown() = 0;
};

// What every session shares. Held by shared_ptr so a session outliving Server::stop() (queued in a stopped
// io_context) never touches freed state.
struct SessionContext {
    Router router;
    Metrics metrics;
    boost::asio::thread_pool* blocking = nullptr;
    std::size_t max_body_bytes = 1 << 20;
    std::size_t max_header_bytes = 16 << 10;
    std::chrono::seconds idle_timeout{60};
    std::atomic<bool> draining{false};

    // Live sessions, so stop() can close idle ones and wait for the rest.
    std::mutex sessions_mutex;
    std::condition_variable sessions_changed;
    std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> sessions;
    std::atomic<std::uint64_t> next_session_id{1};

    // PutMedia/GetMedia; null in builds of the context without a store (fuzz target).
    std::shared_ptr<MediaService> media;

    // Registry helpers: register under a new id (returned), unregister (wakes stop()).
    std::uint64_t add_connection(std::weak_ptr<Connection> connection);
    void remove_connection(std::uint64_t id);
};

// Starts serving an accepted socket (whose executor is its own strand).
void start_http_session(boost::asio::ip::tcp::socket socket, const std::shared_ptr<SessionContext>& context);

}  // namespace kinema::server
