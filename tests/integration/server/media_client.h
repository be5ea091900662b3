// Loopback clients for the streaming media APIs in integration tests: a WebSocket client (PutMedia and
// GetMedia over WebSocket) and a raw HTTP/1.1 client that sends a chunked body and decodes a chunked
// response as it arrives (PutMedia's ACK lines, GetMedia's video/webm). Every read has a timeout, so a
// server that stops answering fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "http_client.h"

namespace kinema::test {

using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

class WsClient {
public:
    // Connects and upgrades `target` (e.g. "/putMedia?x=1") with `headers`. When the server answers the
    // upgrade with an HTTP error instead, ok() is false and rejection() holds that answer.
    WsClient(std::uint16_t port, const std::string& target, const Headers& headers = {});
    ~WsClient();

    bool ok() const;
    const HttpResponse& rejection() const;

    void send_binary(std::span<const std::uint8_t> bytes);
    // The next message (text or binary), or nullopt on timeout or when the server closed.
    std::optional<std::string> read(std::chrono::milliseconds timeout = 5s);
    // True once the server has closed the WebSocket (a read returns closed or end of stream).
    bool closed() const;
    // The close code of the server's close frame (1000 normal, 1001 going away), or 0 when the connection
    // ended without one (or has not ended).
    int close_code() const;
    // A clean WebSocket close.
    void close();
    // Cut the TCP connection without a close frame (a producer that vanished).
    void drop();
    // Send a close frame and wait for the server's (skipping messages before it), but keep the TCP
    // connection open: a producer slow to close its socket, or a close whose last packets are delayed.
    // Returns false when the connection ended without the server's close frame.
    bool close_keeping_connection();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class StreamingHttpClient {
public:
    // receive_buffer_bytes > 0 sets SO_RCVBUF before connecting (a viewer that reads slowly fills up fast).
    explicit StreamingHttpClient(std::uint16_t port, int receive_buffer_bytes = 0);
    ~StreamingHttpClient();

    // Sends the request head; with `chunked`, the body follows with send_chunk()/end_body(), else `body`
    // (with Content-Length) is sent now.
    void start(const std::string& method, const std::string& target, const Headers& headers, bool chunked,
               const std::string& body = {});
    void send_chunk(std::span<const std::uint8_t> bytes);
    void end_body();
    void drop();

    // Reads until the response head has arrived (status, headers); false on timeout or close.
    bool read_head(std::chrono::milliseconds timeout = 5s);
    unsigned status() const;
    std::string header(const std::string& lower_name) const;
    // The de-chunked body received so far (for a non-chunked response, the raw body so far).
    const std::string& body() const;
    // Reads more, for up to `timeout` or until `done(body())` holds; returns done(body()).
    template <typename Predicate>
    bool read_until(Predicate done, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done(body())) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left <= 0ms || !read_some(left)) return done(body());
        }
        return true;
    }
    // True when the response ended (last chunk, or the server closed).
    bool finished() const;
    // True when a chunked response ended with its final 0-length chunk (a clean end of the body, not a cut).
    bool complete() const;
    // Complete lines of the body (PutMedia ACKs).
    std::vector<std::string> lines() const;

private:
    bool read_some(std::chrono::milliseconds timeout);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::test
