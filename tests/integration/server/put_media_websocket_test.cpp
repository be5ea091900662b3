// PutMedia's WebSocket framing over real loopback sockets, from a client that writes its frames byte by byte
// as it likes (a Beast client could not send the broken ones): messages cut into continuation frames, pings
// in between and their pongs, the producer's close code echoed, and each protocol violation answered with
// its close code, the fragment in progress dropped and nothing stored lost.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "media_test_util.h"

namespace kinema::test {
namespace {

using server::AckEventType;

// A server frame: unmasked (RFC 6455 section 5.1).
struct ServerFrame {
    int opcode = 0;
    std::string payload;
};

class RawWsClient {
public:
    RawWsClient(std::uint16_t port, const std::string& stream) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
        timeval timeout{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        send_raw(
            "GET /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "x-amzn-stream-name: " +
            stream + "\r\nx-amzn-fragment-timecode-type: ABSOLUTE\r\n\r\n");
        while (in_.find("\r\n\r\n") == std::string::npos)
            if (!receive()) return;
        const auto end = in_.find("\r\n\r\n") + 4;
        upgraded_ = in_.rfind("HTTP/1.1 101", 0) == 0;
        in_.erase(0, end);
    }
    ~RawWsClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawWsClient(const RawWsClient&) = delete;
    RawWsClient& operator=(const RawWsClient&) = delete;

    bool upgraded() const { return upgraded_; }
    // The server ended the connection (as opposed to a read that timed out).
    bool ended() const { return ended_; }

    // A client frame, masked unless told otherwise.
    void send_frame(int opcode, std::span<const std::uint8_t> payload, bool fin = true, bool masked = true) {
        std::string out;
        out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
        const char mask_bit = masked ? static_cast<char>(0x80) : 0;
        const std::size_t n = payload.size();
        if (n < 126) {
            out.push_back(static_cast<char>(mask_bit | static_cast<char>(n)));
        } else if (n <= 0xffff) {
            out.push_back(static_cast<char>(mask_bit | 126));
            out.push_back(static_cast<char>(n >> 8));
            out.push_back(static_cast<char>(n & 0xff));
        } else {
            out.push_back(static_cast<char>(mask_bit | 127));
            for (int shift = 56; shift >= 0; shift -= 8)
                out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
        }
        const std::array<std::uint8_t, 4> key{0x5a, 0x13, masked ? std::uint8_t{0xc7} : std::uint8_t{0},
                                              0x02};
        if (masked) out.append(reinterpret_cast<const char*>(key.data()), key.size());
        for (std::size_t i = 0; i < n; ++i)
            out.push_back(static_cast<char>(payload[i] ^ (masked ? key[i % 4] : 0)));
        send_raw(out);
    }
    void send_frame(int opcode, const std::string& payload, bool fin = true) {
        send_frame(opcode, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                   fin);
    }

    // The next frame from the server, or nullopt when the connection ended (or `timeout` passed).
    std::optional<ServerFrame> next(std::chrono::milliseconds timeout = 10s) {
        timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        for (;;) {
            if (in_.size() >= 2) {
                const auto b1 = static_cast<std::uint8_t>(in_[1]);
                std::size_t length = b1 & 0x7f;
                std::size_t header = 2;
                if (length == 126) header = 4;
                if (length == 127) header = 10;
                if (in_.size() >= header) {
                    if (header == 4)
                        length = (std::size_t{static_cast<std::uint8_t>(in_[2])} << 8) |
                                 static_cast<std::uint8_t>(in_[3]);
                    if (header == 10) {
                        length = 0;
                        for (std::size_t i = 2; i < 10; ++i)
                            length = (length << 8) | static_cast<std::uint8_t>(in_[i]);
                    }
                    if (in_.size() >= header + length) {
                        ServerFrame frame{static_cast<std::uint8_t>(in_[0]) & 0x0f,
                                          in_.substr(header, length)};
                        EXPECT_EQ(static_cast<std::uint8_t>(in_[0]) & 0xf0, 0x80)
                            << "final, no reserved bits";
                        EXPECT_EQ(b1 & 0x80, 0) << "a server never masks";
                        in_.erase(0, header + length);
                        return frame;
                    }
                }
            }
            if (!receive()) return std::nullopt;
        }
    }

