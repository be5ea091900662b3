// A PutMedia endpoint URL: ws://host[:port][/prefix] or wss://host[:port][/prefix].
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace kinema::producer {

struct Endpoint {
    bool tls = false;
    std::string host;  // without brackets for IPv6 literals
    int port = 0;
    std::string path_prefix;  // "" or "/something", no trailing slash

    // "host:port" as the Host header carries it.
    std::string host_header() const;
};

// Errc::invalid_argument for another scheme, an empty host or a port outside 1-65535.
std::error_code parse_endpoint(std::string_view url, Endpoint& endpoint);

// KVS stream names: 1-256 characters of [a-zA-Z0-9_.-].
bool valid_stream_name(std::string_view name);

}  // namespace kinema::producer
