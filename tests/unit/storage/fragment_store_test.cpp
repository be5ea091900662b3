// The fragment log through its public API: numbering, appends and commits, reads, paging, the tail
// follower, headers, de-duplication, retention-0 memory windows and stream deletion.
#include "kinema/storage/fragment_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kinema/storage/error.h"
#include "storage_test_util.h"

namespace kinema::storage {
namespace {

using test::fragment_bytes;
using test::metadata_at;
using test::TempDir;

StoreOptions test_options() {
    StoreOptions options;
    options.retention_sweep_interval = std::chrono::milliseconds(0);
    options.commit_max_wait = std::chrono::microseconds(0);
    return options;
}

TEST(FragmentNumberText, IsFixedWidthAndOrdersLikeTheNumber) {
    EXPECT_EQ(format_fragment_number(0), "00000000000000000000");
    EXPECT_EQ(format_fragment_number(42), "00000000000000000042");
    EXPECT_EQ(format_fragment_number(~0ull), "18446744073709551615");
    const FragmentNumber numbers[] = {1, 9, 10, 99, 100, 1'700'000'000'000'000, ~0ull - 1, ~0ull};
    for (std::size_t i = 0; i + 1 < std::size(numbers); ++i) {
        EXPECT_LT(format_fragment_number(numbers[i]), format_fragment_number(numbers[i + 1]));
    }
    for (auto n : numbers)
        EXPECT_EQ(parse_fragment_number(format_fragment_number(n)), n);
}

TEST(FragmentNumberText, RejectsWhatItNeverProduces) {
    for (const char* bad :
         {"", "-1", "+1", "1a", " 1", "1 ", "18446744073709551616", "000000000000000000000", "0x10", "1.5"}) {
        EXPECT_FALSE(parse_fragment_number(bad)) << bad;
    }
    EXPECT_EQ(parse_fragment_number("7"), 7u);
}

TEST(StreamName, ValidationTable) {
    const std::string long_ok(256, 'a');
    const std::string too_long(257, 'a');
    for (const std::string& ok :
         {std::string("cam1"), std::string("a.b-c_D9"), std::string("..."), long_ok}) {
        EXPECT_TRUE(is_valid_stream_name(ok)) << ok;
    }
    for (const std::string& bad :
         {std::string(""), std::string("."), std::string(".."), std::string("a/b"), std::string("../x"),
          std::string("a b"), std::string("caf\xc3\xa9"), std::string("a\0b", 3), too_long}) {
        EXPECT_FALSE(is_valid_stream_name(bad)) << bad;
    }
}

TEST(FragmentStore, InvalidNamesNeverTouchTheDisk) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    EXPECT_EQ(store->open_stream("../escape", 24), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(store->open_stream("..", 24), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(store->delete_stream(".."), make_error_code(Errc::invalid_argument));
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "escape"));
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "streams"));
    FragmentNumber n = 0;
    const auto bytes = fragment_bytes(1, 10);
    EXPECT_EQ(store->append("nope", bytes, metadata_at(0, 0), n), make_error_code(Errc::resource_not_found));
}

TEST(FragmentStore, OneStorePerDataDirectory) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    EXPECT_THROW(FragmentStore::open(dir.path(), test_options()), std::system_error);
    store.reset();
    EXPECT_NO_THROW(FragmentStore::open(dir.path(), test_options()));
}

