#include "ack_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "kinema/producer/error.h"

namespace kinema::producer {
namespace {

TEST(AckParser, ParsesEveryEventType) {
    struct Case {
        const char* text;
        AckType type;
    };
    const Case cases[] = {
        {R"({"EventType":"BUFFERING","FragmentTimecode":1,"FragmentNumber":"1"})", AckType::buffering},
        {R"({"EventType":"RECEIVED","FragmentTimecode":1,"FragmentNumber":"1"})", AckType::received},
        {R"({"EventType":"PERSISTED","FragmentTimecode":1,"FragmentNumber":"1"})", AckType::persisted},
        {R"({"EventType":"ERROR","FragmentTimecode":1,"FragmentNumber":"1"})", AckType::error},
        {R"({"EventType":"IDLE"})", AckType::idle},
    };
    for (const auto& c : cases) {
        FragmentAck ack;
        ASSERT_FALSE(parse_ack(c.text, ack)) << c.text;
        EXPECT_EQ(ack.type, c.type) << c.text;
    }
}

TEST(AckParser, ReadsAllFieldsOfAKvsPersistedAck) {
    FragmentAck ack;
    ASSERT_FALSE(parse_ack(
        R"({"EventType":"PERSISTED","FragmentTimecode":1700000000123,"FragmentNumber":"91343852333181432392682062607743920146264135087"})",
        ack));
    EXPECT_EQ(ack.type, AckType::persisted);
    EXPECT_TRUE(ack.has_timecode);
    EXPECT_EQ(ack.fragment_timecode, 1700000000123);
    EXPECT_EQ(ack.fragment_number, "91343852333181432392682062607743920146264135087");
    EXPECT_EQ(ack.error_id, 0);
}

TEST(AckParser, ReadsErrorIdAndCode) {
    FragmentAck ack;
    ASSERT_FALSE(parse_ack(R"({"EventType":"ERROR","FragmentTimecode":0,"FragmentNumber":"12",)"
                           R"("ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS","ErrorId":4004})",
                           ack));
    EXPECT_EQ(ack.type, AckType::error);
    EXPECT_EQ(ack.error_id, 4004);
    EXPECT_EQ(ack.error_code, "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS");
}

TEST(AckParser, AcceptsWhitespaceFieldOrderUnknownScalarsAndEscapes) {
    FragmentAck ack;
    // Arrays and objects are never ACK fields: rejected rather than skipped.
    EXPECT_EQ(parse_ack(" \n{ \"EventType\":\"IDLE\" ,\t\"Extra\": [  ]  }", ack), Errc::invalid_ack);
    ASSERT_FALSE(
        parse_ack("\r\n{ \"FragmentNumber\" : \"7\" , \"X\":true, \"Y\":null, \"Z\":-1.5e3,"
                  " \"W\":\"a\\\"b\", \"EventType\" : \"RECEIVED\", \"FragmentTimecode\" : -5 } \n",
                  ack));
    EXPECT_EQ(ack.type, AckType::received);
    EXPECT_EQ(ack.fragment_timecode, -5);
    EXPECT_EQ(ack.fragment_number, "7");
    ASSERT_FALSE(parse_ack(R"({"EventType":"ERROR","ErrorCode":"A\u00e9\ud83d\ude00\n"})", ack));
    EXPECT_EQ(ack.error_code, "A\xC3\xA9\xF0\x9F\x98\x80\n");
}

TEST(AckParser, TimecodeLimitsOfInt64) {
    FragmentAck ack;
    ASSERT_FALSE(parse_ack(R"({"EventType":"IDLE","FragmentTimecode":9223372036854775807})", ack));
    EXPECT_EQ(ack.fragment_timecode, INT64_MAX);
    ASSERT_FALSE(parse_ack(R"({"EventType":"IDLE","FragmentTimecode":-9223372036854775808})", ack));
    EXPECT_EQ(ack.fragment_timecode, INT64_MIN);
    EXPECT_EQ(parse_ack(R"({"EventType":"IDLE","FragmentTimecode":9223372036854775808})", ack),
              Errc::invalid_ack);
    EXPECT_EQ(parse_ack(R"({"EventType":"IDLE","FragmentTimecode":99999999999999999999999})", ack),
              Errc::invalid_ack);
}

TEST(AckParser, RejectsMalformedInput) {
    const char* cases[] = {
        "",
        " ",
        "{",
        "}",
        "{}",  // no EventType
        "[]",
        "null",
        R"({"EventType":"persisted"})",  // case matters
        R"({"EventType":"DONE"})",
        R"({"EventType":1})",
        R"({"EventType":"IDLE",})",
        R"({"EventType":"IDLE"}})",
        R"({"EventType":"IDLE"} x)",
        R"({"EventType":"IDLE" "X":1})",
        R"({"EventType" "IDLE"})",
        R"({EventType:"IDLE"})",
        R"({'EventType':'IDLE'})",
        R"({"EventType":"IDLE)",
        R"({"EventType":"IDLE","FragmentTimecode":"12"})",
        R"({"EventType":"IDLE","FragmentTimecode":1.5})",
        R"({"EventType":"IDLE","FragmentTimecode":1e3})",
        R"({"EventType":"IDLE","FragmentTimecode":012})",
        R"({"EventType":"IDLE","FragmentTimecode":-})",
        R"({"EventType":"IDLE","FragmentTimecode":1.})",
        R"({"EventType":"IDLE","FragmentTimecode":})",
        R"({"EventType":"IDLE","FragmentNumber":12})",
        R"({"EventType":"IDLE","ErrorId":4294967296})",
        R"({"EventType":"IDLE","X":{"a":1}})",
        R"({"EventType":"IDLE","X":tru})",
        R"({"EventType":"IDLE","X":"\x"})",
        R"({"EventType":"IDLE","X":"\u12"})",
        R"({"EventType":"IDLE","X":"\ud800"})",
        R"({"EventType":"IDLE","X":"\udc00"})",
        R"({"EventType":"IDLE","X":"\ud800\u0041"})",
        "{\"EventType\":\"IDLE\",\"X\":\"a\nb\"}",  // raw control character in a string
    };
    for (const char* text : cases) {
        FragmentAck ack;
        EXPECT_EQ(parse_ack(text, ack), Errc::invalid_ack) << text;
    }
}

TEST(AckParser, RejectsEveryTruncationOfAValidAck) {
    const std::string full =
        R"({"EventType":"ERROR","FragmentTimecode":1234,"FragmentNumber":"56","ErrorId":5000,"ErrorCode":"INTERNAL_ERROR"})";
    FragmentAck ack;
    ASSERT_FALSE(parse_ack(full, ack));
    for (std::size_t n = 0; n < full.size(); ++n)
        EXPECT_EQ(parse_ack(std::string_view(full).substr(0, n), ack), Errc::invalid_ack) << n;
}

TEST(AckParser, RejectsOversizedMessages) {
    std::string text = R"({"EventType":"IDLE","Pad":")" + std::string(kMaxAckSize, 'x') + "\"}";
    FragmentAck ack;
    EXPECT_EQ(parse_ack(text, ack), Errc::invalid_ack);
}

TEST(AckParser, NulBytesAreNotTerminators) {
    const std::string text("{\"EventType\":\"IDLE\"}\0garbage", 28);
    FragmentAck ack;
    EXPECT_EQ(parse_ack(text, ack), Errc::invalid_ack);
}

}  // namespace
}  // namespace kinema::producer
