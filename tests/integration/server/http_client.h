// A small blocking HTTP/1.1 client over loopback for integration tests (Beast underneath): keep-alive
// requests, JSON helpers, and raw bytes for malformed-request tests. Later PutMedia/GetMedia tests reuse it.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace kinema::test {

struct HttpResponse {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;

    // The header's value, or "" when absent.
    std::string header(const std::string& lower_name) const;
    // The body as JSON (a discarded value when it is not JSON).
    nlohmann::json json() const;
    // x-amzn-ErrorType, or "" for a success.
    std::string error_type() const { return header("x-amzn-errortype"); }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
public:
    // Connects to 127.0.0.1:port (throws on failure). The connection is reused while the server keeps it.
    explicit HttpClient(std::uint16_t port);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    HttpResponse request(const std::string& method, const std::string& target, const std::string& body = {},
                         const Headers& headers = {});
    // POST target with body as JSON, as the AWS SDKs send it.
    HttpResponse post_json(const std::string& target, const nlohmann::json& body);
    // POST /<operation> with a raw (possibly invalid) body.
    HttpResponse post(const std::string& target, const std::string& body) {
        return request("POST", target, body);
    }

    // Sends bytes as they are, then reads one response (or until the server closes). For malformed requests.
    HttpResponse send_raw(const std::string& bytes);
    // Reads one more response on this connection (the second of two pipelined requests sent by send_raw).
    HttpResponse read_response();
    // True when the server has closed this connection (a read returns end of stream).
    bool server_closed();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::test
