// The streaming media sessions the HTTP session hands a connection to once PutMedia's or GetMedia's request
// has been checked (stream found, parameters valid): PutMedia over WebSocket and over chunked HTTP (body
// read chunk by chunk, ACK lines streamed back), GetMedia over WebSocket (binary messages) and over HTTP
// (a chunked video/webm body that stays open for live). Each runs on the connection's strand and registers
// with the SessionContext so Server::stop() can close it and wait for it.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string>

#include "media_service.h"

namespace kinema::server {

struct SessionContext;

using HeaderParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
using FullRequest = boost::beast::http::request<boost::beast::http::string_body>;

// PutMedia over HTTP: `parser` has read the header only; the body is read from `stream` (after what is
// already in `buffer`).
void start_put_media_http(boost::beast::tcp_stream stream, boost::beast::flat_buffer buffer,
                          std::unique_ptr<HeaderParser> parser, PutMediaPlan plan, std::string request_id,
                          std::shared_ptr<SessionContext> context);
// PutMedia over WebSocket: `request` is the upgrade request, answered here.
void start_put_media_websocket(boost::beast::tcp_stream stream, FullRequest request, PutMediaPlan plan,
                               std::string request_id, std::shared_ptr<SessionContext> context);

// GetMedia (live: the body stays open) and GetMediaForFragmentList (finite) over chunked HTTP. With
// `keep_alive` (the request allowed it), a finite output gives the connection back to HTTP once its final
// chunk is written, with `buffer`: bytes already read past the request (a pipelined next request).
void start_get_media_http(boost::beast::tcp_stream stream, boost::beast::flat_buffer buffer, bool keep_alive,
                          GetMediaPlan plan, std::string request_id, std::shared_ptr<SessionContext> context);
void start_get_media_websocket(boost::beast::tcp_stream stream, FullRequest request, GetMediaPlan plan,
                               std::string request_id, std::shared_ptr<SessionContext> context);

// Serves HTTP requests again on a connection a finite media response has ended (http_session.cpp);
// `buffer` holds bytes already read from it.
void resume_http_session(boost::beast::tcp_stream stream, boost::beast::flat_buffer buffer,
                         std::shared_ptr<SessionContext> context);

}  // namespace kinema::server
