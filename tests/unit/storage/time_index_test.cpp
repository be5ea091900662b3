#include "time_index.h"

#include <gtest/gtest.h>

namespace kinema::storage {
namespace {

IndexEntry entry(FragmentNumber number, std::int64_t producer, std::int64_t server) {
    IndexEntry e;
    e.number = number;
    e.producer_ns = producer;
    e.server_ns = server;
    return e;
}

TEST(TimeIndex, FindsByNumber) {
    TimeIndex index;
    for (FragmentNumber n : {10, 20, 30})
        index.push_back(entry(n, 0, 0));
    EXPECT_EQ(index.find(20), 1u);
    EXPECT_EQ(index.find(25), 3u);
    EXPECT_EQ(index.find(5), 3u);
    EXPECT_EQ(index.upper_bound(5), 0u);
    EXPECT_EQ(index.upper_bound(20), 2u);
    EXPECT_EQ(index.upper_bound(30), 3u);
}

TEST(TimeIndex, FirstAtOrAfterWithOrderedTimestamps) {
    TimeIndex index;
    for (int i = 0; i < 100; ++i)
        index.push_back(entry(100 + i, i * 10, i * 10 + 5));
    struct Case {
        TimestampKind kind;
        std::int64_t at;
        std::size_t want;
    };
    const Case cases[] = {
        {TimestampKind::producer, -100, 0},  {TimestampKind::producer, 0, 0},
        {TimestampKind::producer, 1, 1},     {TimestampKind::producer, 990, 99},
        {TimestampKind::producer, 991, 100}, {TimestampKind::server, 5, 0},
        {TimestampKind::server, 6, 1},       {TimestampKind::server, 995, 99},
        {TimestampKind::server, 996, 100},
    };
    for (const auto& c : cases)
        EXPECT_EQ(index.first_at_or_after(c.kind, c.at), c.want) << c.at;
    EXPECT_TRUE(index.ordered_from(TimestampKind::producer, 0));
}

TEST(TimeIndex, FirstAtOrAfterWhenTheProducerClockWentBack) {
    // A second session restarted its timestamps lower than the first one's.
    TimeIndex index;
    const std::int64_t producer[] = {100, 200, 300, 50, 150, 400};
    for (int i = 0; i < 6; ++i)
        index.push_back(entry(i + 1, producer[i], i));
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 120), 1u);  // 200: the first one in order
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 350), 5u);  // 400, skipping 50 and 150
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 401), 6u);
    EXPECT_FALSE(index.ordered_from(TimestampKind::producer, 0));
    EXPECT_TRUE(index.ordered_from(TimestampKind::producer, 3));
    EXPECT_TRUE(index.ordered_from(TimestampKind::server, 0));
}

TEST(TimeIndex, PopFrontKeepsLookupsRight) {
    TimeIndex index;
    const std::int64_t producer[] = {500, 10, 20, 30};
    for (int i = 0; i < 4; ++i)
        index.push_back(entry(i + 1, producer[i], i));
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 15), 0u);  // 500 is first in number order
    index.pop_front(1);
    EXPECT_EQ(index.size(), 3u);
    EXPECT_EQ(index.front().number, 2u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 15), 1u);  // now 20
    EXPECT_TRUE(index.ordered_from(TimestampKind::producer, 0));
    index.pop_front(10);
    EXPECT_TRUE(index.empty());
}

// Entries loaded from an index file (encoded, read in place) followed by entries committed afterwards.
std::shared_ptr<std::vector<std::uint8_t>> encode(const std::vector<IndexEntry>& entries) {
    auto bytes = std::make_shared<std::vector<std::uint8_t>>(entries.size() * kIndexEntrySize);
    for (std::size_t i = 0; i < entries.size(); ++i)
        encode_index_entry(entries[i], bytes->data() + i * kIndexEntrySize);
    return bytes;
}

TEST(TimeIndex, EncodedRunsAndAppendedEntriesActAsOneSequence) {
    std::vector<IndexEntry> loaded;
    for (int i = 0; i < 10; ++i)
        loaded.push_back(entry(100 + i, i * 10, i * 10));
    auto bytes = encode(loaded);
    TimeIndex index;
    index.append_encoded(bytes, bytes->data(), loaded.size());
    for (int i = 10; i < 15; ++i)
        index.push_back(entry(100 + i, i * 10, i * 10));
    ASSERT_EQ(index.size(), 15u);
    for (std::size_t i = 0; i < 15; ++i)
        EXPECT_EQ(index[i].number, 100 + i);
    EXPECT_EQ(index.find(109), 9u);
    EXPECT_EQ(index.find(110), 10u);
    EXPECT_EQ(index.upper_bound(109), 10u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 95), 10u);
    EXPECT_EQ(index.back().number, 114u);
    index.pop_front(3);
    EXPECT_EQ(index.front().number, 103u);
    EXPECT_EQ(index.find(110), 7u);
    index.pop_front(9);  // across the boundary between the two runs
    EXPECT_EQ(index.size(), 3u);
    EXPECT_EQ(index.front().number, 112u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::server, 0), 0u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::server, 131), 2u);
}

TEST(TimeIndex, DisorderInsideAnEncodedRunKeepsLookupsRight) {
    const std::int64_t producer[] = {100, 200, 300, 50, 150, 400};
    std::vector<IndexEntry> loaded;
    for (int i = 0; i < 6; ++i)
        loaded.push_back(entry(i + 1, producer[i], i));
    auto bytes = encode(loaded);
    TimeIndex index;
    index.append_encoded(bytes, bytes->data(), loaded.size());
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 120), 1u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 350), 5u);
    EXPECT_FALSE(index.ordered_from(TimestampKind::producer, 2));
    EXPECT_TRUE(index.ordered_from(TimestampKind::producer, 3));
    index.push_back(entry(7, 10, 6));  // and once more after it
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 5), 0u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 401), 7u);
    EXPECT_FALSE(index.ordered_from(TimestampKind::producer, 3));
    index.pop_front(6);
    EXPECT_TRUE(index.ordered_from(TimestampKind::producer, 0));
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 5), 0u);
}

TEST(TimeIndex, ALongSlidingWindowStaysCorrect) {
    // A retention-0 stream's window: one entry in, one out, many times (popped memory is reclaimed).
    TimeIndex index;
    for (FragmentNumber n = 1; n <= 5000; ++n) {
        index.push_back(entry(n, static_cast<std::int64_t>(n), static_cast<std::int64_t>(n)));
        if (index.size() > 8) index.pop_front(1);
    }
    ASSERT_EQ(index.size(), 8u);
    EXPECT_EQ(index.front().number, 4993u);
    EXPECT_EQ(index.back().number, 5000u);
    EXPECT_EQ(index.find(4995), 2u);
    EXPECT_EQ(index.first_at_or_after(TimestampKind::producer, 4999), 6u);
}

}  // namespace
}  // namespace kinema::storage
