// Small Beast helpers shared by the media transports (included only by the Beast translation units).
#pragma once

#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/stream_base.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "api.h"

namespace kinema::server {

// The HTTP/1.1 response for an ApiResponse: status, KVS headers (x-amzn-RequestId, x-amzn-ErrorType ...) and
// body. Shared by the request/response session and the media transports' early errors.
inline std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> make_http_response(
    ApiResponse response, const std::string& request_id, bool keep_alive) {
    namespace http = boost::beast::http;
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(11);
    out->result(response.status);
    out->set(http::field::server, "kinema-server");
    out->set(http::field::content_type, response.content_type);
    out->set("x-amzn-RequestId", request_id);
    for (const auto& [name, value] : response.headers)
        out->set(name, value);
    out->body() = std::move(response.body);
    out->keep_alive(keep_alive);
    out->prepare_payload();
    return out;
}

// Writes `response` as a complete HTTP/1.1 response with Connection: close, then calls done() (also after
// a failed write).
template <typename Done>
void write_error_response(boost::beast::tcp_stream& stream, ApiResponse response,
                          const std::string& request_id, Done done) {
    auto out = make_http_response(std::move(response), request_id, false);
    boost::beast::http::async_write(
        stream, *out, [out, done = std::move(done)](boost::beast::error_code, std::size_t) { done(); });
}

// Before the server sends a WebSocket close: the peer gets this long to answer it, then the connection is
// cut. Beast's suggested server settings give it the opening handshake's 30 s, which would hold a socket (and
// a stopping server) for a viewer or producer that never answers.
constexpr std::chrono::seconds kWebSocketCloseTimeout{5};

inline boost::beast::websocket::stream_base::timeout close_timeout() {
    auto timeout = boost::beast::websocket::stream_base::timeout::suggested(boost::beast::role_type::server);
    timeout.handshake_timeout = kWebSocketCloseTimeout;
    return timeout;
}

}  // namespace kinema::server
