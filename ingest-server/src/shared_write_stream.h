#pragma once
// A TCP stream that two writers share, each write going out whole before the next starts: the layer under a
// Beast WebSocket stream whose owner also writes frames of its own.
//
// Why: Beast writes one message per write call, and a PutMedia producer gets three ACK messages per fragment
// (BUFFERING, RECEIVED, PERSISTED). On loopback every send call also runs the receiver's TCP input and wakes
// it, so one call per ACK cost the server about a tenth of its CPU per MB on the single-stream benchmark.
// The PutMedia connection therefore frames its queued ACKs itself (one text frame each, as DESIGN.md says)
// and sends them in one call, through this layer, which it shares with Beast. Beast still writes its own
// frames here: the handshake response, pongs to the producer's pings, its keep-alive pings and the close
// frame, each in one call of one frame. Serialising whole writes keeps every frame intact; without it, a pong
// could land in the middle of a batch of ACKs that the socket accepted only partly.
//
// Rules for the owner: write with async_write_whole on the stream's strand, at most one own write at a
// time, and no own frame after a close frame was sent or received (see websocket::stream::control_callback).
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace kinema::server {

class SharedWriteStream {
public:
    using executor_type = boost::beast::tcp_stream::executor_type;
    using next_layer_type = boost::beast::tcp_stream;

    explicit SharedWriteStream(boost::beast::tcp_stream stream) : stream_(std::move(stream)) {}

    executor_type get_executor() noexcept { return stream_.get_executor(); }
    next_layer_type& next_layer() noexcept { return stream_; }
    const next_layer_type& next_layer() const noexcept { return stream_; }

    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
        return stream_.async_read_some(buffers, std::forward<ReadHandler>(handler));
    }

    // The owner's write: every byte of `buffers` (or an error) in one turn, after the writes queued before
    // it and before any queued after it. (Not asio::async_write: it would cut the buffers into write_some
    // calls of at most 64 KiB, and another writer's frame could go between them.)
    template <class ConstBufferSequence, class WriteHandler>
    auto async_write_whole(const ConstBufferSequence& buffers, WriteHandler&& handler) {
        return boost::asio::async_initiate<WriteHandler, void(boost::beast::error_code, std::size_t)>(
            [this](auto&& completion, const ConstBufferSequence& data) {
                using Completion = std::decay_t<decltype(completion)>;
                queue_.push_back(std::make_unique<Write<ConstBufferSequence, Completion>>(
                    *this, data, std::forward<decltype(completion)>(completion)));
                if (queue_.size() == 1) queue_.front()->start();
            },
            handler, buffers);
    }

    // Beast's writes, a turn each like the owner's. Beast writes each control frame (and the handshake's
    // response) in one asio::async_write of less than 64 KiB, so one call here: never split around the
    // owner's frames.
    template <class ConstBufferSequence, class WriteHandler>
    auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
        return async_write_whole(buffers, std::forward<WriteHandler>(handler));
    }

    // Writes queued or in flight (for tests).
    std::size_t writes_pending() const noexcept { return queue_.size(); }

private:
    struct PendingWrite {
        virtual ~PendingWrite() = default;
        virtual void start() = 0;
    };

    template <class Buffers, class Handler>
    struct Write final : PendingWrite {
        Write(SharedWriteStream& owner, const Buffers& data, Handler h)
            : stream(owner), buffers(data), handler(std::move(h)) {}

        void start() override {
            // The completion runs where the writer asked (its associated executor, by default the stream's
            // strand), so the handler is called directly from it.
            auto executor = boost::asio::get_associated_executor(handler, stream.get_executor());
            boost::asio::async_write(
                stream.stream_, buffers,
                boost::asio::bind_executor(executor, [this](boost::beast::error_code ec, std::size_t n) {
                    auto done = std::move(handler);
                    stream.finish_front();  // destroys this Write; starts the next one
                    done(ec, n);
                }));
        }

        SharedWriteStream& stream;
        Buffers buffers;
        Handler handler;
    };

    void finish_front() {
        queue_.pop_front();
        if (!queue_.empty()) queue_.front()->start();
    }

    boost::beast::tcp_stream stream_;
    std::deque<std::unique_ptr<PendingWrite>> queue_;  // front: the write in flight
};

// Appends `payload` as one unmasked, final text frame: a WebSocket server's message to its client (RFC 6455
// section 5.2; a server never masks).
inline void append_text_frame(std::string& out, std::string_view payload) {
    const std::size_t n = payload.size();
    out.push_back(static_cast<char>(0x81));  // FIN, opcode 1 (text)
    if (n < 126) {
        out.push_back(static_cast<char>(n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(126));
        for (int shift = 8; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((n >> shift) & 0xff));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
    }
    out.append(payload);
}

// Beast's websocket::stream closes and tears down its next layer through these (found by argument-dependent
// lookup); they go to the TCP stream.
inline void beast_close_socket(SharedWriteStream& stream) {
    boost::beast::error_code ec;
    stream.next_layer().socket().close(ec);
}

inline void teardown(boost::beast::role_type role, SharedWriteStream& stream, boost::beast::error_code& ec) {
    using boost::beast::websocket::teardown;
    teardown(role, stream.next_layer().socket(), ec);
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, SharedWriteStream& stream, TeardownHandler&& handler) {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, stream.next_layer().socket(), std::forward<TeardownHandler>(handler));
}

}  // namespace kinema::server
