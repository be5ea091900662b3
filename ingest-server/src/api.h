// The request layer's own request and response: what a handler sees. Free of Beast so handler files
// (control plane, archived media, ...) compile quickly and can be driven without sockets.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kinema::server {

struct ApiRequest {
    std::string method;  // "POST"
    std::string path;    // "/createStream": the target without its query
    std::string query;   // after '?', undecoded
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    bool websocket_upgrade = false;
    std::string request_id;  // also sent back as x-amzn-RequestId and logged

    // The first header of that (lower-case) name, or null.
    const std::string* header(std::string_view lower_name) const noexcept {
        for (const auto& [name, value] : headers)
            if (name == lower_name) return &value;
        return nullptr;
    }
};

struct ApiResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string error_type;  // the KVS error name when this is an error (for logs and metrics)
};

}  // namespace kinema::server
