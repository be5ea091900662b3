// Retention: whole segments past the stream's retention are deleted; reads into them get a clean
// not-found; what is left survives a reopen.
#include <gtest/gtest.h>

#include <atomic>

#include "kinema/storage/error.h"
#include "kinema/storage/fragment_store.h"
#include "storage_test_util.h"

namespace kinema::storage {
namespace {

namespace fs = std::filesystem;
using test::fragment_bytes;
using test::metadata_at;
using test::TempDir;

constexpr std::int64_t kHourMs = 3'600'000;

class Retention : public ::testing::Test {
protected:
    StoreOptions options() {
        StoreOptions o;
        o.retention_sweep_interval = std::chrono::milliseconds(0);
        o.commit_max_wait = std::chrono::microseconds(0);
        // 4 fragments per segment: fill() commits each in its own round, and each round's write starts on a
        // 4096-byte boundary (storage/src/staged_writes.h), so the fourth ends past 3 x 4096.
        o.segment_max_bytes = 3 * 4096;
        o.clock = [this] { return media::Timestamp::from_milliseconds(now_ms_.load()); };
        return o;
    }
    std::size_t segment_files() const {
        std::size_t n = 0;
        for (const auto& e : fs::directory_iterator(dir_.path() / "streams" / "s"))
            n += e.path().extension() == ".seg";
        return n;
    }
    // 20 fragments, fragment i arriving at hour i.
    void fill(FragmentStore& store) {
        for (int i = 0; i < 20; ++i) {
            FragmentNumber n = 0;
            ASSERT_FALSE(store.append("s", fragment_bytes(i, 200), metadata_at(i * kHourMs, i * kHourMs), n));
            ASSERT_FALSE(store.flush());
            numbers_.push_back(n);
        }
    }

    TempDir dir_;
    std::atomic<std::int64_t> now_ms_{0};
    std::vector<FragmentNumber> numbers_;
};

TEST_F(Retention, SweepDeletesOnlyWholeExpiredSegments) {
    auto store = FragmentStore::open(dir_.path(), options());
    ASSERT_FALSE(store->open_stream("s", 5));
    fill(*store);
    const auto before = segment_files();
    ASSERT_EQ(before, 5u);
    now_ms_ = 5 * kHourMs;
    EXPECT_EQ(store->sweep_retention(), 0u);  // the first segment's newest fragment (hour 3) is 2 hours old
    // Segments hold 4 fragments (hours 0-3, 4-7, ..., 16-19). At hour 22 the cutoff is hour 17: the first
    // four segments go; the last one stays whole, with hour 16 although that fragment alone is too old.
    now_ms_ = 22 * kHourMs;
    const auto removed = store->sweep_retention();
    EXPECT_EQ(removed, before - 1);
    EXPECT_EQ(segment_files(), 1u);
    FragmentInfo oldest;
    ASSERT_FALSE(store->oldest("s", oldest));
    EXPECT_EQ(oldest.number, numbers_[16]);
    for (std::size_t i = 0; i < numbers_.size(); ++i) {
        Fragment f;
        const auto ec = store->read("s", numbers_[i], f);
        if (numbers_[i] < oldest.number) {
            EXPECT_EQ(ec, make_error_code(Errc::fragment_not_found)) << i;
        } else {
            ASSERT_FALSE(ec) << i;
            EXPECT_EQ(*f.bytes, fragment_bytes(i, 200));
        }
    }
    FragmentPage page;
    ASSERT_FALSE(store->list("s", TimestampKind::server, media::Timestamp{},
                             media::Timestamp::from_milliseconds(100 * kHourMs), 1000, "", page));
    ASSERT_FALSE(page.fragments.empty());
    EXPECT_EQ(page.fragments.front().number, oldest.number);
    const auto kept = page.fragments.size();
    store.reset();
    // Deletions persist; the reopened log agrees.
    store = FragmentStore::open(dir_.path(), options());
    ASSERT_FALSE(store->open_stream("s", 5));
    ASSERT_FALSE(store->list("s", TimestampKind::server, media::Timestamp{},
                             media::Timestamp::from_milliseconds(100 * kHourMs), 1000, "", page));
    EXPECT_EQ(page.fragments.size(), kept);
}

TEST_F(Retention, LoweringRetentionAndFullExpiryLeaveAWorkingEmptyStream) {
    auto store = FragmentStore::open(dir_.path(), options());
    ASSERT_FALSE(store->open_stream("s", 1000));
    fill(*store);
    now_ms_ = 30 * kHourMs;
    EXPECT_EQ(store->sweep_retention(), 0u);
    ASSERT_FALSE(store->set_retention("s", 1));
    EXPECT_GT(store->sweep_retention(), 0u);
    FragmentInfo info;
    EXPECT_EQ(store->newest("s", info), make_error_code(Errc::fragment_not_found));
    EXPECT_EQ(segment_files(), 0u);
    FragmentNumber n = 0;
    ASSERT_FALSE(store->append("s", fragment_bytes(99, 200), metadata_at(30 * kHourMs, 30 * kHourMs), n));
    ASSERT_FALSE(store->flush());
    EXPECT_GT(n, numbers_.back());
    Fragment f;
    ASSERT_FALSE(store->read("s", n, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(99, 200));
}

}  // namespace
}  // namespace kinema::storage
