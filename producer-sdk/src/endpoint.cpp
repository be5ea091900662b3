#include "endpoint.h"

#include <charconv>

#include "kinema/producer/error.h"

namespace kinema::producer {

std::string Endpoint::host_header() const {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::error_code parse_endpoint(std::string_view url, Endpoint& endpoint) {
    const std::error_code invalid = make_error_code(Errc::invalid_argument);
    Endpoint e;
    if (url.starts_with("ws://")) {
        url.remove_prefix(5);
        e.port = 80;
    } else if (url.starts_with("wss://")) {
        url.remove_prefix(6);
        e.tls = true;
        e.port = 443;
    } else {
        return invalid;
    }
    const std::size_t slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) {
        std::string_view path = url.substr(slash);
        while (path.ends_with('/'))
            path.remove_suffix(1);
        if (path.find_first_of("?# ") != std::string_view::npos) return invalid;
        e.path_prefix = std::string(path);
    }
    std::string_view port;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return invalid;
        e.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority[0] != ':') return invalid;
            port = authority.substr(1);
        }
    } else {
        const std::size_t colon = authority.find(':');
        e.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (e.host.empty() || e.host.find_first_of("@ ") != std::string::npos) return invalid;
    if (!port.empty() || authority.ends_with(':')) {
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
            return invalid;
        e.port = value;
    }
    endpoint = std::move(e);
    return {};
}

bool valid_stream_name(std::string_view name) {
    if (name.empty() || name.size() > 256) return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace kinema::producer