    // Reads ACKs (skipping the server's pings) until one for which `done` is true. Fails on an ERROR ACK,
    // any other frame, or the end of the connection.
    ::testing::AssertionResult read_acks_until(const std::function<bool(const server::Ack&)>& done) {
        for (;;) {
            auto frame = next();
            if (!frame) return ::testing::AssertionFailure() << "the connection ended first";
            if (frame->opcode == 0x9) continue;
            if (frame->opcode != 0x1) return ::testing::AssertionFailure() << "opcode " << frame->opcode;
            auto ack = server::parse_ack(frame->payload);
            if (!ack || ack->type == AckEventType::error)
                return ::testing::AssertionFailure() << frame->payload;
            if (done(*ack)) return ::testing::AssertionSuccess();
        }
    }

    // Frames until the server's close frame: the ACKs (text) and pongs before it, and its status code.
    struct UntilClose {
        std::vector<server::Ack> acks;
        std::vector<std::string> pongs;
        std::optional<int> close_code;
        bool connection_ended = false;  // after the close frame, the server closed the TCP connection
    };
    UntilClose read_until_close() {
        UntilClose out;
        while (auto frame = next()) {
            if (frame->opcode == 0x1) {
                auto ack = server::parse_ack(frame->payload);
                EXPECT_TRUE(ack) << frame->payload;
                if (ack) out.acks.push_back(*ack);
            } else if (frame->opcode == 0xA) {
                out.pongs.push_back(frame->payload);
            } else if (frame->opcode == 0x8) {
                out.close_code = frame->payload.size() >= 2
                                     ? (static_cast<std::uint8_t>(frame->payload[0]) << 8) |
                                           static_cast<std::uint8_t>(frame->payload[1])
                                     : 1005;
                out.connection_ended = !receive() && ended_;
                return out;
            }
        }
        return out;
    }

private:
    void send_raw(const std::string& bytes) {
        for (std::size_t at = 0; at < bytes.size();) {
            const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
            if (n <= 0) return;
            at += static_cast<std::size_t>(n);
        }
    }
    bool receive() {
        char buffer[65536];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        ended_ = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        if (n <= 0) return false;
        in_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    bool upgraded_ = false;
    bool ended_ = false;
    std::string in_;
};

std::string close_payload(int code) {
    return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

// Short for the tests; a ping unanswered for kSilence / 2 cuts the producer, so not so short that a loaded
// machine could hold a pong that long.
constexpr std::chrono::milliseconds kSilence{2000};

class PutMediaWebSocketTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<TestServer>([](server::ServerConfig& config) {
            config.max_ws_message_bytes = 256 * 1024;
            config.websocket_silence_timeout = kSilence;
        });
        create_stream(port(), "cam1");
    }
    std::uint16_t port() const { return server_->port(); }

