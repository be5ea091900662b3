// WebSocketFrameReader: a producer's frames decoded in place, however the bytes are split between reads,
// and every protocol violation refused with the close code a server sends.
#include "websocket_frame_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace kinema::server {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct FrameSpec {
    std::uint8_t opcode = 0x2;
    bool fin = true;
    Bytes payload;
    bool masked = true;
    std::uint8_t rsv = 0;          // bits 0x70 of the first byte
    int length_form = 0;           // 0: shortest; 16 or 64: that extended form whatever the length
    std::uint64_t length = ~0ull;  // the length field, when not the payload's size
};

// A client's frame (RFC 6455 section 5.2), masked with a key that changes from frame to frame.
void append_frame(Bytes& out, const FrameSpec& f) {
    static std::uint8_t next_key = 0x11;
    const std::uint64_t n = f.length == ~0ull ? f.payload.size() : f.length;
    out.push_back(static_cast<std::uint8_t>((f.fin ? 0x80 : 0) | f.rsv | f.opcode));
    const std::uint8_t mask_bit = f.masked ? 0x80 : 0;
    const int form = f.length_form ? f.length_form : n < 126 ? 7 : n <= 0xffff ? 16 : 64;
    if (form == 7) {
        out.push_back(static_cast<std::uint8_t>(mask_bit | n));
    } else if (form == 16) {
        out.push_back(mask_bit | 126);
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    } else {
        out.push_back(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<std::uint8_t>(n >> shift));
    }
    std::array<std::uint8_t, 4> key{0, 0, 0, 0};
    if (f.masked) {
        for (auto& k : key)
            k = next_key += 0x35;
        out.insert(out.end(), key.begin(), key.end());
    }
    for (std::size_t i = 0; i < f.payload.size(); ++i)
        out.push_back(static_cast<std::uint8_t>(f.payload[i] ^ key[i % 4]));
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
    Bytes out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
    return out;
}

struct Decoded {
    Bytes data;
    WebSocketFrameReader reader;
    explicit Decoded(std::uint64_t max) : reader(max) {}
};

// Feeds `wire` in pieces of the given sizes (cycled), as successive reads into a buffer, and collects the
// data the reader leaves at each read's front.
void feed(Decoded& d, const Bytes& wire, const std::vector<std::size_t>& pieces) {
    std::size_t at = 0;
    for (std::size_t i = 0; at < wire.size(); ++i) {
        const std::size_t n = std::min(pieces[i % pieces.size()], wire.size() - at);
        Bytes read(wire.begin() + static_cast<std::ptrdiff_t>(at),
                   wire.begin() + static_cast<std::ptrdiff_t>(at + n));
        const std::size_t data = d.reader.decode(read);
        ASSERT_LE(data, n);
        d.data.insert(d.data.end(), read.begin(), read.begin() + static_cast<std::ptrdiff_t>(data));
        at += n;
    }
}

Decoded decode_all(const Bytes& wire, const std::vector<std::size_t>& pieces, std::uint64_t max = 1u << 24) {
    Decoded d(max);
    feed(d, wire, pieces);
    return d;
}

TEST(WebSocketFrameReader, DataOfEveryLengthFormComesOutContiguousHoweverTheReadsAreSplit) {
    Bytes wire;
    Bytes expected;
    for (const std::size_t n : {0u, 1u, 5u, 125u, 126u, 127u, 4000u, 65535u, 65536u, 200000u}) {
        const Bytes payload = pattern(n, static_cast<std::uint8_t>(n));
        append_frame(wire, {.payload = payload});
        expected.insert(expected.end(), payload.begin(), payload.end());
    }
    for (const auto& pieces : std::vector<std::vector<std::size_t>>{
             {wire.size()}, {1}, {2, 3, 5, 7}, {13, 1, 65536}, {262144}, {9, 4096, 14, 3}}) {
        const auto d = decode_all(wire, pieces);
        EXPECT_FALSE(d.reader.failed()) << d.reader.error();
        EXPECT_FALSE(d.reader.closed());
        EXPECT_EQ(d.data, expected) << "first piece " << pieces[0];
    }
}

