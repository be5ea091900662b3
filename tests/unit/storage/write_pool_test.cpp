// The commit round's write threads: every job runs exactly once per round, round after round, and jobs of
// one round run side by side.
#include "write_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace kinema::storage {
namespace {

TEST(WritePool, EveryJobRunsOnceInEveryRound) {
    WritePool pool(4);
    for (std::size_t count : {0u, 1u, 2u, 7u, 64u, 3u}) {
        std::vector<std::atomic<int>> runs(count);
        pool.run(count, [&runs](std::size_t i) { runs[i].fetch_add(1); });
        for (std::size_t i = 0; i < count; ++i)
            EXPECT_EQ(runs[i].load(), 1) << "count " << count << " job " << i;
    }
}

TEST(WritePool, JobsOfARoundRunSideBySide) {
    WritePool pool(2);
    // Job 0 waits for job 1 to start: one after the other, it would wait out the bound and report false.
    std::mutex mutex;
    std::condition_variable started;
    bool second_started = false;
    bool overlapped = false;
    pool.run(2, [&](std::size_t i) {
        std::unique_lock lock(mutex);
        if (i == 1) {
            second_started = true;
            started.notify_all();
            return;
        }
        overlapped = started.wait_for(lock, std::chrono::seconds(30), [&] { return second_started; });
    });
    EXPECT_TRUE(overlapped);
}

TEST(WritePool, WithoutThreadsTheCallerRunsEverything) {
    WritePool pool(0);
    std::vector<int> order;
    pool.run(3, [&order](std::size_t i) { order.push_back(static_cast<int>(i)); });
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace kinema::storage
