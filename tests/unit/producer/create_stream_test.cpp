// create_if_missing: the stream POSTs /createStream (KVS's JSON body) once before its first PutMedia
// session, treats ResourceInUseException (the stream exists) as success, and reports any other failure
// without giving up on PutMedia. Against the fake server's scripted HTTP answers on loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "fake_putmedia_server.h"
#include "kinema/producer.h"

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;
using testing::FakePutMediaServer;
using Bytes = std::vector<std::uint8_t>;

// One fragment of synthetic Annex-B frames (SPS/PPS in band), enough to open a session.
void put_one_fragment(Stream& stream) {
    const Bytes sps_pps = {0,    0,    0,    1,    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb,
                           0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83,
                           0x19, 0x60, 0,    0,    0,    1,    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
    for (int i = 0; i < 5; ++i) {
        Bytes data = i == 0 ? sps_pps : Bytes{};
        data.insert(data.end(), {0, 0, 0, 1, static_cast<std::uint8_t>(i == 0 ? 0x65 : 0x41)});
        data.resize(data.size() + 100, 0x55);
        VideoFrame f;
        f.data = data;
        f.pts = Timestamp::from_milliseconds(1'700'000'000'000 + i * 33);
        f.dts = f.pts;
        f.key = i == 0;
        ASSERT_FALSE(stream.put_frame(f));
    }
}

struct Errors {
    std::mutex mutex;
    std::vector<StreamError> list;
    StreamCallbacks callbacks() {
        StreamCallbacks cb;
        cb.on_error = [this](const StreamError& e) {
            std::lock_guard lock(mutex);
            list.push_back(e);
        };
        return cb;
    }
};

StreamConfig config_for(const FakePutMediaServer& server) {
    StreamConfig c;
    c.endpoint = server.endpoint();
    c.stream_name = "cam-7.front_door";
    c.create_if_missing = true;
    c.retention_hours = 24;
    c.reconnect_min_backoff = 10ms;
    c.reconnect_max_backoff = 100ms;
    return c;
}

struct Answer {
    const char* name;
    int status;
    const char* error_type;
    const char* body;
    bool reported_as_error;
};

class CreateStreamAnswers : public ::testing::TestWithParam<Answer> {};

TEST_P(CreateStreamAnswers, CreatesOnceThenStreams) {
    const Answer& answer = GetParam();
    FakePutMediaServer server;
    server.set_http_response(answer.status, answer.body, answer.error_type);
    Errors errors;
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server), errors.callbacks());
    put_one_fragment(stream);
    const StopReport report = stream.stop(20s);

    // PutMedia went ahead in every case (a real server reports a missing stream itself).
    EXPECT_TRUE(report.all_acknowledged);
    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0].stream_name, "cam-7.front_door");

    const auto requests = server.http_requests();
    ASSERT_EQ(requests.size(), 1u);  // once, not per session
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].path, "/createStream");
    EXPECT_EQ(requests[0].content_type, "application/json");
    const auto body = nlohmann::json::parse(requests[0].body);
    EXPECT_EQ(body.at("StreamName"), "cam-7.front_door");
    EXPECT_EQ(body.at("DataRetentionInHours"), 24);
    EXPECT_EQ(body.at("MediaType"), "video/h264");
    EXPECT_FALSE(body.contains("Tags"));  // none configured

    std::lock_guard lock(errors.mutex);
    if (!answer.reported_as_error) {
        EXPECT_TRUE(errors.list.empty()) << errors.list.front().message;
        return;
    }
    ASSERT_EQ(errors.list.size(), 1u);
    EXPECT_EQ(errors.list[0].code, Errc::create_stream_failed);
    EXPECT_NE(errors.list[0].message.find(std::to_string(answer.status)), std::string::npos)
        << errors.list[0].message;
    EXPECT_NE(errors.list[0].message.find(answer.error_type), std::string::npos) << errors.list[0].message;
}

INSTANTIATE_TEST_SUITE_P(
    Kvs, CreateStreamAnswers,
    ::testing::Values(
        Answer{"Created", 200, "", R"({"StreamARN":"arn:aws:kinesisvideo:us-west-2:1:stream/cam/1"})", false},
        Answer{"AlreadyExists", 400, "ResourceInUseException",
               R"({"__type":"ResourceInUseException","Message":"The stream cam-7.front_door exists"})",
               false},
        Answer{"AlreadyExistsHeaderOnly", 400, "ResourceInUseException", "{}", false},
        Answer{"InvalidArgument", 400, "InvalidArgumentException",
               R"({"__type":"InvalidArgumentException","Message":"DataRetentionInHours"})", true},
        Answer{"ServerFault", 500, "InternalFailure", R"({"__type":"InternalFailure","Message":"boom"})",
               true}),
    [](const ::testing::TestParamInfo<Answer>& param) { return std::string(param.param.name); });

TEST(CreateStream, BodyCarriesRetentionAndEscapedTags) {
    FakePutMediaServer server;
    StreamConfig config = config_for(server);
    config.retention_hours = 0;
    config.stream_tags = {{"owner", "Zoë \"the\" \\admin"}, {"note", "line1\nline2\ttab"}, {"empty", ""}};
    Producer producer;
    Stream& stream = producer.add_stream(config);
    put_one_fragment(stream);
    EXPECT_TRUE(stream.stop(20s).all_acknowledged);

    const auto requests = server.http_requests();
    ASSERT_EQ(requests.size(), 1u);
    const auto body = nlohmann::json::parse(requests[0].body);
    EXPECT_EQ(body.at("DataRetentionInHours"), 0);
    const nlohmann::json expected_tags = {
        {"owner", "Zoë \"the\" \\admin"}, {"note", "line1\nline2\ttab"}, {"empty", ""}};
    EXPECT_EQ(body.at("Tags"), expected_tags);
}

TEST(CreateStream, NotRequestedWithoutCreateIfMissing) {
    FakePutMediaServer server;
    StreamConfig config = config_for(server);
    config.create_if_missing = false;
    Producer producer;
    Stream& stream = producer.add_stream(config);
    put_one_fragment(stream);
    EXPECT_TRUE(stream.stop(20s).all_acknowledged);
    EXPECT_TRUE(server.http_requests().empty());
    EXPECT_EQ(server.sessions().size(), 1u);
}

}  // namespace
}  // namespace kinema::producer