TEST(FragmentStore, AppendCommitReadRoundTrip) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("cam1", 24));
    HeaderId header = 0;
    const std::vector<std::uint8_t> mkv_header = {0x1A, 0x45, 0xDF, 0xA3, 0x01};
    ASSERT_FALSE(store->put_header("cam1", mkv_header, header));
    EXPECT_NE(header, 0u);

    std::promise<std::pair<FragmentNumber, std::error_code>> committed;
    const auto bytes = fragment_bytes(7, 100'000);
    auto meta = metadata_at(1000, 2000, header);
    meta.key_frame_offsets = {0, 50'000};
    meta.track_numbers = {1, 2};
    FragmentNumber number = 0;
    ASSERT_FALSE(store->append("cam1", bytes, meta, number, [&](FragmentNumber n, std::error_code ec) {
        committed.set_value({n, ec});
    }));
    const auto [committed_number, commit_ec] = committed.get_future().get();
    EXPECT_EQ(committed_number, number);
    EXPECT_FALSE(commit_ec);

    Fragment fragment;
    ASSERT_FALSE(store->read("cam1", number, fragment));
    EXPECT_EQ(*fragment.bytes, bytes);
    EXPECT_EQ(fragment.info.number, number);
    EXPECT_EQ(fragment.info.size, bytes.size());
    EXPECT_EQ(fragment.info.producer_timestamp, meta.producer_timestamp);
    EXPECT_EQ(fragment.info.server_timestamp, meta.server_timestamp);
    EXPECT_EQ(fragment.info.duration, meta.duration);
    EXPECT_EQ(fragment.metadata.key_frame_offsets, meta.key_frame_offsets);
    EXPECT_EQ(fragment.metadata.track_numbers, meta.track_numbers);
    EXPECT_EQ(fragment.metadata.header_id, header);
    std::shared_ptr<const std::vector<std::uint8_t>> got_header;
    ASSERT_FALSE(store->get_header("cam1", fragment.info.header_id, got_header));
    EXPECT_EQ(*got_header, mkv_header);

    Fragment missing;
    EXPECT_EQ(store->read("cam1", number + 1, missing), make_error_code(Errc::fragment_not_found));
}

TEST(FragmentStore, RejectsEmptyOversizedAndUnknownHeader) {
    TempDir dir;
    auto options = test_options();
    options.max_fragment_bytes = 1000;
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("s", 1));
    FragmentNumber n = 0;
    EXPECT_EQ(store->append("s", {}, metadata_at(0, 0), n), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(store->append("s", fragment_bytes(1, 1001), metadata_at(0, 0), n),
              make_error_code(Errc::invalid_argument));
    EXPECT_EQ(store->append("s", fragment_bytes(1, 10), metadata_at(0, 0, 99), n),
              make_error_code(Errc::invalid_argument));
    EXPECT_FALSE(store->append("s", fragment_bytes(1, 1000), metadata_at(0, 0), n));
}

TEST(FragmentStore, NumbersStrictlyIncreaseAcrossReopenEvenWithAStoppedClock) {
    TempDir dir;
    auto options = test_options();
    options.clock = [] { return media::Timestamp::from_nanoseconds(0); };
    FragmentNumber last = 0;
    for (int round = 0; round < 2; ++round) {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        for (int i = 0; i < 5; ++i) {
            FragmentNumber n = 0;
            ASSERT_FALSE(store->append("s", fragment_bytes(i, 10), metadata_at(i, i), n));
            EXPECT_GT(n, last);
            last = n;
        }
        ASSERT_FALSE(store->flush());
    }
}

TEST(FragmentStore, IdenticalConsecutiveHeadersShareAnId) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    const std::vector<std::uint8_t> a = {1, 2, 3};
    const std::vector<std::uint8_t> b = {1, 2, 4};
    HeaderId id1 = 0, id2 = 0, id3 = 0, id4 = 0;
    ASSERT_FALSE(store->put_header("s", a, id1));
    ASSERT_FALSE(store->put_header("s", a, id2));
    ASSERT_FALSE(store->put_header("s", b, id3));
    ASSERT_FALSE(store->put_header("s", a, id4));
    EXPECT_EQ(id1, id2);
    EXPECT_NE(id2, id3);
    EXPECT_NE(id3, id4);
    EXPECT_EQ(store->put_header("s", {}, id4), make_error_code(Errc::invalid_argument));
}

