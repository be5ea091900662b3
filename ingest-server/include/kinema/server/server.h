// kinema-server as a library: the binary's main() and the integration tests both run this. The header stays
// light (no Beast, no Asio): the implementation is behind a pimpl.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace kinema::server {

struct ServerConfig {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8080;  // 0 picks an ephemeral port; port() tells which
    std::filesystem::path data_dir = "kinema-data";
    std::string public_url;  // GetDataEndpoint's answer; empty means http://<listen host>:<bound port>
    std::string region = "us-west-2";
    std::string account = "000000000000";
    unsigned network_threads = 0;          // io_context threads; 0 means one per core
    unsigned blocking_threads = 4;         // catalog and storage calls run here, never on the network threads
    std::size_t max_body_bytes = 1 << 20;  // request bodies of the JSON APIs
    std::size_t max_header_bytes = 16 << 10;
    unsigned max_json_depth = 32;
    std::chrono::seconds idle_timeout{60};          // a connection with no request for this long is closed
    std::chrono::milliseconds drain_timeout{5000};  // stop() waits this long for requests in flight
    // PutMedia: an IDLE ACK after this long without bytes from the producer (KVS: about 30 s).
    std::chrono::milliseconds idle_ack_interval{30'000};
    // PutMedia: a second producer for a stream is refused while the first sent something within this time,
    // and replaces it after (a reconnecting producer whose old connection the server has not seen die).
    std::chrono::milliseconds producer_takeover_after{5'000};
    std::size_t viewer_queue_bytes = 8u << 20;     // GetMedia live: per-viewer queue before skipping
    std::size_t max_ws_message_bytes = 16u << 20;  // PutMedia WebSocket: largest binary message
    // PutMedia WebSocket: a producer that sent nothing for half of this gets a ping; with still nothing (not
    // even the pong) by the end of it, the connection is cut and its fragment in progress dropped.
    std::chrono::milliseconds websocket_silence_timeout{300'000};
    // GetMedia (archived part) and GetMediaForFragmentList: bytes read per trip to the blocking pool and sent
    // before the next read; a request holds at most this plus one fragment.
    std::size_t archive_batch_bytes = 2u << 20;
};

// Parses "HOST:PORT" or "[IPv6]:PORT". Returns false (and leaves the outputs alone) when malformed.
bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port);

class Server {
public:
    explicit Server(ServerConfig config);
    ~Server();  // stop()s when still running
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Opens the data directory and starts accepting. Throws std::runtime_error with a clear message when the
    // data directory or the address cannot be used (a configuration error, so an exception at the boundary).
    void start();
    // Graceful: stops accepting, lets requests in flight finish (up to drain_timeout), closes idle
    // connections, then joins every thread. Idempotent.
    void stop();

    std::uint16_t port() const noexcept;  // the bound port, after start()
    std::string url() const;              // http://<host>:<port>, after start()
    const std::string& public_url() const noexcept;
    const ServerConfig& config() const noexcept;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::server
