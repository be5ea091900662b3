// The KVS control plane over real loopback sockets: every operation, its errors, paging, limits, restart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http_client.h"
#include "test_server.h"

namespace kinema::test {
namespace {

using nlohmann::json;

class ControlPlaneTest : public ::testing::Test {
protected:
    json ok(const std::string& op, const json& body) {
        const auto r = client_->post_json(op, body);
        EXPECT_EQ(r.status, 200u) << op << " " << body.dump() << " -> " << r.body;
        EXPECT_EQ(r.error_type(), "") << op;
        return r.json();
    }

    // Asserts KVS's error shape: status, x-amzn-ErrorType and the same name in __type, and a message.
    void expect_error(const HttpResponse& r, unsigned status, const std::string& type,
                      const std::string& context) {
        EXPECT_EQ(r.status, status) << context << " -> " << r.body;
        EXPECT_EQ(r.error_type(), type) << context;
        const auto body = r.json();
        ASSERT_TRUE(body.is_object()) << context << ": " << r.body;
        EXPECT_EQ(body.value("__type", ""), type) << context;
        EXPECT_FALSE(body.value("Message", "").empty()) << context;
    }

    std::string create(const std::string& name, json extra = json::object()) {
        extra["StreamName"] = name;
        return ok("/createStream", extra)["StreamARN"].get<std::string>();
    }

    json describe(const std::string& name) {
        return ok("/describeStream", {{"StreamName", name}})["StreamInfo"];
    }