TEST(FragmentStore, HeadersAndFragmentsSurviveReopen) {
    TempDir dir;
    const std::vector<std::uint8_t> mkv_header = {9, 8, 7};
    FragmentNumber number = 0;
    HeaderId id = 0;
    {
        auto store = FragmentStore::open(dir.path(), test_options());
        ASSERT_FALSE(store->open_stream("s", 1));
        ASSERT_FALSE(store->put_header("s", mkv_header, id));
        ASSERT_FALSE(store->append("s", fragment_bytes(3, 5000), metadata_at(10, 20, id), number));
        ASSERT_FALSE(store->flush());
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    Fragment fragment;
    ASSERT_FALSE(store->read("s", number, fragment));
    EXPECT_EQ(*fragment.bytes, fragment_bytes(3, 5000));
    std::shared_ptr<const std::vector<std::uint8_t>> header;
    ASSERT_FALSE(store->get_header("s", id, header));
    EXPECT_EQ(*header, mkv_header);
    HeaderId again = 0;
    ASSERT_FALSE(store->put_header("s", mkv_header, again));
    EXPECT_EQ(again, id);  // the same session header after a restart is still recognised
}

class PopulatedStore : public ::testing::Test {
protected:
    void SetUp() override {
        store_ = FragmentStore::open(dir_.path(), test_options());
        ASSERT_FALSE(store_->open_stream("s", 1));
        // Producer timestamps 0, 2000, ..., server timestamps 1000 later.
        for (int i = 0; i < 50; ++i) {
            FragmentNumber n = 0;
            ASSERT_FALSE(
                store_->append("s", fragment_bytes(i, 100 + i), metadata_at(i * 2000, i * 2000 + 1000), n));
            numbers_.push_back(n);
        }
        ASSERT_FALSE(store_->flush());
    }
    TempDir dir_;
    std::unique_ptr<FragmentStore> store_;
    std::vector<FragmentNumber> numbers_;
};

TEST_F(PopulatedStore, FindAtOrAfterByEitherTimestamp) {
    struct Case {
        TimestampKind kind;
        std::int64_t at_ms;
        int want;  // index into numbers_, -1 = not found
    };
    const Case cases[] = {
        {TimestampKind::producer, -5000, 0},  {TimestampKind::producer, 0, 0},
        {TimestampKind::producer, 1, 1},      {TimestampKind::producer, 2000, 1},
        {TimestampKind::producer, 98000, 49}, {TimestampKind::producer, 98001, -1},
        {TimestampKind::server, 1000, 0},     {TimestampKind::server, 1001, 1},
        {TimestampKind::server, 99001, -1},
    };
    for (const auto& c : cases) {
        FragmentInfo info;
        const auto ec =
            store_->find_at_or_after("s", c.kind, media::Timestamp::from_milliseconds(c.at_ms), info);
        if (c.want < 0) {
            EXPECT_EQ(ec, make_error_code(Errc::fragment_not_found)) << c.at_ms;
        } else {
            ASSERT_FALSE(ec) << c.at_ms;
            EXPECT_EQ(info.number, numbers_[c.want]) << c.at_ms;
        }
    }
}

TEST_F(PopulatedStore, ListPagesThroughARangeInNumberOrder) {
    std::vector<FragmentNumber> got;
    std::string token;
    int pages = 0;
    do {
        FragmentPage page;
        ASSERT_FALSE(store_->list("s", TimestampKind::producer, media::Timestamp::from_milliseconds(10'000),
                                  media::Timestamp::from_milliseconds(40'000), 7, token, page));
        EXPECT_LE(page.fragments.size(), 7u);
        for (const auto& f : page.fragments)
            got.push_back(f.number);
        token = page.next_token;
        ++pages;
    } while (!token.empty() && pages < 100);
    // Fragments 5..20 inclusive (producer 10 s .. 40 s).
    const std::vector<FragmentNumber> want(numbers_.begin() + 5, numbers_.begin() + 21);
    EXPECT_EQ(got, want);
    EXPECT_EQ(pages, 3);
}

TEST_F(PopulatedStore, ListRejectsBadArguments) {
    FragmentPage page;
    const auto t0 = media::Timestamp::from_milliseconds(0);
    const auto t1 = media::Timestamp::from_milliseconds(1);
    EXPECT_EQ(store_->list("s", TimestampKind::server, t0, t1, 0, "", page),
              make_error_code(Errc::invalid_argument));
    EXPECT_EQ(store_->list("s", TimestampKind::server, t1, t0, 10, "", page),
              make_error_code(Errc::invalid_argument));
    EXPECT_EQ(store_->list("s", TimestampKind::server, t0, t1, 10, "garbage", page),
              make_error_code(Errc::invalid_argument));
}

TEST_F(PopulatedStore, OldestNewestNextAfter) {
    FragmentInfo info;
    ASSERT_FALSE(store_->oldest("s", info));
    EXPECT_EQ(info.number, numbers_.front());
    ASSERT_FALSE(store_->newest("s", info));
    EXPECT_EQ(info.number, numbers_.back());
    ASSERT_FALSE(store_->next_after("s", numbers_[10], info));
    EXPECT_EQ(info.number, numbers_[11]);
    EXPECT_EQ(store_->next_after("s", numbers_.back(), info), make_error_code(Errc::fragment_not_found));
    ASSERT_FALSE(store_->get_info("s", numbers_[3], info));
    EXPECT_EQ(info.size, 103u);
}

TEST_F(PopulatedStore, FindDuplicateMatchesTimestampAndContent) {
    const auto original = fragment_bytes(4, 104);
    EXPECT_EQ(store_->find_duplicate("s", media::Timestamp::from_milliseconds(8000), original), numbers_[4]);
    auto changed = original;
    changed[50] ^= 1;
    EXPECT_FALSE(store_->find_duplicate("s", media::Timestamp::from_milliseconds(8000), changed));
    EXPECT_FALSE(store_->find_duplicate("s", media::Timestamp::from_milliseconds(8001), original));
}

TEST_F(PopulatedStore, FindRecentMatchesTheProducerTimestampAlone) {
    EXPECT_EQ(store_->find_recent("s", media::Timestamp::from_milliseconds(8000)), numbers_[4]);
    EXPECT_EQ(store_->find_recent("s", media::Timestamp::from_milliseconds(98000)), numbers_[49]);
    EXPECT_FALSE(store_->find_recent("s", media::Timestamp::from_milliseconds(8001)));
    EXPECT_FALSE(store_->find_recent("nope", media::Timestamp::from_milliseconds(8000)));
}

TEST(FragmentStore, NextFragmentNumberIsKeptUntilAnAppendTakesIt) {
    TempDir dir;
    auto options = test_options();
    std::atomic<std::int64_t> now_us{1'700'000'000'000'000};
    options.clock = [&now_us] { return media::Timestamp::from_nanoseconds(now_us.load() * 1000); };
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("s", 1));
    FragmentNumber promised = 0;
    EXPECT_EQ(store->next_fragment_number("nope", promised), make_error_code(Errc::resource_not_found));

    // Picked from the clock at the first call, then the same number while the fragment is in progress.
    ASSERT_FALSE(store->next_fragment_number("s", promised));
    EXPECT_EQ(promised, 1'700'000'000'000'000u);
    now_us += 2'000'000;
    FragmentNumber again = 0;
    ASSERT_FALSE(store->next_fragment_number("s", again));
    EXPECT_EQ(again, promised);
    FragmentNumber stored = 0;
    ASSERT_FALSE(store->append("s", fragment_bytes(1, 10), metadata_at(0, 0), stored));
    EXPECT_EQ(stored, promised);

    // The next one is picked afresh; a fragment that is dropped leaves its number to the next append.
    FragmentNumber dropped = 0;
    ASSERT_FALSE(store->next_fragment_number("s", dropped));
    EXPECT_EQ(dropped, 1'700'000'002'000'000u);
    now_us += 5'000'000;
    FragmentNumber next = 0;
    ASSERT_FALSE(store->next_fragment_number("s", next));
    EXPECT_EQ(next, dropped);
    ASSERT_FALSE(store->append("s", fragment_bytes(2, 10), metadata_at(1000, 1000), stored));
    EXPECT_EQ(stored, dropped);

    // Without a call first, append picks its own number, as before; numbers keep increasing.
    FragmentNumber plain = 0;
    ASSERT_FALSE(store->append("s", fragment_bytes(3, 10), metadata_at(2000, 2000), plain));
    EXPECT_EQ(plain, 1'700'000'007'000'000u);

    // A stopped clock: previous + 1, kept the same way.
    now_us = 0;
    ASSERT_FALSE(store->next_fragment_number("s", next));
    EXPECT_EQ(next, plain + 1);
    ASSERT_FALSE(store->append("s", fragment_bytes(4, 10), metadata_at(3000, 3000), stored));
    EXPECT_EQ(stored, plain + 1);
    ASSERT_FALSE(store->flush());
}

// The files of a stream's directory, by name.
std::vector<std::string> files_of(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& item : std::filesystem::directory_iterator(dir))
        names.push_back(item.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

TEST(FragmentStore, PrepareAppendsMakesTheSegmentTheNextAppendWritesTo) {
    TempDir dir;
    auto options = test_options();
    std::atomic<std::int64_t> now_us{1'700'000'000'000'000};
    options.clock = [&now_us] { return media::Timestamp::from_nanoseconds(now_us.load() * 1000); };
    auto store = FragmentStore::open(dir.path(), options);
    EXPECT_EQ(store->prepare_appends("nope"), make_error_code(Errc::resource_not_found));
    ASSERT_FALSE(store->open_stream("s", 1));
    const auto stream_dir = dir.path() / "streams" / "s";
    const auto before = files_of(stream_dir);

    ASSERT_FALSE(store->prepare_appends("s"));
    const auto prepared = files_of(stream_dir);
    EXPECT_GT(prepared.size(), before.size());  // the segment's data and index files
    ASSERT_FALSE(store->prepare_appends("s"));  // again: the same segment
    EXPECT_EQ(files_of(stream_dir), prepared);

    // The append, later, takes the number the segment is named after and creates no file.
    FragmentNumber promised = 0;
    ASSERT_FALSE(store->next_fragment_number("s", promised));
    EXPECT_EQ(promised, 1'700'000'000'000'000u);
    now_us += 3'000'000;
    FragmentNumber stored = 0;
    ASSERT_FALSE(store->append("s", fragment_bytes(1, 100), metadata_at(0, 0), stored));
    EXPECT_EQ(stored, promised);
    EXPECT_EQ(files_of(stream_dir), prepared);
    ASSERT_FALSE(store->flush());
    Fragment f;
    ASSERT_FALSE(store->read("s", stored, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(1, 100));
}

TEST(FragmentStore, PrepareAppendsWritesNothingForAStreamKeptInMemory) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("live", 0));
    ASSERT_FALSE(store->prepare_appends("live"));
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "streams" / "live"));
}

TEST(FragmentStore, APreparedSegmentLeftEmptyByARestartKeepsItsFragmentsAfterItsName) {
    // Prepared at a clock reading, then the process restarts with the clock set back: the fragments the
    // empty segment then gets must still be numbered from its name on, or recovery would stop at them.
    TempDir dir;
    auto options = test_options();
    std::atomic<std::int64_t> now_us{1'700'000'100'000'000};
    options.clock = [&now_us] { return media::Timestamp::from_nanoseconds(now_us.load() * 1000); };
    {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        ASSERT_FALSE(store->prepare_appends("s"));
    }
    now_us = 1'700'000'000'000'000;  // 100 s earlier
    std::vector<FragmentNumber> numbers;
    {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        for (int i = 0; i < 3; ++i) {
            FragmentNumber n = 0;
            ASSERT_FALSE(store->append("s", fragment_bytes(i, 100), metadata_at(i * 1000, i * 1000), n));
            EXPECT_GE(n, 1'700'000'100'000'000u);
            numbers.push_back(n);
        }
        ASSERT_FALSE(store->flush());
    }
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("s", 1));
    for (int i = 0; i < 3; ++i) {
        Fragment f;
        ASSERT_FALSE(store->read("s", numbers[static_cast<std::size_t>(i)], f)) << i;
        EXPECT_EQ(*f.bytes, fragment_bytes(i, 100));
    }
}

TEST(FragmentStore, TailFollowerSeesEachCommittedFragmentOnceInOrder) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    std::mutex mutex;
    std::vector<FragmentNumber> seen;
    TailSubscription subscription;
    ASSERT_FALSE(store->follow(
        "s",
        [&](const FragmentInfo& info) {
            std::lock_guard lock(mutex);
            seen.push_back(info.number);
        },
        subscription));
    std::vector<FragmentNumber> appended;
    for (int i = 0; i < 20; ++i) {
        FragmentNumber n = 0;
        ASSERT_FALSE(store->append("s", fragment_bytes(i, 64), metadata_at(i, i), n));
        appended.push_back(n);
    }
    ASSERT_FALSE(store->flush());
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(seen, appended);
    }
    subscription.cancel();
    FragmentNumber n = 0;
    ASSERT_FALSE(store->append("s", fragment_bytes(99, 64), metadata_at(99, 99), n));
    ASSERT_FALSE(store->flush());
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen.size(), appended.size());  // nothing after cancel
}

TEST(FragmentStore, ConcurrentAppendsToManyStreamsShareSyncs) {
    TempDir dir;
    auto options = test_options();
    options.commit_max_wait = std::chrono::microseconds(2000);
    std::atomic<std::size_t> synced{0};
    std::atomic<std::size_t> rounds{0};
    options.on_sync = [&](std::chrono::nanoseconds, std::size_t fragments) {
        synced += fragments;
        ++rounds;
    };
    auto store = FragmentStore::open(dir.path(), options);
    constexpr int kStreams = 8;
    constexpr int kPerStream = 50;
    for (int s = 0; s < kStreams; ++s)
        ASSERT_FALSE(store->open_stream("s" + std::to_string(s), 1));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < kStreams; ++s) {
        threads.emplace_back([&, s] {
            for (int i = 0; i < kPerStream; ++i) {
                FragmentNumber n = 0;
                if (!store->append("s" + std::to_string(s), fragment_bytes(s * 1000 + i, 4096),
                                   metadata_at(i, i), n, [&](FragmentNumber, std::error_code ec) {
                                       if (!ec) ++ok;
                                   })) {
                }
            }
        });
    }
    for (auto& t : threads)
        t.join();
    ASSERT_FALSE(store->flush());
    EXPECT_EQ(ok.load(), kStreams * kPerStream);
    const auto stats = store->stats();
    EXPECT_EQ(stats.fragments_committed, static_cast<std::uint64_t>(kStreams * kPerStream));
    EXPECT_LT(stats.syncs, stats.fragments_committed);  // group commit
    EXPECT_EQ(synced.load(), stats.fragments_committed);
    EXPECT_LE(rounds.load(), stats.syncs);
    EXPECT_GT(stats.sync_time.count(), 0);
    for (int s = 0; s < kStreams; ++s) {
        FragmentPage page;
        ASSERT_FALSE(store->list("s" + std::to_string(s), TimestampKind::producer, media::Timestamp{},
                                 media::Timestamp::from_milliseconds(1000), 1000, "", page));
        ASSERT_EQ(page.fragments.size(), static_cast<std::size_t>(kPerStream));
        for (int i = 0; i < kPerStream; ++i) {
            Fragment f;
            ASSERT_FALSE(store->read("s" + std::to_string(s), page.fragments[i].number, f));
            EXPECT_EQ(*f.bytes, fragment_bytes(s * 1000 + i, 4096));
        }
    }
}

TEST(FragmentStore, ReadersAlongsideAppendsOnlyEverSeeWholeFragments) {
    TempDir dir;
    auto options = test_options();
    options.segment_max_bytes = 64 * 1024;  // rolls while readers read
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("s", 1));
    std::atomic<bool> done{false};
    std::atomic<int> reads{0};
    std::atomic<int> bad{0};
    std::thread reader([&] {
        while (!done) {
            FragmentPage page;
            if (store->list("s", TimestampKind::producer, media::Timestamp{},
                            media::Timestamp::from_milliseconds(1 << 30), 1000, "", page)) {
                ++bad;
                continue;
            }
            for (const auto& info : page.fragments) {
                Fragment f;
                // Fragment i has producer timestamp i ms and seed i.
                const auto i = static_cast<std::uint64_t>(info.producer_timestamp.milliseconds());
                if (store->read("s", info.number, f) || *f.bytes != fragment_bytes(i, 1000 + i % 3000)) ++bad;
                ++reads;
            }
        }
    });
    // No ASSERT while the reader runs: it must be joined whatever happens.
    bool appended = true;
    for (int i = 0; i < 300 && appended; ++i) {
        FragmentNumber n = 0;
        appended = !store->append("s", fragment_bytes(i, 1000 + i % 3000), metadata_at(i, i), n);
        if (i % 50 == 0) appended = appended && !store->flush();
    }
    appended = appended && !store->flush();
    done = true;
    reader.join();
    EXPECT_TRUE(appended);
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(reads.load(), 0);
}

TEST(FragmentStore, SegmentsRollByAgeAndAllStayReadableAfterReopen) {
    TempDir dir;
    auto options = test_options();
    options.segment_max_age = std::chrono::seconds(0);  // every append starts a new segment
    std::vector<FragmentNumber> numbers;
    {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        for (int i = 0; i < 10; ++i) {
            FragmentNumber n = 0;
            ASSERT_FALSE(store->append("s", fragment_bytes(i, 500), metadata_at(i, i), n));
            numbers.push_back(n);
        }
        ASSERT_FALSE(store->flush());
    }
    std::size_t segments = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / "streams" / "s")) {
        segments += e.path().extension() == ".seg";
    }
    EXPECT_EQ(segments, 10u);
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("s", 1));
    for (int i = 0; i < 10; ++i) {
        Fragment f;
        ASSERT_FALSE(store->read("s", numbers[i], f));
        EXPECT_EQ(*f.bytes, fragment_bytes(i, 500));
    }
    FragmentInfo info;
    ASSERT_FALSE(
        store->find_at_or_after("s", TimestampKind::server, media::Timestamp::from_milliseconds(7), info));
    EXPECT_EQ(info.number, numbers[7]);
}

TEST(FragmentStore, TheCommitQueueIsBounded) {
    TempDir dir;
    auto options = test_options();
    options.max_pending_bytes = 1000;
    options.commit_max_wait = std::chrono::seconds(3600);  // nothing syncs until flush()
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("s", 1));
    FragmentNumber first = 0, second = 0;
    ASSERT_FALSE(store->append("s", fragment_bytes(1, 600), metadata_at(1, 1), first));
    EXPECT_EQ(store->append("s", fragment_bytes(2, 600), metadata_at(2, 2), second),
              make_error_code(Errc::commit_backlog));
    ASSERT_FALSE(store->flush());  // starts the round at once, despite commit_max_wait
    ASSERT_FALSE(store->append("s", fragment_bytes(2, 600), metadata_at(2, 2), second));
    ASSERT_FALSE(store->flush());
    FragmentPage page;
    ASSERT_FALSE(store->list("s", TimestampKind::producer, media::Timestamp{},
                             media::Timestamp::from_milliseconds(10), 10, "", page));
    ASSERT_EQ(page.fragments.size(), 2u);
    EXPECT_EQ(page.fragments[0].number, first);
    EXPECT_EQ(page.fragments[1].number, second);
}

