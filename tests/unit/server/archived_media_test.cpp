#include "archived_media.h"

#include <gtest/gtest.h>

#include <kinema/media/mkv_reader.h>
#include <kinema/storage/error.h>

#include "store_fixture.h"

namespace kinema::server {
namespace {

using test::ClusterSpec;

StreamResolver only_cam1() {
    return [](const std::string& name, const std::string& arn, ResolvedStream& stream) -> MediaApiError {
        if (name == "cam1" || arn == "arn:aws:kinesisvideo:us-west-2:000000000000:stream/cam1/1") {
            stream = {"cam1", "cam1"};
            return {};
        }
        return not_found_error("stream " + name + arn + " not found");
    };
}

class ArchivedMediaTest : public test::StoreFixture {
protected:
    void SetUp() override {
        StoreFixture::SetUp();
        for (int i = 0; i < 25; ++i)
            specs_.push_back({10'000 + 1000 * i, 2, 500});
        numbers_ = append(test::make_stream(specs_), specs_, 1'700'000'000'000, 1'800'000'000'000);
    }

    nlohmann::json list(const std::string& body, MediaApiError* error_out = nullptr) {
        nlohmann::json request;
        EXPECT_FALSE(parse_request_body(body, request)) << body;
        nlohmann::json response;
        auto error = list_fragments(*store_, only_cam1(), request, response);
        if (error_out != nullptr) {
            *error_out = error;
        } else {
            EXPECT_FALSE(error) << error.type << ": " << error.message;
        }
        return response;
    }

    std::vector<ClusterSpec> specs_;
    std::vector<storage::FragmentNumber> numbers_;
};

TEST_F(ArchivedMediaTest, ListFragmentsReturnsKvsShapedFragmentsInTheRange) {
    auto response =
        list(R"({"StreamName":"cam1","FragmentSelector":{"FragmentSelectorType":"PRODUCER_TIMESTAMP",
        "TimestampRange":{"StartTimestamp":1700000012.0,"EndTimestamp":1700000014.0}}})");
    ASSERT_EQ(response["Fragments"].size(), 3u);
    EXPECT_FALSE(response.contains("NextToken"));
    const auto& first = response["Fragments"][0];
    EXPECT_EQ(first["FragmentNumber"], storage::format_fragment_number(numbers_[2]));
    EXPECT_EQ(first["FragmentLengthInMilliseconds"], 1000);
    EXPECT_EQ(first["FragmentSizeInBytes"], test::make_stream(specs_).clusters[2].size());
    // Epoch seconds with milliseconds, printed as such.
    EXPECT_EQ(first["ProducerTimestamp"].dump(), "1700000012.0");
    EXPECT_EQ(first["ServerTimestamp"].dump(), "1800000002.0");

    response = list(R"({"StreamName":"cam1","FragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP",
        "TimestampRange":{"StartTimestamp":1800000000.5,"EndTimestamp":"1800000001.000"}}})");
    ASSERT_EQ(response["Fragments"].size(), 1u);
    EXPECT_EQ(response["Fragments"][0]["FragmentNumber"], storage::format_fragment_number(numbers_[1]));
}

TEST_F(ArchivedMediaTest, ListFragmentsPagesWithNextTokenAlone) {
    std::vector<std::string> seen;
    std::string body =
        R"({"StreamARN":"arn:aws:kinesisvideo:us-west-2:000000000000:stream/cam1/1","MaxResults":7})";
    int pages = 0;
    while (true) {
        auto response = list(body);
        ++pages;
        for (const auto& fragment : response["Fragments"])
            seen.push_back(fragment["FragmentNumber"]);
        if (!response.contains("NextToken")) break;
        EXPECT_EQ(response["Fragments"].size(), 7u);
        body = nlohmann::json{{"StreamName", "cam1"}, {"MaxResults", 7}, {"NextToken", response["NextToken"]}}
                   .dump();
        ASSERT_LT(pages, 10);
    }
    EXPECT_EQ(pages, 4);
    ASSERT_EQ(seen.size(), 25u);
    for (std::size_t i = 0; i < seen.size(); ++i)
        EXPECT_EQ(seen[i], storage::format_fragment_number(numbers_[i]));
}

