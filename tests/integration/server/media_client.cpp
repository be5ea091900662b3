#include "media_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <stdexcept>

namespace kinema::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// Runs the io_context until `done` or the timeout; on timeout cancels what is pending.
template <typename Socket>
bool run_until(asio::io_context& ioc, const bool& done, std::chrono::milliseconds timeout, Socket& socket) {
    ioc.restart();
    ioc.run_for(timeout);
    if (done) return true;
    beast::error_code ec;
    socket.cancel(ec);
    ioc.restart();
    ioc.run();
    return false;
}

}  // namespace

struct WsClient::Impl {
    asio::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer buffer;
    HttpResponse rejection;
    bool ok = false;
    bool closed = false;
    int close_code = 0;
};

WsClient::WsClient(std::uint16_t port, const std::string& target, const Headers& headers)
    : impl_(std::make_unique<Impl>()) {
    beast::get_lowest_layer(impl_->ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers)
            req.set(name, value);
    }));
    websocket::response_type response;
    beast::error_code ec;
    impl_->ws.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
    if (!ec) {
        impl_->ok = true;
        return;
    }
    // Beast 1.74 does not hand the declined response back; ask again over plain HTTP (a refused upgrade
    // changes nothing on the server) to see the status, headers and body.
    Headers upgrade = headers;
    upgrade.emplace_back("Connection", "Upgrade");
    upgrade.emplace_back("Upgrade", "websocket");
    upgrade.emplace_back("Sec-WebSocket-Version", "13");
    upgrade.emplace_back("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    HttpClient probe(port);
    impl_->rejection = probe.request("GET", target, "", upgrade);
    impl_->closed = true;
}

WsClient::~WsClient() = default;

bool WsClient::ok() const {
    return impl_->ok;
}
const HttpResponse& WsClient::rejection() const {
    return impl_->rejection;
}

void WsClient::send_binary(std::span<const std::uint8_t> bytes) {
    impl_->ws.binary(true);
    beast::error_code ec;
    impl_->ws.write(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) impl_->closed = true;
}

std::optional<std::string> WsClient::read(std::chrono::milliseconds timeout) {
    if (impl_->closed) return std::nullopt;
    bool done = false;
    beast::error_code result;
    impl_->buffer.clear();
    impl_->ws.async_read(impl_->buffer, [&](beast::error_code ec, std::size_t) {
        result = ec;
        done = true;
    });
    if (!run_until(impl_->ioc, done, timeout, beast::get_lowest_layer(impl_->ws).socket())) {
        impl_->closed = true;  // a cancelled WebSocket read leaves the stream unusable
        return std::nullopt;
    }
    if (result) {
        impl_->closed = true;
        if (result == websocket::error::closed) impl_->close_code = impl_->ws.reason().code;
        return std::nullopt;
    }
    return beast::buffers_to_string(impl_->buffer.data());
}

bool WsClient::closed() const {
    return impl_->closed;
}

int WsClient::close_code() const {
    return impl_->close_code;
}

void WsClient::close() {
    if (impl_->closed) return;
    beast::error_code ec;
    impl_->ws.close(websocket::close_code::normal, ec);
    impl_->closed = true;
}