TEST(FragmentStore, RetentionZeroKeepsABoundedMemoryWindowAndWritesNothing) {
    TempDir dir;
    auto options = test_options();
    options.memory_window_fragments = 5;
    options.memory_window_bytes = 1 << 20;
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("live", 0));
    HeaderId header = 0;
    ASSERT_FALSE(store->put_header("live", std::vector<std::uint8_t>{1, 2}, header));
    std::vector<FragmentNumber> numbers;
    std::atomic<int> committed{0};
    for (int i = 0; i < 12; ++i) {
        FragmentNumber n = 0;
        ASSERT_FALSE(store->append("live", fragment_bytes(i, 1000), metadata_at(i * 1000, i * 1000, header),
                                   n, [&](FragmentNumber, std::error_code ec) {
                                       if (!ec) ++committed;
                                   }));
        numbers.push_back(n);
    }
    ASSERT_FALSE(store->flush());
    EXPECT_EQ(committed.load(), 12);
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "streams" / "live"));
    Fragment f;
    EXPECT_EQ(store->read("live", numbers[6], f), make_error_code(Errc::fragment_not_found));
    ASSERT_FALSE(store->read("live", numbers[7], f));
    EXPECT_EQ(*f.bytes, fragment_bytes(7, 1000));
    FragmentInfo info;
    ASSERT_FALSE(store->oldest("live", info));
    EXPECT_EQ(info.number, numbers[7]);
    ASSERT_FALSE(store->find_at_or_after("live", TimestampKind::producer,
                                         media::Timestamp::from_milliseconds(9500), info));
    EXPECT_EQ(info.number, numbers[10]);
    std::shared_ptr<const std::vector<std::uint8_t>> got;
    EXPECT_FALSE(store->get_header("live", header, got));
}

