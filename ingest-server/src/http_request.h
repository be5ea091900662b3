// Converting a parsed Beast request into the request layer's ApiRequest. Shared by the HTTP session and the
// request fuzz target, so both exercise the same code.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "api.h"

namespace kinema::server {

// Moves the body out of message. request_id is stored as given.
ApiRequest to_api_request(boost::beast::http::request<boost::beast::http::string_body>& message,
                          std::string request_id);

}  // namespace kinema::server
