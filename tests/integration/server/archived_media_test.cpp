// ListFragments and GetMediaForFragmentList over real loopback sockets, on fragments stored before the server
// started (so the test also covers a restart with data kept).
#include <gtest/gtest.h>

#include <functional>

#include <kinema/media/mkv_reader.h>
#include <kinema/media/mkv_writer.h>
#include <kinema/storage/catalog.h>
#include <kinema/storage/fragment_store.h>

#include "http_client.h"
#include "test_server.h"

namespace kinema::test {
namespace {

using nlohmann::json;

constexpr int kFragments = 5;

// Fragment i's one frame: 500 bytes of i.
std::vector<std::uint8_t> small_payload(int i) {
    return std::vector<std::uint8_t>(500, static_cast<std::uint8_t>(i));
}

// Stores `count` one-second fragments of one frame each (payload_of(i)) in stream `name` of data_dir, as an
// earlier server run would have.
void seed_data_dir(const std::filesystem::path& data_dir, std::vector<std::string>& numbers,
                   const std::string& name = "cam1", int count = kFragments,
                   const std::function<std::vector<std::uint8_t>(int)>& payload_of = small_payload) {
    storage::CatalogError error;
    auto catalog = storage::Catalog::open(data_dir, {}, error);
    ASSERT_TRUE(catalog) << error.message;
    storage::NewStream stream;
    stream.name = name;
    stream.data_retention_hours = 24;
    ASSERT_FALSE(catalog->create_stream(stream));

    auto store = storage::FragmentStore::open(data_dir);
    ASSERT_FALSE(store->open_stream(name, 24));
    media::SegmentHeader header;
    media::TrackInfo track;
    track.codec_id = std::string(media::kCodecH264);
    track.codec_private = {1, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0x00};
    header.tracks.push_back(track);
    std::vector<std::uint8_t> header_bytes;
    media::mkv::write_stream_header(header, header_bytes);
    storage::HeaderId header_id = 0;
    ASSERT_FALSE(store->put_header(name, header_bytes, header_id));
    for (int i = 0; i < count; ++i) {
        std::vector<std::uint8_t> cluster;
        media::mkv::write_cluster_start(1000 * i, cluster);
        ASSERT_FALSE(media::mkv::write_simple_block(1, 0, true, payload_of(i), cluster));
        storage::FragmentMetadata metadata;
        metadata.producer_timestamp = media::Timestamp::from_milliseconds(1'700'000'000'000 + 1000 * i);
        metadata.server_timestamp = media::Timestamp::from_milliseconds(1'700'000'000'500 + 1000 * i);
        metadata.duration = std::chrono::milliseconds(1000);
        metadata.frame_count = 1;
        metadata.track_numbers = {1};
        metadata.key_frame_offsets = {0};
        metadata.header_id = header_id;
        storage::FragmentNumber number = 0;
        ASSERT_FALSE(store->append(name, cluster, metadata, number));
        numbers.push_back(storage::format_fragment_number(number));
    }
    ASSERT_FALSE(store->flush());
}

// An HTTP/1.1 POST as it goes on the wire, for requests that must not reconnect (HttpClient::send_raw).
std::string raw_post(const std::string& target, const std::string& body,
                     const std::string& extra_headers = "") {
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
           extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class ArchivedMediaTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<TestServer>([this](server::ServerConfig& config) {
            // configure runs again on restart(): seed only the first time.
            if (numbers_.empty()) seed_data_dir(config.data_dir, numbers_);
        });
        client_ = std::make_unique<HttpClient>(server_->port());
    }