TEST(WebSocketFrameReader, RandomSplitsOfAFragmentedStreamWithPingsGiveTheSameBytes) {
    std::mt19937 random(7);
    Bytes wire;
    Bytes expected;
    for (int message = 0; message < 40; ++message) {
        const int frames = 1 + static_cast<int>(random() % 4);
        for (int f = 0; f < frames; ++f) {
            const Bytes payload = pattern(random() % 3000, static_cast<std::uint8_t>(random()));
            append_frame(wire, {.opcode = static_cast<std::uint8_t>(f == 0 ? 0x2 : 0x0),
                                .fin = f == frames - 1,
                                .payload = payload});
            expected.insert(expected.end(), payload.begin(), payload.end());
            if (random() % 3 == 0) append_frame(wire, {.opcode = 0x9, .payload = pattern(random() % 126, 1)});
            if (random() % 5 == 0) append_frame(wire, {.opcode = 0xA, .payload = pattern(4, 2)});
        }
    }
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<std::size_t> pieces;
        for (int i = 0; i < 20; ++i)
            pieces.push_back(1 + random() % (trial % 2 ? 20 : 9000));
        const auto d = decode_all(wire, pieces);
        ASSERT_FALSE(d.reader.failed()) << d.reader.error();
        ASSERT_EQ(d.data, expected);
    }
}

TEST(WebSocketFrameReader, APingIsKeptForTheAnswerAndTheLatestWins) {
    Bytes wire;
    append_frame(wire, {.opcode = 0x9, .payload = {'o', 'l', 'd'}});
    append_frame(wire, {.opcode = 0x2, .payload = pattern(10, 3)});
    append_frame(wire, {.opcode = 0x9, .payload = {'n', 'e', 'w'}});
    auto d = decode_all(wire, {wire.size()});
    EXPECT_EQ(d.data, pattern(10, 3));
    ASSERT_TRUE(d.reader.ping_pending());
    EXPECT_EQ(d.reader.take_ping(), "new");
    EXPECT_FALSE(d.reader.ping_pending());
}

TEST(WebSocketFrameReader, ACloseFrameEndsDecodingAndItsCodeIsKept) {
    Bytes wire;
    append_frame(wire, {.payload = pattern(100, 4)});
    append_frame(wire, {.opcode = 0x8, .payload = {0x03, 0xe9, 'b', 'y', 'e'}});  // 1001 going away
    append_frame(wire, {.payload = pattern(50, 5)});                              // after the close: ignored
    for (const std::size_t piece : {wire.size(), std::size_t{1}, std::size_t{7}}) {
        auto d = decode_all(wire, {piece});
        EXPECT_TRUE(d.reader.closed());
        EXPECT_FALSE(d.reader.failed());
        EXPECT_EQ(d.reader.close_code(), 1001);
        EXPECT_EQ(d.data, pattern(100, 4));
    }
    Bytes bare;
    append_frame(bare, {.opcode = 0x8, .payload = {}});
    auto d = decode_all(bare, {bare.size()});
    EXPECT_TRUE(d.reader.closed());
    EXPECT_EQ(d.reader.close_code(), static_cast<std::uint16_t>(WsCloseCode::no_status));
}

struct Violation {
    const char* name;
    std::vector<FrameSpec> frames;
    WsCloseCode code;
    std::uint64_t max = 1u << 20;
    std::size_t delivered = 0;  // data bytes of `frames` before the violation (valid frames of its message)
};

