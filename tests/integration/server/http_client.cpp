#include "http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <stdexcept>

namespace kinema::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string HttpResponse::header(const std::string& lower_name) const {
    for (const auto& [name, value] : headers)
        if (name == lower_name) return value;
    return {};
}

nlohmann::json HttpResponse::json() const {
    return nlohmann::json::parse(body, nullptr, false);
}

struct HttpClient::Impl {
    asio::io_context ioc;
    tcp::socket socket{ioc};
    beast::flat_buffer buffer;
    std::uint16_t port = 0;

    void connect() {
        socket = tcp::socket(ioc);
        socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        buffer.clear();
    }

    HttpResponse read_response() {
        http::response_parser<http::string_body> parser;
        parser.body_limit(256u << 20);
        http::read(socket, buffer, parser);
        HttpResponse out;
        const auto& message = parser.get();
        out.status = message.result_int();
        for (const auto& field : message) {
            std::string name(field.name_string().data(), field.name_string().size());
            for (char& c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            out.headers.emplace_back(std::move(name),
                                     std::string(field.value().data(), field.value().size()));
        }
        out.body = message.body();
        return out;
    }
};

HttpClient::HttpClient(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
    impl_->port = port;
    impl_->connect();
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body, const Headers& headers) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port));
    req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers)
        req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    http::write(impl_->socket, req, ec);
    if (ec) {
        // The server closed the kept-alive connection (e.g. after an error response): reconnect once.
        impl_->connect();
        http::write(impl_->socket, req);
    }
    return impl_->read_response();
}

HttpResponse HttpClient::post_json(const std::string& target, const nlohmann::json& body) {
    return request("POST", target, body.dump());
}

HttpResponse HttpClient::send_raw(const std::string& bytes) {
    asio::write(impl_->socket, asio::buffer(bytes));
    return impl_->read_response();
}

HttpResponse HttpClient::read_response() {
    return impl_->read_response();
}

bool HttpClient::server_closed() {
    char byte;
    beast::error_code ec;
    impl_->socket.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace kinema::test
