// Shared pieces of the PutMedia/GetMedia integration tests: streams made with kinema::media's MkvWriter
// (ABSOLUTE timecodes, epoch milliseconds), sending them split at random sizes, and collecting ACKs.
#pragma once

#include <gtest/gtest.h>

#include <kinema/media/mkv_reader.h>
#include <kinema/media/mkv_writer.h>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ack.h"
#include "http_client.h"
#include "media_client.h"
#include "mkv_fixture.h"
#include "test_server.h"

namespace kinema::test {

inline constexpr std::int64_t kEpochMs = 1'700'000'000'000;

inline void create_stream(std::uint16_t port, const std::string& name, int retention_hours = 24) {
    HttpClient client(port);
    auto response =
        client.post_json("/createStream", {{"StreamName", name}, {"DataRetentionInHours", retention_hours}});
    ASSERT_EQ(response.status, 200u) << response.body;
}

// `count` one-second fragments of `frames` frames each, starting at kEpochMs + first * 1000.
inline server::test::TestStream make_fragments(int count, int first = 0, int frames = 5,
                                               std::size_t payload = 2000) {
    std::vector<server::test::ClusterSpec> specs;
    for (int i = 0; i < count; ++i)
        specs.push_back({kEpochMs + 1000 * (first + i), frames, 200, 1, payload});
    return server::test::make_stream(specs);
}

// The producer SDK's end-of-fragment marker: a top-level Tags element that completes the open Cluster.
inline Bytes end_of_fragment_tags() {
    Bytes out;
    const std::vector<media::SimpleTag> tags{{"KINEMA_END_OF_FRAGMENT", "1"}};
    media::mkv::write_tags(tags, out);
    return out;
}

inline std::vector<std::span<const std::uint8_t>> random_split(const Bytes& bytes, std::uint32_t seed,
                                                               std::size_t max_piece = 3000) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> size(1, max_piece);
    std::vector<std::span<const std::uint8_t>> pieces;
    for (std::size_t at = 0; at < bytes.size();) {
        const auto n = std::min(size(rng), bytes.size() - at);
        pieces.emplace_back(bytes.data() + at, n);
        at += n;
    }
    return pieces;
}

inline Headers put_media_headers(const std::string& stream) {
    return {{"x-amzn-stream-name", stream},
            {"x-amzn-fragment-timecode-type", "ABSOLUTE"},
            {"x-amzn-fragment-acknowledgment-required", "1"}};
}

inline std::optional<server::Ack> parse(const std::string& text) {
    return server::parse_ack(text);
}

// Reads ACKs from `ws` until `persisted` PERSISTED ACKs (or an ERROR) arrived; returns all of them.
inline std::vector<server::Ack> read_acks_until_persisted(WsClient& ws, std::size_t persisted) {
    std::vector<server::Ack> acks;
    std::size_t seen = 0;
    while (seen < persisted) {
        auto message = ws.read(10s);
        if (!message) break;
        auto ack = server::parse_ack(*message);
        EXPECT_TRUE(ack) << *message;
        if (!ack) break;
        acks.push_back(*ack);
        if (ack->type == server::AckEventType::persisted) ++seen;
        if (ack->type == server::AckEventType::error) break;
    }
    return acks;
}

// Fragment numbers, producer timestamps (ms) and sizes of every fragment of `stream`.
struct ListedFragment {
    std::string number;
    std::int64_t producer_ms = 0;
    std::uint64_t size = 0;
};
inline std::vector<ListedFragment> list_fragments(std::uint16_t port, const std::string& stream) {
    HttpClient client(port);
    auto response = client.post_json("/listFragments", {{"StreamName", stream}});
    EXPECT_EQ(response.status, 200u) << response.body;
    std::vector<ListedFragment> out;
    const auto body = response.json();
    for (const auto& f : body["Fragments"])
        out.push_back({f["FragmentNumber"].get<std::string>(),
                       static_cast<std::int64_t>(f["ProducerTimestamp"].get<double>() * 1000 + 0.5),
                       f["FragmentSizeInBytes"].get<std::uint64_t>()});
    return out;
}

// What an MKV byte stream (GetMedia output) holds.
struct MkvSummary : media::MkvReaderHandler {
    void on_segment(const media::SegmentHeader&, std::uint64_t) override { ++segments; }
    void on_fragment_begin(std::uint64_t, std::int64_t timecode) override {
        cluster_timecodes.push_back(timecode);
    }
    void on_frame(const media::Frame& frame) override {
        ++frames;
        payloads.emplace_back(frame.payload.begin(), frame.payload.end());
    }
    void on_tags(const std::vector<media::SimpleTag>& tags, std::uint64_t) override {
        for (const auto& tag : tags) {
            if (tag.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER") numbers.push_back(tag.value);
            last_tags[tag.name] = tag.value;
        }
    }
    int segments = 0;
    int frames = 0;
    std::vector<std::int64_t> cluster_timecodes;
    std::vector<std::string> numbers;
    std::vector<Bytes> payloads;
    std::map<std::string, std::string> last_tags;  // every tag name seen, with its last value
};

inline MkvSummary summarize(const std::string& bytes) {
    MkvSummary summary;
    media::MkvReader reader(summary);
    Bytes data(bytes.begin(), bytes.end());
    auto error = reader.feed(data);
    EXPECT_FALSE(error) << error.message();
    return summary;
}

}  // namespace kinema::test
