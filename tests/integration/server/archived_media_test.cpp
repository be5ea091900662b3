// ListFragments and GetMediaForFragmentList over real loopback sockets, on fragments stored before the server
// started (so the test also covers a restart with data kept).
#include <gtest/gtest.h>

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

// Stores kFragments one-second fragments in stream cam1 of data_dir, as an earlier server run would have.
void seed_data_dir(const std::filesystem::path& data_dir, std::vector<std::string>& numbers) {
    storage::CatalogError error;
    auto catalog = storage::Catalog::open(data_dir, {}, error);
    ASSERT_TRUE(catalog) << error.message;
    storage::NewStream stream;
    stream.name = "cam1";
    stream.data_retention_hours = 24;
    ASSERT_FALSE(catalog->create_stream(stream));

    auto store = storage::FragmentStore::open(data_dir);
    ASSERT_FALSE(store->open_stream("cam1", 24));
    media::SegmentHeader header;
    media::TrackInfo track;
    track.codec_id = std::string(media::kCodecH264);
    track.codec_private = {1, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0x00};
    header.tracks.push_back(track);
    std::vector<std::uint8_t> header_bytes;
    media::mkv::write_stream_header(header, header_bytes);
    storage::HeaderId header_id = 0;
    ASSERT_FALSE(store->put_header("cam1", header_bytes, header_id));
    for (int i = 0; i < kFragments; ++i) {
        std::vector<std::uint8_t> cluster;
        media::mkv::write_cluster_start(1000 * i, cluster);
        std::vector<std::uint8_t> payload(500, static_cast<std::uint8_t>(i));
        ASSERT_FALSE(media::mkv::write_simple_block(1, 0, true, payload, cluster));
        storage::FragmentMetadata metadata;
        metadata.producer_timestamp = media::Timestamp::from_milliseconds(1'700'000'000'000 + 1000 * i);
        metadata.server_timestamp = media::Timestamp::from_milliseconds(1'700'000'000'500 + 1000 * i);
        metadata.duration = std::chrono::milliseconds(1000);
        metadata.frame_count = 1;
        metadata.track_numbers = {1};
        metadata.key_frame_offsets = {0};
        metadata.header_id = header_id;
        storage::FragmentNumber number = 0;
        ASSERT_FALSE(store->append("cam1", cluster, metadata, number));
        numbers.push_back(storage::format_fragment_number(number));
    }
    ASSERT_FALSE(store->flush());
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
    auto unknown_fragment =
        client_->post_json("/getMediaForFragmentList", {{"StreamName", "cam1"}, {"Fragments", {"12345"}}});
    EXPECT_EQ(unknown_fragment.status, 404u);
    EXPECT_EQ(unknown_fragment.error_type(), "ResourceNotFoundException");
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

}  // namespace
}  // namespace kinema::test