    std::unique_ptr<TestServer> server_;
};

TEST_F(PutMediaWebSocketTest, TheSegmentIsReadyWhenTheUpgradeIsAnsweredAndTheFirstFragmentGoesIntoIt) {
    // The segment's files are made while the upgrade is checked (on the blocking pool), not at the first
    // fragment on a network thread.
    const auto stream_dir = server_->data_dir() / "streams" / "cam1";
    const auto segments = [&stream_dir] {
        std::vector<std::string> names;
        for (const auto& item : std::filesystem::directory_iterator(stream_dir))
            if (item.path().extension() == ".seg") names.push_back(item.path().stem().string());
        std::sort(names.begin(), names.end());
        return names;
    };
    EXPECT_TRUE(segments().empty());
    RawWsClient ws(port(), "cam1");
    ASSERT_TRUE(ws.upgraded());
    const auto ready = segments();
    ASSERT_EQ(ready.size(), 1u);

    const auto stream = make_fragments(2);
    ws.send_frame(0x2, stream.bytes);
    ws.send_frame(0x2, end_of_fragment_tags());
    std::vector<std::string> persisted;
    ASSERT_TRUE(ws.read_acks_until([&](const server::Ack& ack) {
        if (ack.type == AckEventType::persisted) persisted.push_back(ack.fragment_number);
        return persisted.size() == stream.clusters.size();
    }));
    EXPECT_EQ(persisted.front(), ready.front());  // the segment is named after its first fragment
    EXPECT_EQ(segments(), ready);
}

TEST_F(PutMediaWebSocketTest, MessagesInContinuationFramesWithPingsBetweenAreStoredAndEveryPingIsAnswered) {
    const auto stream = make_fragments(3, 0, 5, 3000);
    RawWsClient ws(port(), "cam1");
    ASSERT_TRUE(ws.upgraded());
    // The stream as messages of up to three frames each (first binary, then continuations), each frame 1 to
    // 700 bytes, and after every message a ping, answered before the next message is sent (the server may
    // answer only the latest of pings that arrive together).
    std::mt19937 random(3);
    std::size_t pings = 0;
    std::size_t persisted = 0;
    const auto read_until_pong = [&](const std::string& expected) {
        for (;;) {
            auto frame = ws.next();
            ASSERT_TRUE(frame) << "no pong for " << expected;
            if (frame->opcode == 0xA) {
                EXPECT_EQ(frame->payload, expected);
                return;
            }
            ASSERT_EQ(frame->opcode, 0x1);
            auto ack = server::parse_ack(frame->payload);
            ASSERT_TRUE(ack) << frame->payload;
            ASSERT_NE(ack->type, AckEventType::error) << frame->payload;
            if (ack->type == AckEventType::persisted) ++persisted;
        }
    };
    for (std::size_t at = 0; at < stream.bytes.size();) {
        const int frames = 1 + static_cast<int>(random() % 3);
        for (int f = 0; f < frames && at < stream.bytes.size(); ++f) {
            const std::size_t n = std::min<std::size_t>(1 + random() % 700, stream.bytes.size() - at);
            const bool last = f == frames - 1 || at + n == stream.bytes.size();
            ws.send_frame(f == 0 ? 0x2 : 0x0, std::span(stream.bytes).subspan(at, n), last);
            at += n;
        }
        const std::string ping = "ping " + std::to_string(pings++);
        ws.send_frame(0x9, ping);
        read_until_pong(ping);
    }
    ASSERT_GT(pings, 20u);
    const auto tags = end_of_fragment_tags();
    ws.send_frame(0x2, tags);
    // Every fragment PERSISTED before the close, so its ACKs come before the server's close answer.
    if (persisted < stream.clusters.size()) {
        ASSERT_TRUE(ws.read_acks_until([&](const server::Ack& ack) {
            if (ack.type == AckEventType::persisted) ++persisted;
            return persisted == stream.clusters.size();
        }));
    }
    ws.send_frame(0x8, close_payload(1001));
    const auto end = ws.read_until_close();
    EXPECT_TRUE(end.pongs.empty());
    EXPECT_EQ(end.close_code, 1001);  // the producer's code echoed
    EXPECT_TRUE(end.connection_ended);
    const auto fragments = list_fragments(port(), "cam1");
    ASSERT_EQ(fragments.size(), stream.clusters.size());
    for (std::size_t i = 0; i < fragments.size(); ++i)
        EXPECT_EQ(fragments[i].size, stream.clusters[i].size());
}

TEST_F(PutMediaWebSocketTest, EachProtocolViolationClosesWithItsCodeDropsTheFragmentAndKeepsWhatIsStored) {
    struct Case {
        const char* name;
        std::function<void(RawWsClient&)> violate;
        int code;
    };
    const std::vector<Case> cases = {
        {"text message", [](RawWsClient& ws) { ws.send_frame(0x1, std::string("hello")); }, 1003},
        {"unmasked frame",
         [](RawWsClient& ws) {
             const Bytes bytes(10, 0x42);
             ws.send_frame(0x2, bytes, true, false);
         },
         1002},
        {"continuation outside a message", [](RawWsClient& ws) { ws.send_frame(0x0, std::string("x")); },
         1002},
        {"message over max_ws_message_bytes",
         [](RawWsClient& ws) {
             const Bytes bytes(300 * 1024, 0x42);
             ws.send_frame(0x2, bytes);
         },
         1009},
        {"unknown opcode", [](RawWsClient& ws) { ws.send_frame(0x3, std::string("x")); }, 1002},
    };
    int first = 0;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        // One whole fragment, then half of the next, then the violation.
        const auto stream = make_fragments(2, first, 5, 2000);
        first += 2;
        RawWsClient ws(port(), "cam1");
        ASSERT_TRUE(ws.upgraded());
        const std::size_t cut =
            stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() / 2;
        ws.send_frame(0x2, std::span(stream.bytes).first(cut));
        // The first fragment PERSISTED and the second one begun (BUFFERING): then the violation.
        bool first_persisted = false;
        bool second_buffering = false;
        ASSERT_TRUE(ws.read_acks_until([&](const server::Ack& ack) {
            if (ack.fragment_timecode == kEpochMs + 1000 * (first - 2))
                first_persisted = first_persisted || ack.type == AckEventType::persisted;
            if (ack.fragment_timecode == kEpochMs + 1000 * (first - 1))
                second_buffering = second_buffering || ack.type == AckEventType::buffering;
            return first_persisted && second_buffering;
        }));
        c.violate(ws);
        const auto end = ws.read_until_close();
        EXPECT_EQ(end.close_code, c.code);
        EXPECT_TRUE(end.connection_ended);
    }
    // The first fragment of every session, and nothing of the second ones.
    const auto fragments = list_fragments(port(), "cam1");
    ASSERT_EQ(fragments.size(), cases.size());
    for (std::size_t i = 0; i < fragments.size(); ++i)
        EXPECT_EQ(fragments[i].producer_ms, kEpochMs + 2000 * static_cast<std::int64_t>(i));
    // And the stream takes a producer again.
    RawWsClient next(port(), "cam1");
    EXPECT_TRUE(next.upgraded());
}

TEST_F(PutMediaWebSocketTest, ASilentProducerIsPingedThenCutAndItsFragmentInProgressDropped) {
    const auto stream = make_fragments(2, 0, 5, 2000);
    RawWsClient ws(port(), "cam1");
    ASSERT_TRUE(ws.upgraded());
    const std::size_t cut = stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() / 2;
    ws.send_frame(0x2, std::span(stream.bytes).first(cut));
    // Silent from here, pings unanswered: a ping at about half of kSilence, then the end of the connection
    // (no close frame: a producer that does not answer a ping is not there to read one).
    bool pinged = false;
    while (auto frame = ws.next(10 * kSilence)) {
        EXPECT_NE(frame->opcode, 0x8);
        if (frame->opcode == 0x9) pinged = true;
    }
    EXPECT_TRUE(pinged);
    EXPECT_TRUE(ws.ended());
    // The claim is released with the connection: the next producer is accepted at once and continues.
    RawWsClient next(port(), "cam1");
    ASSERT_TRUE(next.upgraded());
    next.send_frame(0x2, std::span(stream.bytes).first(stream.header.size()));
    next.send_frame(0x2, stream.clusters[1]);
    next.send_frame(0x2, end_of_fragment_tags());
    ASSERT_TRUE(
        next.read_acks_until([](const server::Ack& ack) { return ack.type == AckEventType::persisted; }));
    // The first fragment of the silent session and the second sent again; nothing of the cut one.
    const auto fragments = list_fragments(port(), "cam1");
    ASSERT_EQ(fragments.size(), 2u);
    EXPECT_EQ(fragments[0].size, stream.clusters[0].size());
    EXPECT_EQ(fragments[1].size, stream.clusters[1].size());
}

TEST_F(PutMediaWebSocketTest, AProducerThatAnswersPingsStaysConnectedWhileSilent) {
    const auto stream = make_fragments(2, 0, 5, 2000);
    RawWsClient ws(port(), "cam1");
    ASSERT_TRUE(ws.upgraded());
    const std::size_t cut = stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() / 2;
    ws.send_frame(0x2, std::span(stream.bytes).first(cut));
    // Three times kSilence without data, each ping answered.
    int pongs = 0;
    const auto until = std::chrono::steady_clock::now() + 3 * kSilence;
    while (std::chrono::steady_clock::now() < until) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        auto frame = ws.next(std::max(left, std::chrono::milliseconds(1)));
        if (!frame) {
            ASSERT_FALSE(ws.ended()) << "the server cut a producer that answered its pings";
            continue;
        }
        if (frame->opcode == 0x9) {
            ws.send_frame(0xA, frame->payload);
            ++pongs;
        }
    }
    EXPECT_GE(pongs, 2);
    // The rest of the stream: the second fragment stored too.
    ws.send_frame(0x2, std::span(stream.bytes).subspan(cut));
    ws.send_frame(0x2, end_of_fragment_tags());
    ASSERT_TRUE(ws.read_acks_until([](const server::Ack& ack) {
        return ack.type == AckEventType::persisted && ack.fragment_timecode == kEpochMs + 1000;
    }));
    EXPECT_EQ(list_fragments(port(), "cam1").size(), 2u);
}

}  // namespace
}  // namespace kinema::test