TEST(FragmentStore, RaisingRetentionFromZeroPersistsTheSessionHeader) {
    TempDir dir;
    const std::vector<std::uint8_t> mkv_header = {0x1A, 0x45, 0xDF, 0xA3, 7};
    HeaderId id = 0;
    FragmentNumber n = 0;
    {
        auto store = FragmentStore::open(dir.path(), test_options());
        ASSERT_FALSE(store->open_stream("s", 0));
        ASSERT_FALSE(store->put_header("s", mkv_header, id));
        ASSERT_FALSE(store->append("s", fragment_bytes(1, 100), metadata_at(1, 1, id), n));
        ASSERT_FALSE(store->set_retention("s", 24));
        // The same producer session goes on: same header, now stored on disk.
        HeaderId again = 0;
        ASSERT_FALSE(store->put_header("s", mkv_header, again));
        EXPECT_EQ(again, id);
        ASSERT_FALSE(store->append("s", fragment_bytes(2, 100), metadata_at(2, 2, id), n));
        ASSERT_FALSE(store->flush());
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 24));
    Fragment f;
    ASSERT_FALSE(store->read("s", n, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(2, 100));
    std::shared_ptr<const std::vector<std::uint8_t>> header;
    ASSERT_FALSE(store->get_header("s", f.info.header_id, header));
    EXPECT_EQ(*header, mkv_header);
}