    TestServer server_;
    std::unique_ptr<HttpClient> client_ = std::make_unique<HttpClient>(server_.port());
};

TEST_F(ControlPlaneTest, CreateThenDescribeByNameAndArn) {
    const auto arn = create("cam1", {{"DataRetentionInHours", 24},
                                     {"MediaType", "video/h264"},
                                     {"DeviceName", "porch"},
                                     {"Tags", {{"site", "home"}}}});
    EXPECT_EQ(arn.rfind("arn:aws:kinesisvideo:us-west-2:000000000000:stream/cam1/", 0), 0u) << arn;

    const auto info = describe("cam1");
    EXPECT_EQ(info["StreamName"], "cam1");
    EXPECT_EQ(info["StreamARN"], arn);
    EXPECT_EQ(info["Status"], "ACTIVE");
    EXPECT_EQ(info["MediaType"], "video/h264");
    EXPECT_EQ(info["DeviceName"], "porch");
    EXPECT_EQ(info["DataRetentionInHours"], 24);
    ASSERT_TRUE(info["CreationTime"].is_number());
    // The ARN ends with the creation time in milliseconds; CreationTime is the same instant in seconds.
    const auto millis = std::stoll(arn.substr(arn.rfind('/') + 1));
    EXPECT_NEAR(info["CreationTime"].get<double>(), static_cast<double>(millis) / 1000.0, 0.0011);
    EXPECT_TRUE(info["Version"].is_string());

    EXPECT_EQ(ok("/describeStream", {{"StreamARN", arn}})["StreamInfo"]["StreamName"], "cam1");
}

TEST_F(ControlPlaneTest, DuplicateCreateIsResourceInUse) {
    create("cam1");
    expect_error(client_->post_json("/createStream", {{"StreamName", "cam1"}}), 400, "ResourceInUseException",
                 "duplicate");
}

TEST_F(ControlPlaneTest, UnknownStreamIsResourceNotFoundEverywhere) {
    const std::vector<std::pair<std::string, json>> cases = {
        {"/describeStream", {{"StreamName", "ghost"}}},
        {"/deleteStream", {{"StreamARN", "arn:aws:kinesisvideo:us-west-2:000000000000:stream/ghost/1"}}},
        {"/updateStream", {{"StreamName", "ghost"}, {"CurrentVersion", "1"}}},
        {"/updateDataRetention",
         {{"StreamName", "ghost"},
          {"CurrentVersion", "1"},
          {"Operation", "INCREASE_DATA_RETENTION"},
          {"DataRetentionChangeInHours", 1}}},
        {"/getDataEndpoint", {{"StreamName", "ghost"}, {"APIName", "PUT_MEDIA"}}},
        {"/tagStream", {{"StreamName", "ghost"}, {"Tags", {{"a", "b"}}}}},
        {"/untagStream", {{"StreamName", "ghost"}, {"TagKeyList", {"a"}}}},
        {"/listTagsForStream", {{"StreamName", "ghost"}}},
    };
    for (const auto& [op, body] : cases)
        expect_error(client_->post_json(op, body), 404, "ResourceNotFoundException", op);
}

struct BadRequest {
    const char* op;
    std::string body;
    unsigned status;
    const char* type;
};

TEST_F(ControlPlaneTest, InvalidRequestsAreInvalidArgument) {
    create("cam1");
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    const std::string deep_object =
        "{\"StreamName\":\"x\",\"Tags\":" + std::string(40, '[') + std::string(40, ']') + "}";
    const std::vector<BadRequest> cases = {
        {"/createStream", "not json", 400, "InvalidArgumentException"},
        {"/createStream", "{\"StreamName\":", 400, "InvalidArgumentException"},
        {"/createStream", "[]", 400, "InvalidArgumentException"},
        {"/createStream", "\"cam\"", 400, "InvalidArgumentException"},
        {"/createStream", "{}", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":null})", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":5})", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"a/b"})", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":""})", 400, "InvalidArgumentException"},
        {"/createStream", "{\"StreamName\":\"" + std::string(257, 'a') + "\"}", 400,
         "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"x","DataRetentionInHours":"24"})", 400,
         "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"x","DataRetentionInHours":1.5})", 400,
         "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"x","DataRetentionInHours":-1})", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"x","Tags":["a"]})", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"x","Tags":{"a":1}})", 400, "InvalidArgumentException"},
        {"/createStream", R"({"StreamName":"x","MediaType":"h264"})", 400, "InvalidArgumentException"},
        {"/createStream", deep, 400, "InvalidArgumentException"},
        {"/createStream", deep_object, 400, "InvalidArgumentException"},
        {"/describeStream", "{}", 400, "InvalidArgumentException"},
        {"/describeStream", R"({"StreamName":["cam1"]})", 400, "InvalidArgumentException"},
        {"/listStreams", R"({"MaxResults":0})", 400, "InvalidArgumentException"},
        {"/listStreams", R"({"MaxResults":10001})", 400, "InvalidArgumentException"},
        {"/listStreams", R"({"MaxResults":"5"})", 400, "InvalidArgumentException"},
        {"/listStreams", R"({"NextToken":"zz"})", 400, "InvalidArgumentException"},
        {"/listStreams", R"({"StreamNameCondition":"cam"})", 400, "InvalidArgumentException"},
        {"/listStreams",
         R"({"StreamNameCondition":{"ComparisonOperator":"ENDS_WITH","ComparisonValue":"c"}})", 400,
         "InvalidArgumentException"},
        {"/listStreams", R"({"StreamNameCondition":{"ComparisonValue":7}})", 400, "InvalidArgumentException"},
        {"/deleteStream", R"({"StreamName":"cam1"})", 400, "InvalidArgumentException"},
        {"/updateStream", R"({"StreamName":"cam1"})", 400, "InvalidArgumentException"},
        {"/updateDataRetention",
         R"({"StreamName":"cam1","CurrentVersion":"v","DataRetentionChangeInHours":1})", 400,
         "InvalidArgumentException"},
        {"/updateDataRetention",
         R"({"StreamName":"cam1","CurrentVersion":"v","Operation":"DOUBLE","DataRetentionChangeInHours":1})",
         400, "InvalidArgumentException"},
        {"/getDataEndpoint", R"({"StreamName":"cam1"})", 400, "InvalidArgumentException"},
        {"/getDataEndpoint", R"({"StreamName":"cam1","APIName":"GET_EVERYTHING"})", 400,
         "InvalidArgumentException"},
        {"/tagStream", R"({"StreamName":"cam1"})", 400, "InvalidArgumentException"},
        {"/tagStream", R"({"StreamName":"cam1","Tags":{}})", 400, "InvalidArgumentException"},
        {"/tagStream", "{\"StreamName\":\"cam1\",\"Tags\":{\"" + std::string(129, 'k') + "\":\"v\"}}", 400,
         "InvalidArgumentException"},
        {"/untagStream", R"({"StreamName":"cam1","TagKeyList":"a"})", 400, "InvalidArgumentException"},
        {"/untagStream", R"({"StreamName":"cam1","TagKeyList":[1]})", 400, "InvalidArgumentException"},
        {"/untagStream", R"({"StreamName":"cam1"})", 400, "InvalidArgumentException"},
    };
    for (const auto& c : cases)
        expect_error(client_->post(c.op, c.body), c.status, c.type, std::string(c.op) + " " + c.body);
    // None of that created anything.
    const auto list = ok("/listStreams", json::object());
    EXPECT_EQ(list["StreamInfoList"].size(), 1u);
}