    std::vector<std::string> numbers_;
    std::unique_ptr<TestServer> server_;
    std::unique_ptr<HttpClient> client_;
};

// The AWS_KINESISVIDEO_FRAGMENT_NUMBER tags of a GetMediaForFragmentList body, in order.
std::vector<std::string> summarize_numbers(const std::string& body) {
    struct Seen : media::MkvReaderHandler {
        void on_tags(const std::vector<media::SimpleTag>& tags, std::uint64_t) override {
            for (const auto& tag : tags)
                if (tag.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER") numbers.push_back(tag.value);
        }
        std::vector<std::string> numbers;
    } seen;
    media::MkvReader reader(seen);
    const std::vector<std::uint8_t> bytes(body.begin(), body.end());
    if (reader.feed(bytes) || reader.finish()) return {"(not MKV)"};
    return seen.numbers;
}

TEST_F(ArchivedMediaTest, ListFragmentsPagesThroughEveryFragmentAndSurvivesARestart) {
    for (int run = 0; run < 2; ++run) {
        std::vector<std::string> seen;
        json request = {
            {"StreamName", "cam1"},
            {"MaxResults", 2},
            {"FragmentSelector",
             {{"FragmentSelectorType", "PRODUCER_TIMESTAMP"},
              {"TimestampRange", {{"StartTimestamp", 1700000000}, {"EndTimestamp", 1700000010.5}}}}}};
        for (int page = 0; page < 5; ++page) {
            auto response = client_->post_json("/listFragments", request);
            ASSERT_EQ(response.status, 200u) << response.body;
            auto body = response.json();
            for (const auto& fragment : body["Fragments"]) {
                seen.push_back(fragment["FragmentNumber"]);
                EXPECT_EQ(fragment["FragmentLengthInMilliseconds"], 1000);
                EXPECT_TRUE(fragment["ProducerTimestamp"].is_number());
            }
            if (!body.contains("NextToken")) break;
            request = {{"StreamName", "cam1"}, {"MaxResults", 2}, {"NextToken", body["NextToken"]}};
        }
        EXPECT_EQ(seen, numbers_);
        server_->restart();
        client_ = std::make_unique<HttpClient>(server_->port());
    }
}

TEST_F(ArchivedMediaTest, ErrorsHaveKvsNamesAndStatuses) {
    auto missing = client_->post_json("/listFragments", {{"StreamName", "nope"}});
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(missing.error_type(), "ResourceNotFoundException");
    auto bad = client_->post_json("/listFragments", {{"StreamName", "cam1"}, {"MaxResults", 5000}});
    EXPECT_EQ(bad.status, 400u);
    EXPECT_EQ(bad.error_type(), "InvalidArgumentException");
    // GetMediaForFragmentList checks the whole list before the streamed body starts: plain error responses.
    struct Case {
        json request;
        unsigned status;
        const char* type;
    };
    const Case cases[] = {
        {{{"StreamName", "cam1"}, {"Fragments", {numbers_[0], "12345"}}}, 404, "ResourceNotFoundException"},
        {{{"StreamName", "nope"}, {"Fragments", {numbers_[0]}}}, 404, "ResourceNotFoundException"},
        {{{"StreamName", "cam1"}, {"Fragments", {numbers_[0], "12x"}}}, 400, "InvalidArgumentException"},
        {{{"StreamName", "cam1"}, {"Fragments", json::array()}}, 400, "InvalidArgumentException"},
        {{{"Fragments", {numbers_[0]}}}, 400, "InvalidArgumentException"},
    };
    for (const auto& c : cases) {
        HttpClient client(server_->port());
        auto response = client.post_json("/getMediaForFragmentList", c.request);
        EXPECT_EQ(response.status, c.status) << c.request.dump();
        EXPECT_EQ(response.error_type(), c.type) << c.request.dump();
        EXPECT_EQ(response.json()["__type"], c.type) << response.body;
    }
}

TEST_F(ArchivedMediaTest, GetMediaForFragmentListReturnsKvsShapedMkv) {
    auto response = client_->post_json("/getMediaForFragmentList",
                                       {{"StreamName", "cam1"}, {"Fragments", {numbers_[3], numbers_[1]}}});
    ASSERT_EQ(response.status, 200u) << response.body;
    EXPECT_EQ(response.header("content-type"), "video/webm");
    struct Seen : media::MkvReaderHandler {
        void on_tags(const std::vector<media::SimpleTag>& tags, std::uint64_t) override {
            for (const auto& tag : tags)
                if (tag.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER") numbers.push_back(tag.value);
        }
        void on_frame(const media::Frame& frame) override { pts.push_back(frame.pts.milliseconds()); }
        std::vector<std::string> numbers;
        std::vector<std::int64_t> pts;
    } seen;
    media::MkvReader reader(seen);
    std::vector<std::uint8_t> bytes(response.body.begin(), response.body.end());
    ASSERT_FALSE(reader.feed(bytes));
    ASSERT_FALSE(reader.finish());
    EXPECT_EQ(seen.numbers, (std::vector<std::string>{numbers_[3], numbers_[1]}));
    // Cluster timecodes are the producer timestamps.
    EXPECT_EQ(seen.pts, (std::vector<std::int64_t>{1'700'000'003'000, 1'700'000'001'000}));
}

// botocore keeps connections in a pool: after GetMediaForFragmentList's body the same connection serves the
// next request, including one the client sent before the body ended (pipelined).
TEST_F(ArchivedMediaTest, GetMediaForFragmentListKeepsTheConnection) {
    const std::string fragments =
        json{{"StreamName", "cam1"}, {"Fragments", {numbers_[0], numbers_[2]}}}.dump();
    const std::string describe = json{{"StreamName", "cam1"}}.dump();
    for (int round = 0; round < 3; ++round) {
        auto media = client_->send_raw(raw_post("/getMediaForFragmentList", fragments));
        ASSERT_EQ(media.status, 200u) << media.body;
        EXPECT_NE(media.header("connection"), "close");
        EXPECT_EQ(summarize_numbers(media.body), (std::vector<std::string>{numbers_[0], numbers_[2]}));
        auto next = client_->send_raw(raw_post("/describeStream", describe));
        ASSERT_EQ(next.status, 200u) << next.body;
        EXPECT_EQ(next.json()["StreamInfo"]["StreamName"], "cam1");
    }
    // Two requests in one write: the second is answered after the first's body, on the same connection.
    auto first = client_->send_raw(raw_post("/getMediaForFragmentList", fragments) +
                                   raw_post("/getMediaForFragmentList", fragments) +
                                   raw_post("/describeStream", describe));
    ASSERT_EQ(first.status, 200u) << first.body;
    auto second = client_->read_response();
    ASSERT_EQ(second.status, 200u) << second.body;
    EXPECT_EQ(summarize_numbers(second.body), (std::vector<std::string>{numbers_[0], numbers_[2]}));
    auto third = client_->read_response();
    ASSERT_EQ(third.status, 200u) << third.body;
    EXPECT_EQ(third.json()["StreamInfo"]["StreamName"], "cam1");
    // A client that asks for the connection to close gets that after the body.
    auto closing =
        client_->send_raw(raw_post("/getMediaForFragmentList", fragments, "Connection: close\r\n"));
    ASSERT_EQ(closing.status, 200u) << closing.body;
    EXPECT_EQ(closing.header("connection"), "close");
    EXPECT_TRUE(client_->server_closed());
}

// Fragment i's one frame: 2,000 + 1,733 i bytes of a pattern that differs per fragment (about 190 KB in all).
std::vector<std::uint8_t> large_payload(int i) {
    std::vector<std::uint8_t> payload(2000 + 1733 * static_cast<std::size_t>(i));
    for (std::size_t k = 0; k < payload.size(); ++k)
        payload[k] = static_cast<std::uint8_t>(k * 7 + static_cast<std::size_t>(i) * 31);
    return payload;
}

// A list far larger than one read batch streams as a chunked body: every fragment once, whole, in the order
// asked, as MKV the kinema reader parses to the end.
TEST(GetMediaForFragmentListStreaming, ListLargerThanABatchArrivesWholeAndInOrder) {
    constexpr int kCount = 15;
    constexpr std::size_t kBatchBytes = 4096;
    std::vector<std::string> numbers;
    TestServer server([&numbers](server::ServerConfig& config) {
        config.archive_batch_bytes = kBatchBytes;
        seed_data_dir(config.data_dir, numbers, "big", kCount, large_payload);
    });
    ASSERT_EQ(numbers.size(), static_cast<std::size_t>(kCount));

    // Newest first, and the oldest asked twice: the order asked is the order sent.
    std::vector<int> order;
    for (int i = kCount - 1; i >= 0; --i)
        order.push_back(i);
    order.push_back(0);
    json list = json::array();
    for (int i : order)
        list.push_back(numbers[static_cast<std::size_t>(i)]);

    HttpClient client(server.port());
    auto response =
        client.post_json("/getMediaForFragmentList", {{"StreamName", "big"}, {"Fragments", list}});
    ASSERT_EQ(response.status, 200u) << response.body;
    EXPECT_EQ(response.header("content-type"), "video/webm");
    EXPECT_EQ(response.header("transfer-encoding"), "chunked");
    EXPECT_GT(response.body.size(), 10 * kBatchBytes);

    struct Seen : media::MkvReaderHandler {
        void on_segment(const media::SegmentHeader&, std::uint64_t) override { ++segments; }
        void on_tags(const std::vector<media::SimpleTag>& tags, std::uint64_t) override {
            for (const auto& tag : tags) {
                if (tag.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER") numbers.push_back(tag.value);
                if (tag.name == "AWS_KINESISVIDEO_ERROR_CODE") errors.push_back(tag.value);
            }
        }
        void on_frame(const media::Frame& frame) override {
            payloads.emplace_back(frame.payload.begin(), frame.payload.end());
        }
        int segments = 0;
        std::vector<std::string> numbers;
        std::vector<std::string> errors;
        std::vector<std::vector<std::uint8_t>> payloads;
    } seen;
    media::MkvReader reader(seen);
    std::vector<std::uint8_t> bytes(response.body.begin(), response.body.end());
    ASSERT_FALSE(reader.feed(bytes));
    ASSERT_FALSE(reader.finish());
    EXPECT_TRUE(seen.errors.empty());
    EXPECT_EQ(seen.segments, static_cast<int>(order.size()));  // each fragment a complete MKV
    ASSERT_EQ(seen.numbers.size(), order.size());
    ASSERT_EQ(seen.payloads.size(), order.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
        EXPECT_EQ(seen.numbers[k], numbers[static_cast<std::size_t>(order[k])]) << k;
        EXPECT_TRUE(seen.payloads[k] == large_payload(order[k])) << "fragment " << order[k] << " at " << k;
    }
    // The connection stays open after the last chunk, for the client's next request.
    EXPECT_NE(response.header("connection"), "close");
    auto again = client.send_raw(raw_post("/listFragments", json{{"StreamName", "big"}}.dump()));
    EXPECT_EQ(again.status, 200u) << again.body;
}

}  // namespace
}  // namespace kinema::test