TEST_F(ArchivedMediaTest, ListFragmentsErrorsAreKvsErrors) {
    struct Case {
        const char* body;
        const char* type;
    };
    const Case cases[] = {
        {R"({})", "InvalidArgumentException"},
        {R"({"StreamName":"nope"})", "ResourceNotFoundException"},
        {R"({"StreamName":7})", "InvalidArgumentException"},
        {R"({"StreamName":"cam1","MaxResults":0})", "InvalidArgumentException"},
        {R"({"StreamName":"cam1","MaxResults":1001})", "InvalidArgumentException"},
        {R"({"StreamName":"cam1","MaxResults":"5"})", "InvalidArgumentException"},
        {R"({"StreamName":"cam1","NextToken":"garbage"})", "InvalidArgumentException"},
        {R"({"StreamName":"cam1","FragmentSelector":{"FragmentSelectorType":"ARRIVAL"}})",
         "InvalidArgumentException"},
        {R"({"StreamName":"cam1","FragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP"}})",
         "InvalidArgumentException"},
        {R"({"StreamName":"cam1","FragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP",
            "TimestampRange":{"StartTimestamp":5,"EndTimestamp":4}}})",
         "InvalidArgumentException"},
    };
    for (const auto& c : cases) {
        MediaApiError error;
        list(c.body, &error);
        EXPECT_EQ(error.type, c.type) << c.body;
        EXPECT_EQ(error.status, std::string(c.type) == "ResourceNotFoundException" ? 404u : 400u) << c.body;
        EXPECT_FALSE(error.message.empty());
    }
    nlohmann::json json;
    EXPECT_TRUE(parse_request_body("[1]", json));
    EXPECT_TRUE(parse_request_body(std::string(100, '[') + std::string(100, ']'), json));
    EXPECT_TRUE(parse_request_body("{", json));
}

struct TagCollector : media::MkvReaderHandler {
    void on_tags(const std::vector<media::SimpleTag>& list, std::uint64_t) override {
        for (const auto& tag : list) {
            if (tag.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER") {
                numbers.push_back(tag.value);
            } else {
                names.push_back(tag.name);
            }
        }
    }
    void on_fragment_begin(std::uint64_t, std::int64_t) override { ++clusters; }
    std::vector<std::string> numbers;
    std::vector<std::string> names;
    int clusters = 0;
};

TEST_F(ArchivedMediaTest, GetMediaForFragmentListStreamsTheRequestedFragmentsInOrder) {
    nlohmann::json request = {
        {"StreamName", "cam1"},
        {"Fragments",
         {storage::format_fragment_number(numbers_[5]), storage::format_fragment_number(numbers_[2]),
          storage::format_fragment_number(numbers_[9])}}};
    std::unique_ptr<FragmentListReader> reader;
    ASSERT_FALSE(FragmentListReader::open(*store_, only_cam1(), request, reader));
    test::Bytes out;
    int calls = 0;
    while (reader->next(out))
        ++calls;
    EXPECT_EQ(calls, 3);
    TagCollector tags;
    media::MkvReader mkv(tags);
    ASSERT_FALSE(mkv.feed(out));
    ASSERT_FALSE(mkv.finish());
    EXPECT_EQ(tags.clusters, 3);
    EXPECT_EQ(tags.numbers, (std::vector<std::string>{request["Fragments"][0], request["Fragments"][1],
                                                      request["Fragments"][2]}));
    EXPECT_EQ(std::count(tags.names.begin(), tags.names.end(), "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP"), 3);
    EXPECT_EQ(std::count(tags.names.begin(), tags.names.end(), "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP"),
              3);
}

TEST_F(ArchivedMediaTest, GetMediaForFragmentListValidatesBeforeSendingAnything) {
    struct Case {
        nlohmann::json request;
        const char* type;
    };
    std::vector<Case> cases = {
        {{{"StreamName", "cam1"}}, "InvalidArgumentException"},
        {{{"StreamName", "cam1"}, {"Fragments", nlohmann::json::array()}}, "InvalidArgumentException"},
        {{{"StreamName", "cam1"}, {"Fragments", {"12x"}}}, "InvalidArgumentException"},
        {{{"StreamName", "cam1"}, {"Fragments", {5}}}, "InvalidArgumentException"},
        {{{"StreamName", "cam1"}, {"Fragments", {"1"}}}, "ResourceNotFoundException"},
        {{{"StreamName", "other"}, {"Fragments", {"1"}}}, "ResourceNotFoundException"},
        {{{"StreamName", "cam1"}, {"Fragments", std::vector<std::string>(1001, "1")}},
         "InvalidArgumentException"},
    };
    for (const auto& c : cases) {
        std::unique_ptr<FragmentListReader> reader;
        auto error = FragmentListReader::open(*store_, only_cam1(), c.request, reader);
        EXPECT_EQ(error.type, c.type) << c.request.dump().substr(0, 100);
        EXPECT_FALSE(reader);
    }
}

}  // namespace
}  // namespace kinema::server