TEST(WebSocketFrameReader, EveryViolationIsRefusedWithItsCloseCodeAndNothingAfterItComesOut) {
    const std::vector<Violation> cases = {
        {"unmasked", {{.payload = pattern(10, 1), .masked = false}}, WsCloseCode::protocol_error},
        {"reserved bit", {{.payload = pattern(10, 1), .rsv = 0x40}}, WsCloseCode::protocol_error},
        {"unknown opcode", {{.opcode = 0x3, .payload = pattern(10, 1)}}, WsCloseCode::protocol_error},
        {"unknown control opcode", {{.opcode = 0xB, .payload = {}}}, WsCloseCode::protocol_error},
        {"text message", {{.opcode = 0x1, .payload = {'h', 'i'}}}, WsCloseCode::unsupported_data},
        {"continuation first", {{.opcode = 0x0, .payload = pattern(10, 1)}}, WsCloseCode::protocol_error},
        {"binary inside a message",
         {{.fin = false, .payload = pattern(10, 1)}, {.payload = pattern(10, 1)}},
         WsCloseCode::protocol_error,
         1u << 20,
         10},
        {"fragmented ping", {{.opcode = 0x9, .fin = false, .payload = {}}}, WsCloseCode::protocol_error},
        {"ping over 125 bytes", {{.opcode = 0x9, .payload = pattern(126, 1)}}, WsCloseCode::protocol_error},
        {"16-bit length under 126",
         {{.payload = pattern(100, 1), .length_form = 16}},
         WsCloseCode::protocol_error},
        {"64-bit length under 65536",
         {{.payload = pattern(1000, 1), .length_form = 64}},
         WsCloseCode::protocol_error},
        {"64-bit length with its top bit",
         {{.payload = {}, .length_form = 64, .length = 1ull << 63}},
         WsCloseCode::protocol_error},
        {"message too big", {{.payload = pattern(2000, 1)}}, WsCloseCode::too_big, 1000},
        {"message too big across frames",
         {{.fin = false, .payload = pattern(600, 1)}, {.opcode = 0x0, .payload = pattern(600, 1)}},
         WsCloseCode::too_big,
         1000,
         600},
        {"close with one byte", {{.opcode = 0x8, .payload = {0x03}}}, WsCloseCode::protocol_error},
        {"close with a reserved code",
         {{.opcode = 0x8, .payload = {0x03, 0xed}}},
         WsCloseCode::protocol_error},
        {"close with code 999", {{.opcode = 0x8, .payload = {0x03, 0xe7}}}, WsCloseCode::protocol_error},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Bytes wire;
        append_frame(wire, {.payload = pattern(30, 9)});  // a good message first: delivered
        for (const auto& f : c.frames)
            append_frame(wire, f);
        append_frame(wire, {.payload = pattern(30, 8)});  // after the violation: never delivered
        for (const std::size_t piece : {wire.size(), std::size_t{1}}) {
            auto d = decode_all(wire, {piece}, c.max);
            ASSERT_TRUE(d.reader.failed());
            EXPECT_EQ(d.reader.error_close_code(), c.code) << d.reader.error();
            EXPECT_FALSE(d.reader.closed());
            // The good message, and of the violating case only its valid frames before the violation.
            ASSERT_EQ(d.data.size(), 30u + c.delivered);
            EXPECT_EQ(Bytes(d.data.begin(), d.data.begin() + 30), pattern(30, 9));
            Bytes more = wire;
            EXPECT_EQ(d.reader.decode(more), 0u);  // nothing after a failure
        }
    }
}

TEST(WebSocketFrameReader, ServerFramesHaveTheShortestHeaderAndControlPayloadsAreCut) {
    std::string out;
    append_ws_text_frame(out, std::string(125, 'a'));
    EXPECT_EQ(out.size(), 2u + 125);
    EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0x81);
    out.clear();
    append_ws_text_frame(out, std::string(126, 'a'));
    EXPECT_EQ(out.size(), 4u + 126);
    out.clear();
    append_ws_text_frame(out, std::string(65536, 'a'));
    EXPECT_EQ(out.size(), 10u + 65536);
    out.clear();
    append_ws_pong_frame(out, std::string(200, 'p'));
    EXPECT_EQ(out.size(), 2u + 125);
    EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0x8A);
    out.clear();
    append_ws_close_frame(out, 1009);
    EXPECT_EQ(out, std::string("\x88\x02\x03\xf1", 4));
}

}  // namespace
}  // namespace kinema::server
