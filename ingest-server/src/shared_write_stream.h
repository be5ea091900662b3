#pragma once
// A TCP stream whose writes each go out whole before the next starts: the layer under a PutMedia WebSocket
// connection, which has several writers of frames.
//
// Why: a PutMedia producer gets three ACK messages per fragment (BUFFERING, RECEIVED, PERSISTED), and on
// loopback every send call also runs the receiver's TCP input and wakes it, so one call per ACK cost the
// server about a tenth of its CPU per MB on the single-stream benchmark. The connection therefore frames its
// queued ACKs itself (one text frame each, as DESIGN.md says) and sends them in one call. Its control frames
// (pongs, keep-alive pings, the close) are separate writes, and Beast, which does the opening handshake over
// this layer (websocket::stream<SharedWriteStream>), writes the handshake's response here too. Serialising
// whole writes keeps every frame intact; without it, a pong could land in the middle of a batch of ACKs that
// the socket accepted only partly.
//
// Rules for the owner: write with async_write_whole on the stream's strand, each write's buffers alive until
// its handler runs, and no frame after a close frame.
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

    // Beast's writes, a turn each like the owner's. Beast writes the handshake's response (and, on a stream
    // whose frames it reads, each control frame) in one asio::async_write of less than 64 KiB, so one call
    // here: never split around the owner's frames.
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