TEST(FragmentStore, MemoryWindowIsBoundedByBytes) {
    TempDir dir;
    auto options = test_options();
    options.memory_window_fragments = 100;
    options.memory_window_bytes = 10'000;
    auto store = FragmentStore::open(dir.path(), options);
    ASSERT_FALSE(store->open_stream("live", 0));
    FragmentNumber n = 0;
    for (int i = 0; i < 10; ++i)
        ASSERT_FALSE(store->append("live", fragment_bytes(i, 3000), metadata_at(i, i), n));
    ASSERT_FALSE(store->flush());
    FragmentPage page;
    ASSERT_FALSE(store->list("live", TimestampKind::producer, media::Timestamp{},
                             media::Timestamp::from_milliseconds(100), 100, "", page));
    EXPECT_EQ(page.fragments.size(), 3u);  // 3 x 3000 <= 10000 < 4 x 3000
}

TEST(FragmentStore, DeleteStreamRemovesItsData) {
    TempDir dir;
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("gone", 1));
    FragmentNumber n = 0;
    ASSERT_FALSE(store->append("gone", fragment_bytes(1, 100), metadata_at(0, 0), n));
    ASSERT_FALSE(store->flush());
    ASSERT_FALSE(store->delete_stream("gone"));
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "streams" / "gone"));
    Fragment f;
    EXPECT_EQ(store->read("gone", n, f), make_error_code(Errc::resource_not_found));
    EXPECT_EQ(store->delete_stream("gone"), make_error_code(Errc::resource_not_found));
    // A stream with data on disk that was not opened since the start is deleted too.
    {
        auto other = FragmentStore::open(dir.path() / "other", test_options());
        ASSERT_FALSE(other->open_stream("cold", 1));
        ASSERT_FALSE(other->append("cold", fragment_bytes(1, 100), metadata_at(0, 0), n));
        ASSERT_FALSE(other->flush());
    }
    {
        auto other = FragmentStore::open(dir.path() / "other", test_options());
        EXPECT_FALSE(other->delete_stream("cold"));
        EXPECT_FALSE(std::filesystem::exists(dir.path() / "other" / "streams" / "cold"));
    }
    // Re-creating it starts empty.
    ASSERT_FALSE(store->open_stream("gone", 1));
    FragmentInfo info;
    EXPECT_EQ(store->newest("gone", info), make_error_code(Errc::fragment_not_found));
}

}  // namespace
}  // namespace kinema::storage