TEST_F(ControlPlaneTest, UnknownFieldsAreIgnored) {
    create("cam1", {{"SomethingNew", {{"nested", true}}}, {"Another", 5}});
    EXPECT_EQ(ok("/describeStream", {{"StreamName", "cam1"}, {"Extra", "x"}})["StreamInfo"]["StreamName"],
              "cam1");
}

TEST_F(ControlPlaneTest, ListStreamsPagesThroughAPrefix) {
    for (int i = 0; i < 7; ++i)
        create("cam-" + std::to_string(i));
    create("door");
    std::vector<std::string> names;
    json request = {
        {"MaxResults", 3},
        {"StreamNameCondition", {{"ComparisonOperator", "BEGINS_WITH"}, {"ComparisonValue", "cam-"}}}};
    int pages = 0;
    while (true) {
        const auto page = ok("/listStreams", request);
        ++pages;
        ASSERT_LE(page["StreamInfoList"].size(), 3u);
        for (const auto& s : page["StreamInfoList"])
            names.push_back(s["StreamName"]);
        if (!page.contains("NextToken")) break;
        request["NextToken"] = page["NextToken"];
        ASSERT_LT(pages, 10);
    }
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(names,
              (std::vector<std::string>{"cam-0", "cam-1", "cam-2", "cam-3", "cam-4", "cam-5", "cam-6"}));
    EXPECT_EQ(ok("/listStreams", json::object())["StreamInfoList"].size(), 8u);
    // An empty body is an empty request, as some SDKs send it.
    const auto r = client_->post("/listStreams", "");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.json()["StreamInfoList"].size(), 8u);
}

TEST_F(ControlPlaneTest, UpdateStreamChecksVersion) {
    create("cam1", {{"MediaType", "video/h264"}});
    const auto v1 = describe("cam1")["Version"].get<std::string>();
    ok("/updateStream", {{"StreamName", "cam1"}, {"CurrentVersion", v1}, {"MediaType", "video/h265"}});
    const auto after = describe("cam1");
    EXPECT_EQ(after["MediaType"], "video/h265");
    EXPECT_NE(after["Version"], v1);
    expect_error(client_->post_json("/updateStream",
                                    {{"StreamName", "cam1"}, {"CurrentVersion", v1}, {"DeviceName", "x"}}),
                 400, "VersionMismatchException", "stale update");
    EXPECT_FALSE(describe("cam1").contains("DeviceName"));
}

TEST_F(ControlPlaneTest, UpdateDataRetentionIncreasesAndDecreases) {
    create("cam1", {{"DataRetentionInHours", 10}});
    auto change = [&](const char* operation, int hours) {
        return client_->post_json("/updateDataRetention", {{"StreamName", "cam1"},
                                                           {"CurrentVersion", describe("cam1")["Version"]},
                                                           {"Operation", operation},
                                                           {"DataRetentionChangeInHours", hours}});
    };
    EXPECT_EQ(change("INCREASE_DATA_RETENTION", 5).status, 200u);
    EXPECT_EQ(describe("cam1")["DataRetentionInHours"], 15);
    EXPECT_EQ(change("DECREASE_DATA_RETENTION", 15).status, 200u);
    EXPECT_EQ(describe("cam1")["DataRetentionInHours"], 0);
    expect_error(change("DECREASE_DATA_RETENTION", 1), 400, "InvalidArgumentException", "below zero");
    expect_error(client_->post_json("/updateDataRetention", {{"StreamName", "cam1"},
                                                             {"CurrentVersion", "stale"},
                                                             {"Operation", "INCREASE_DATA_RETENTION"},
                                                             {"DataRetentionChangeInHours", 1}}),
                 400, "VersionMismatchException", "stale retention");
}

TEST_F(ControlPlaneTest, TagUntagListAndTheFiftyTagLimit) {
    const auto arn = create("cam1", {{"Tags", {{"a", "1"}}}});
    ok("/tagStream", {{"StreamARN", arn}, {"Tags", {{"b", "2"}, {"a", "3"}}}});
    EXPECT_EQ(ok("/listTagsForStream", {{"StreamName", "cam1"}})["Tags"], (json{{"a", "3"}, {"b", "2"}}));
    ok("/untagStream", {{"StreamName", "cam1"}, {"TagKeyList", {"a"}}});
    EXPECT_EQ(ok("/listTagsForStream", {{"StreamARN", arn}})["Tags"], (json{{"b", "2"}}));

    json many = json::object();
    for (int i = 0; i < 50; ++i)
        many["k" + std::to_string(i)] = "v";
    expect_error(client_->post_json("/tagStream", {{"StreamName", "cam1"}, {"Tags", many}}), 400,
                 "TagsPerResourceExceededLimitException", "51 tags");
    EXPECT_EQ(ok("/listTagsForStream", {{"StreamName", "cam1"}})["Tags"].size(), 1u);
    many["k50"] = "v";
    expect_error(client_->post_json("/createStream", {{"StreamName", "cam2"}, {"Tags", many}}), 400,
                 "TagsPerResourceExceededLimitException", "create with 51 tags");
}

