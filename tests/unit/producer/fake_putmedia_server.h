// A tiny PutMedia WebSocket server for the producer's transport tests: libwebsockets on an ephemeral
// 127.0.0.1 port, on its own thread. It parses only what it must to answer like KVS: it finds each
// Cluster's Timecode in the byte stream and, when the cluster is complete (the next Cluster or a Tags
// element starts), sends BUFFERING/RECEIVED/PERSISTED ACKs for it. Scripted faults: never answer, or drop
// the current connection on request. Plain HTTP POSTs (createStream) are recorded and answered with a
// scripted status, x-amzn-ErrorType and body.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct lws_context;
struct lws;

namespace kinema::producer::testing {

struct FakeSession {
    bool started_with_ebml_header = false;
    std::vector<std::int64_t> clusters;  // cluster timecodes in arrival order
    std::uint64_t bytes = 0;
    std::vector<std::uint8_t> data;  // every byte received, in order
    std::string stream_name;         // x-amzn-stream-name
    std::string timecode_type;       // x-amzn-fragment-timecode-type
    std::string start_timestamp;     // x-amzn-producer-start-timestamp
    std::string query;               // the upgrade request\'s query string ("a=b&c=d")
    bool closed = false;
};

struct FakeHttpRequest {
    std::string method;  // "POST" or "GET"
    std::string path;
    std::string content_type;
    std::string body;
};

class FakePutMediaServer {
public:
    enum class Mode { ack, silent };

    // With a certificate and key (PEM files), the server speaks TLS: wss:// and https://.
    explicit FakePutMediaServer(Mode mode = Mode::ack, const std::string& tls_cert = {},
                                const std::string& tls_key = {});
    ~FakePutMediaServer();

    int port() const { return port_; }
    std::string endpoint() const {
        return (tls_ ? "wss://127.0.0.1:" : "ws://127.0.0.1:") + std::to_string(port_);
    }
    void set_mode(Mode mode);

    // The answer to every plain HTTP request (default: 200, {}, no x-amzn-ErrorType).
    void set_http_response(int status, std::string body, std::string error_type = {});
    std::vector<FakeHttpRequest> http_requests() const;

    // Kills the current connection (as a network failure would).
    void drop_connection();

    // Waits (up to `timeout`) until `predicate(sessions)` holds; returns whether it did.
    bool wait_for(const std::function<bool(const std::vector<FakeSession>&)>& predicate,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20));
    std::vector<FakeSession> sessions() const;

    // Internals used by the lws callback.
    struct Connection;
    void on_established(lws* wsi, Connection& c);
    void on_receive(lws* wsi, Connection& c, const std::uint8_t* data, std::size_t len);
    void on_writable(lws* wsi, Connection& c);
    void on_closed(Connection& c);
    void on_wake();
    void on_http(lws* wsi, const char* path);
    void on_http_body(const char* data, std::size_t len);
    void on_http_body_complete(lws* wsi, Connection& c);
    int on_http_writable(lws* wsi, Connection& c);

private:
    void scan(lws* wsi, Connection& c);
    void complete_cluster(lws* wsi, Connection& c);

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    Mode mode_;
    std::vector<FakeSession> sessions_;
    std::vector<lws*> live_;
    std::vector<FakeHttpRequest> http_requests_;  // the last one may still be receiving its body
    int http_status_ = 200;
    std::string http_body_ = "{}";
    std::string http_error_type_;
    bool drop_requested_ = false;
    bool exit_ = false;
    lws_context* context_ = nullptr;
    int port_ = 0;
    bool tls_ = false;
    std::thread thread_;
};

}  // namespace kinema::producer::testing
