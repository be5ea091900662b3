// SharedWriteStream: the server's own WebSocket frames and Beast's (pongs, close) share one socket, each
// write whole; a Beast client on real loopback sockets reads every message intact.
#include "shared_write_stream.h"
#include "websocket_frame_reader.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace kinema::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string header_of(std::size_t payload_size) {
    std::string framed;
    append_ws_text_frame(framed, std::string(payload_size, 'x'));
    EXPECT_EQ(framed.size() - payload_size, payload_size < 126 ? 2u : payload_size <= 0xffff ? 4u : 10u);
    return framed.substr(0, framed.size() - payload_size);
}

TEST(AppendTextFrame, UsesTheShortestLengthEncodingOfRfc6455) {
    EXPECT_EQ(header_of(0), std::string("\x81\x00", 2));
    EXPECT_EQ(header_of(125), "\x81\x7d");
    EXPECT_EQ(header_of(126), std::string("\x81\x7e\x00\x7e", 4));
    EXPECT_EQ(header_of(65535), "\x81\x7e\xff\xff");
    EXPECT_EQ(header_of(65536), std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

// A distinct payload per message, so that a frame cut or spliced by another write cannot pass for another.
std::string message(int i) {
    std::string text = "message " + std::to_string(i) + " ";
    text.resize(static_cast<std::size_t>(300 + (i * 7919) % 3000), static_cast<char>('a' + i % 26));
    return text;
}

// The server side: a Beast WebSocket over SharedWriteStream that reads (and so answers pings) while it
// writes batches of its own frames, as the PutMedia connection writes ACKs.
class Server {
public:
    explicit Server(asio::io_context& ioc)
        : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    // Accepts one client (its handshake runs in the io_context), then writes `batches` batches of `per_batch`
    // messages, one write each; when the client's text message arrives (after its pings), writes "done" and
    // closes.
    void run(int batches, int per_batch) {
        tcp::socket socket = acceptor_.accept();
        // A small send buffer: a batch fills it, and the write waits partly done while pongs are due.
        socket.set_option(asio::socket_base::send_buffer_size(4096));
        ws_.emplace(beast::tcp_stream(std::move(socket)));
        batches_ = batches;
        per_batch_ = per_batch;
        ws_->async_accept([this](beast::error_code ec) {
            ASSERT_FALSE(ec) << ec.message();
            write_batch();
            read();
        });
    }

    int batches_written = 0;
    beast::error_code read_error;

private:
    void write_batch() {
        if (batches_written == batches_) return;
        framed_.clear();
        for (int i = 0; i < per_batch_; ++i)
            append_ws_text_frame(framed_, message(batches_written * per_batch_ + i));
        ws_->next_layer().async_write_whole(asio::buffer(framed_), [this](beast::error_code ec, std::size_t) {
            ASSERT_FALSE(ec) << ec.message();
            ++batches_written;
            write_batch();
            if (client_done_ && batches_written == batches_) finish();
        });
    }

    void read() {
        ws_->async_read(input_, [this](beast::error_code ec, std::size_t) {
            if (ec) return void(read_error = ec);
            input_.consume(input_.size());
            client_done_ = true;
            if (batches_written == batches_) finish();
            read();
        });
    }

    void finish() {
        framed_.clear();
        append_ws_text_frame(framed_, "done");
        ws_->next_layer().async_write_whole(asio::buffer(framed_), [this](beast::error_code ec, std::size_t) {
            ASSERT_FALSE(ec) << ec.message();
            ws_->async_close(websocket::close_code::normal, [](beast::error_code) {});
        });
    }

    tcp::acceptor acceptor_;
    std::optional<websocket::stream<SharedWriteStream>> ws_;
    std::string framed_;
    beast::flat_buffer input_;
    int batches_ = 0;
    int per_batch_ = 0;
    bool client_done_ = false;
};

TEST(SharedWriteStream, PongsNeverLandInsideABatchOfOwnFramesAndTheCloseIsClean) {
    constexpr int kBatches = 40;
    constexpr int kPerBatch = 50;  // about 80 KB a batch, twenty times the server's send buffer
    constexpr int kPings = 300;
    asio::io_context server_ioc;
    Server server(server_ioc);
    std::thread server_thread([&] {
        server.run(kBatches, kPerBatch);
        server_ioc.run();
    });

    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.open(tcp::v4());
    socket.set_option(asio::socket_base::receive_buffer_size(4096));
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    websocket::stream<tcp::socket> ws(std::move(socket));
    ws.handshake("127.0.0.1", "/");
    int pongs = 0;
    ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
        if (kind == websocket::frame_type::pong) ++pongs;
    });

    // Every ping is sent before the client reads anything: the server's writes stall on the full socket
    // buffers with its pongs queued among them. Then the client reads everything.
    for (int i = 0; i < kPings; ++i)
        ws.ping({});
    ws.write(asio::buffer(std::string_view("pings sent")));

    std::vector<std::string> received;
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
        ws.read(buffer, ec);
        if (ec) break;
        EXPECT_TRUE(ws.got_text());
        received.push_back(beast::buffers_to_string(buffer.data()));
        buffer.consume(buffer.size());
    }
    server_thread.join();

    EXPECT_EQ(ec, websocket::error::closed) << ec.message();
    ASSERT_EQ(received.size(), static_cast<std::size_t>(kBatches * kPerBatch + 1));
    for (int i = 0; i < kBatches * kPerBatch; ++i)
        ASSERT_EQ(received[static_cast<std::size_t>(i)], message(i)) << "message " << i;
    EXPECT_EQ(received.back(), "done");
    EXPECT_EQ(pongs, kPings);
    EXPECT_EQ(server.batches_written, kBatches);
}

}  // namespace
}  // namespace kinema::server