TEST_F(ControlPlaneTest, GetDataEndpointIsThisServerForEveryApi) {
    create("cam1");
    for (const char* api :
         {"PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
          "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES"}) {
        EXPECT_EQ(ok("/getDataEndpoint", {{"StreamName", "cam1"}, {"APIName", api}})["DataEndpoint"],
                  server_.url())
            << api;
    }
}

TEST(ControlPlanePublicUrl, GetDataEndpointReturnsTheConfiguredPublicUrl) {
    TestServer server([](server::ServerConfig& c) { c.public_url = "https://video.example.com"; });
    HttpClient client(server.port());
    ASSERT_EQ(client.post_json("/createStream", {{"StreamName", "cam1"}}).status, 200u);
    const auto r = client.post_json("/getDataEndpoint", {{"StreamName", "cam1"}, {"APIName", "GET_MEDIA"}});
    EXPECT_EQ(r.json()["DataEndpoint"], "https://video.example.com");
}

TEST_F(ControlPlaneTest, DeleteStreamByArnWithVersionCheck) {
    const auto arn = create("cam1");
    expect_error(client_->post_json("/deleteStream", {{"StreamARN", arn}, {"CurrentVersion", "stale"}}), 400,
                 "VersionMismatchException", "stale delete");
    ok("/deleteStream", {{"StreamARN", arn}, {"CurrentVersion", describe("cam1")["Version"]}});
    expect_error(client_->post_json("/describeStream", {{"StreamName", "cam1"}}), 404,
                 "ResourceNotFoundException", "after delete");
    expect_error(client_->post_json("/deleteStream", {{"StreamARN", arn}}), 404, "ResourceNotFoundException",
                 "second delete");
    EXPECT_NE(create("cam1"), arn);  // the name is free again
}

TEST_F(ControlPlaneTest, RoutingErrors) {
    expect_error(client_->post("/noSuchOperation", "{}"), 404, "UnknownOperationException", "unknown");
    expect_error(client_->post("/CreateStream", "{}"), 404, "UnknownOperationException", "case matters");
    const auto wrong_method = client_->request("GET", "/createStream");
    expect_error(wrong_method, 405, "MethodNotAllowedException", "GET createStream");
    EXPECT_EQ(wrong_method.header("allow"), "POST");
}

