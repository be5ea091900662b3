#include "ack.h"

#include <gtest/gtest.h>

namespace kinema::server {
namespace {

TEST(Ack, SerialisesExactlyAsKvs) {
    struct Case {
        Ack ack;
        std::string json;
    };
    const Case cases[] = {
        {{AckEventType::buffering, 1234, "", std::nullopt},
         R"({"EventType":"BUFFERING","FragmentTimecode":1234,"FragmentNumber":""})"},
        {{AckEventType::received, 0, "00000000000000000042", std::nullopt},
         R"({"EventType":"RECEIVED","FragmentTimecode":0,"FragmentNumber":"00000000000000000042"})"},
        {{AckEventType::persisted, 1700000000123, "17", std::nullopt},
         R"({"EventType":"PERSISTED","FragmentTimecode":1700000000123,"FragmentNumber":"17"})"},
        {{AckEventType::idle, 5, "9", std::nullopt},
         R"({"EventType":"IDLE","FragmentTimecode":5,"FragmentNumber":"9"})"},
        {{AckEventType::error, 77, "", AckError::fragment_timecode_lesser_than_previous},
         R"({"EventType":"ERROR","FragmentTimecode":77,"FragmentNumber":"","ErrorId":4004,)"
         R"("ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"})"},
        {{AckEventType::error, 0, "", AckError::archival_error},
         R"({"EventType":"ERROR","FragmentTimecode":0,"FragmentNumber":"","ErrorId":5001,)"
         R"("ErrorCode":"ARCHIVAL_ERROR"})"},
        {{AckEventType::received, -40, "12", std::nullopt},
         R"({"EventType":"RECEIVED","FragmentTimecode":-40,"FragmentNumber":"12"})"},
        {{AckEventType::buffering, 9223372036854775807, "", std::nullopt},
         R"({"EventType":"BUFFERING","FragmentTimecode":9223372036854775807,"FragmentNumber":""})"},
        // Fragment numbers are digits; anything else is escaped as JSON requires.
        {{AckEventType::persisted, 1, "a\"b\\c\n", std::nullopt},
         R"({"EventType":"PERSISTED","FragmentTimecode":1,"FragmentNumber":"a\"b\\c\n"})"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(to_json(c.ack), c.json);
        auto parsed = parse_ack(c.json);
        ASSERT_TRUE(parsed) << c.json;
        EXPECT_EQ(*parsed, c.ack) << c.json;
    }
}

TEST(Ack, ErrorTableMatchesKvsIds) {
    struct Case {
        int id;
        const char* name;
    };
    const Case cases[] = {
        {4000, "STREAM_READ_ERROR"},
        {4001, "MAX_FRAGMENT_SIZE_REACHED"},
        {4002, "MAX_FRAGMENT_DURATION_REACHED"},
        {4003, "MAX_CONNECTION_DURATION_REACHED"},
        {4004, "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"},
        {4005, "MORE_THAN_ONE_TRACK_FOUND"},
        {4006, "INVALID_MKV_DATA"},
        {4007, "INVALID_PRODUCER_TIMESTAMP"},
        {4008, "STREAM_NOT_ACTIVE"},
        {4009, "FRAGMENT_METADATA_LIMIT_REACHED"},
        {4010, "TRACK_NUMBER_MISMATCH"},
        {4011, "FRAMES_MISSING_FOR_TRACK"},
        {4012, "MORE_THAN_ALLOWED_TRACKS_FOUND"},
        {5000, "INTERNAL_ERROR"},
        {5001, "ARCHIVAL_ERROR"},
    };
    for (const auto& c : cases) {
        auto error = ack_error_from_id(c.id);
        ASSERT_TRUE(error) << c.id;
        EXPECT_STREQ(ack_error_name(*error), c.name);
        std::error_code code = *error;
        EXPECT_EQ(code.value(), c.id);
        EXPECT_EQ(code.message(), c.name);
    }
    for (int unknown : {0, 3999, 4013, 4999, 5002})
        EXPECT_FALSE(ack_error_from_id(unknown)) << unknown;
}

TEST(Ack, ParseRejectsWhatIsNotAnAck) {
    const char* cases[] = {
        "",
        "[]",
        "{}",
        R"({"EventType":"SOMETHING"})",
        R"({"EventType":"BUFFERING","FragmentTimecode":"12"})",
        R"({"EventType":"BUFFERING","FragmentNumber":12})",
        R"({"EventType":"ERROR","FragmentTimecode":1})",
        R"({"EventType":"ERROR","FragmentTimecode":1,"ErrorId":1234})",
        R"({"EventType":"PERSISTED")",
    };
    for (const char* text : cases)
        EXPECT_FALSE(parse_ack(text)) << text;
}

}  // namespace
}  // namespace kinema::server