bool WsClient::close_keeping_connection() {
    if (impl_->closed) return false;
    impl_->closed = true;
    auto& socket = beast::get_lowest_layer(impl_->ws).socket();
    // RFC 6455 5.5.1: FIN + close, masked (a client's frames are), payload the status code 1000. Mask 0.
    const unsigned char close_frame[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
    beast::error_code ec;
    asio::write(socket, asio::buffer(close_frame), ec);
    if (ec) return false;
    // The server's frames are unmasked: whole frames (no message was being read), the close (0x88) the last
    // of them.
    std::string bytes;
    std::size_t at = 0;
    for (;;) {
        while (bytes.size() >= at + 2) {
            const auto opcode = static_cast<unsigned char>(bytes[at]);
            std::size_t length = static_cast<unsigned char>(bytes[at + 1]) & 0x7f;
            std::size_t header = 2;
            if (length == 126) {
                if (bytes.size() < at + 4) break;
                length = static_cast<std::size_t>(static_cast<unsigned char>(bytes[at + 2])) << 8 |
                         static_cast<unsigned char>(bytes[at + 3]);
                header = 4;
            } else if (length == 127) {
                return false;  // no server frame here is that long
            }
            if (bytes.size() < at + header + length) break;
            if (opcode == 0x88) return true;
            at += header + length;
        }
        char chunk[4096];
        const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
        if (ec) return false;
        bytes.append(chunk, n);
    }
}

void WsClient::drop() {
    beast::error_code ec;
    beast::get_lowest_layer(impl_->ws).socket().set_option(asio::socket_base::linger(true, 0), ec);
    beast::get_lowest_layer(impl_->ws).socket().close(ec);
    impl_->closed = true;
}

struct StreamingHttpClient::Impl {
    asio::io_context ioc;
    tcp::socket socket{ioc};
    std::string raw;  // received, not yet decoded
    bool head_done = false;
    bool chunked = false;
    bool finished = false;
    bool complete = false;  // the final chunk arrived
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::array<char, 65536> buffer{};

    void decode() {
        if (!head_done) {
            const auto end = raw.find("\r\n\r\n");
            if (end == std::string::npos) return;
            std::string head = raw.substr(0, end);
            raw.erase(0, end + 4);
            // A 100 Continue comes before the real head.
            if (head.rfind("HTTP/1.1 100", 0) == 0) return decode();
            status = static_cast<unsigned>(std::stoi(head.substr(9, 3)));
            std::size_t pos = head.find("\r\n");
            while (pos != std::string::npos) {
                const auto next = head.find("\r\n", pos + 2);
                const auto line =
                    head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
                const auto colon = line.find(':');
                if (colon != std::string::npos) {
                    std::string name = line.substr(0, colon);
                    for (auto& c : name)
                        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    std::string value = line.substr(colon + 1);
                    while (!value.empty() && value.front() == ' ')
                        value.erase(0, 1);
                    if (name == "transfer-encoding" && value == "chunked") chunked = true;
                    headers.emplace_back(name, value);
                }
                pos = next;
            }
            head_done = true;
        }
        if (!chunked) {
            body += raw;
            raw.clear();
            return;
        }
        while (!finished) {
            const auto line_end = raw.find("\r\n");
            if (line_end == std::string::npos) return;
            const std::size_t size = std::stoul(raw.substr(0, line_end), nullptr, 16);
            if (raw.size() < line_end + 2 + size + 2) return;
            body.append(raw, line_end + 2, size);
            raw.erase(0, line_end + 2 + size + 2);
            if (size == 0) finished = complete = true;
        }
    }
};

StreamingHttpClient::StreamingHttpClient(std::uint16_t port, int receive_buffer_bytes)
    : impl_(std::make_unique<Impl>()) {
    impl_->socket.open(tcp::v4());
    if (receive_buffer_bytes > 0)
        impl_->socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer_bytes));
    impl_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    impl_->socket.set_option(tcp::no_delay(true));
}

StreamingHttpClient::~StreamingHttpClient() = default;

void StreamingHttpClient::start(const std::string& method, const std::string& target, const Headers& headers,
                                bool chunked, const std::string& body) {
    std::string head = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers)
        head += name + ": " + value + "\r\n";
    head += chunked ? "Transfer-Encoding: chunked\r\n"
                    : "Content-Length: " + std::to_string(body.size()) + "\r\n";
    head += "\r\n";
    if (!chunked) head += body;
    beast::error_code ec;
    asio::write(impl_->socket, asio::buffer(head), ec);
}

void StreamingHttpClient::send_chunk(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return;
    char size[24];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
    std::string chunk(size, static_cast<std::size_t>(n));
    chunk.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    chunk += "\r\n";
    beast::error_code ec;
    asio::write(impl_->socket, asio::buffer(chunk), ec);
}

void StreamingHttpClient::end_body() {
    beast::error_code ec;
    asio::write(impl_->socket, asio::buffer(std::string("0\r\n\r\n")), ec);
}

void StreamingHttpClient::drop() {
    beast::error_code ec;
    impl_->socket.set_option(asio::socket_base::linger(true, 0), ec);
    impl_->socket.close(ec);
    impl_->finished = true;
}

bool StreamingHttpClient::read_some(std::chrono::milliseconds timeout) {
    if (impl_->finished) return false;
    bool done = false;
    beast::error_code result;
    std::size_t got = 0;
    impl_->socket.async_read_some(asio::buffer(impl_->buffer), [&](beast::error_code ec, std::size_t n) {
        result = ec;
        got = n;
        done = true;
    });
    if (!run_until(impl_->ioc, done, timeout, impl_->socket)) return false;
    if (result) {
        impl_->finished = true;
        return false;
    }
    impl_->raw.append(impl_->buffer.data(), got);
    impl_->decode();
    return true;
}

bool StreamingHttpClient::read_head(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!impl_->head_done) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left <= 0ms || !read_some(left)) return impl_->head_done;
    }
    return true;
}

unsigned StreamingHttpClient::status() const {
    return impl_->status;
}

std::string StreamingHttpClient::header(const std::string& lower_name) const {
    for (const auto& [name, value] : impl_->headers)
        if (name == lower_name) return value;
    return {};
}

const std::string& StreamingHttpClient::body() const {
    return impl_->body;
}

bool StreamingHttpClient::finished() const {
    return impl_->finished;
}

bool StreamingHttpClient::complete() const {
    return impl_->complete;
}

std::vector<std::string> StreamingHttpClient::lines() const {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (auto end = impl_->body.find('\n'); end != std::string::npos; end = impl_->body.find('\n', start)) {
        out.push_back(impl_->body.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

}  // namespace kinema::test