TEST_F(ControlPlaneTest, MediaApisCheckTheirRequestsBeforeStreaming) {
    // PutMedia without its headers, GetMedia without a StartSelector or for a stream that does not exist.
    // Each answer closes the connection (a PutMedia body is never read), so each gets its own client.
    expect_error(HttpClient(server_.port()).post("/putMedia", "{}"), 400, "InvalidArgumentException",
                 "putMedia");
    expect_error(HttpClient(server_.port()).post("/getMedia", "{\"StreamName\":\"cam1\"}"), 400,
                 "InvalidArgumentException", "getMedia without StartSelector");
    expect_error(HttpClient(server_.port())
                     .post_json("/getMedia",
                                {{"StreamName", "nope"}, {"StartSelector", {{"StartSelectorType", "NOW"}}}}),
                 404, "ResourceNotFoundException", "getMedia of an unknown stream");
    const auto upgrade = HttpClient(server_.port())
                             .request("GET", "/putMedia?StreamName=nope&FragmentTimecodeType=ABSOLUTE", {},
                                      {{"Connection", "Upgrade"},
                                       {"Upgrade", "websocket"},
                                       {"Sec-WebSocket-Version", "13"},
                                       {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
    expect_error(upgrade, 404, "ResourceNotFoundException", "websocket putMedia of an unknown stream");
    expect_error(HttpClient(server_.port()).request("GET", "/getMedia?StreamName=nope"), 400,
                 "InvalidArgumentException", "getMedia GET without an upgrade");
}

TEST_F(ControlPlaneTest, OversizedBodyIs413AndClosesTheConnection) {
    TestServer small([](server::ServerConfig& c) { c.max_body_bytes = 4096; });
    HttpClient client(small.port());
    const auto r = client.post("/createStream", std::string(5000, ' '));
    expect_error(r, 413, "InvalidArgumentException", "5000-byte body");
    EXPECT_TRUE(client.server_closed());
    // Chunked bodies have no Content-Length to check up front; the parser's limit still applies.
    HttpClient chunked(small.port());
    const std::string chunk(3000, ' ');
    char size[16];
    std::snprintf(size, sizeof size, "%zx", chunk.size());
    const auto r2 = chunked.send_raw(
        "POST /createStream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) +
        "\r\n" + chunk + "\r\n" + std::string(size) + "\r\n" + chunk + "\r\n0\r\n\r\n");
    expect_error(r2, 413, "InvalidArgumentException", "chunked 6000 bytes");
}

TEST_F(ControlPlaneTest, MalformedHttpIs400) {
    HttpClient raw(server_.port());
    const auto r = raw.send_raw("POST /createStream HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    expect_error(r, 400, "InvalidArgumentException", "bad content-length");
    EXPECT_TRUE(raw.server_closed());
}

TEST_F(ControlPlaneTest, ExpectContinueIsHonoured) {
    HttpClient raw(server_.port());
    const std::string body = R"({"StreamName":"cam1"})";
    // The 100 Continue interim response arrives first; the client reads past it to the final one.
    const auto interim = raw.send_raw(
        "POST /createStream HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n");
    EXPECT_EQ(interim.status, 100u);
    const auto final_response = raw.send_raw(body);
    EXPECT_EQ(final_response.status, 200u) << final_response.body;
    EXPECT_EQ(describe("cam1")["StreamName"], "cam1");
}

TEST_F(ControlPlaneTest, KeepAliveServesManyRequestsOnOneConnection) {
    for (int i = 0; i < 20; ++i)
        create("s" + std::to_string(i));
    EXPECT_EQ(ok("/listStreams", json::object())["StreamInfoList"].size(), 20u);
    const auto metrics = client_->request("GET", "/metrics").body;
    EXPECT_NE(metrics.find("kinema_http_connections_total 1\n"), std::string::npos) << metrics;
}

TEST_F(ControlPlaneTest, HealthzAndMetrics) {
    const auto health = client_->request("GET", "/healthz");
    EXPECT_EQ(health.status, 200u);
    EXPECT_EQ(health.body, "ok\n");

    create("cam1");
    client_->post_json("/describeStream", {{"StreamName", "ghost"}});
    const auto metrics = client_->request("GET", "/metrics");
    EXPECT_EQ(metrics.status, 200u);
    EXPECT_EQ(metrics.header("content-type").rfind("text/plain", 0), 0u);
    EXPECT_NE(metrics.body.find(R"(kinema_http_requests_total{code="200",operation="CreateStream"} 1)"),
              std::string::npos)
        << metrics.body;
    EXPECT_NE(metrics.body.find(R"(kinema_http_requests_total{code="404",operation="DescribeStream"} 1)"),
              std::string::npos);
    EXPECT_NE(metrics.body.find(R"(kinema_http_request_duration_seconds_count{operation="CreateStream"} 1)"),
              std::string::npos);
}

TEST_F(ControlPlaneTest, ResponsesCarryARequestId) {
    const auto a = client_->post_json("/listStreams", json::object());
    const auto b = client_->post_json("/listStreams", json::object());
    EXPECT_FALSE(a.header("x-amzn-requestid").empty());
    EXPECT_NE(a.header("x-amzn-requestid"), b.header("x-amzn-requestid"));
}

TEST_F(ControlPlaneTest, RestartKeepsStreamsAndTags) {
    const auto arn = create("cam1", {{"Tags", {{"k", "v"}}}, {"DataRetentionInHours", 5}});
    const auto before = describe("cam1");
    client_.reset();
    server_.restart();
    client_ = std::make_unique<HttpClient>(server_.port());
    const auto after = describe("cam1");
    EXPECT_EQ(after, before);
    EXPECT_EQ(ok("/listTagsForStream", {{"StreamARN", arn}})["Tags"], (json{{"k", "v"}}));
}

TEST(ControlPlaneStop, StopClosesIdleConnectionsAndRefusesNewOnes) {
    TestServer server;
    HttpClient idle(server.port());
    ASSERT_EQ(idle.request("GET", "/healthz").status, 200u);
    const auto port = server.port();
    server.stop();  // returns once the idle keep-alive connection is closed (or after drain_timeout)
    EXPECT_TRUE(idle.server_closed());
    EXPECT_THROW(HttpClient{port}, std::exception);
}

}  // namespace
}  // namespace kinema::test
