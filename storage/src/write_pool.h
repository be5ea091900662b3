// Threads for a commit round's direct writes. A direct write blocks until the device has the data, so
// one segment after the other a round takes the sum of its writes: 200 streams whose 1 s fragments end
// together took 400 ms that way, where the page cache used to take them at memory speed and let one sync
// write them all at once. The pool runs them side by side (the device queues them).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kinema::storage {

class WritePool {
public:
    explicit WritePool(std::size_t threads);
    ~WritePool();
    WritePool(const WritePool&) = delete;
    WritePool& operator=(const WritePool&) = delete;

    // Calls job(i) once for every i < count, on the pool's threads and the calling one, and returns when
    // all calls have returned. One caller at a time (the commit thread).
    void run(std::size_t count, const std::function<void(std::size_t)>& job);

private:
    void work();

    std::mutex mutex_;
    std::condition_variable start_;
    std::condition_variable done_;
    const std::function<void(std::size_t)>* job_ = nullptr;
    std::size_t count_ = 0;
    std::size_t next_ = 0;      // the next index to hand out
    std::uint64_t round_ = 0;   // incremented by run()
    std::size_t finished_ = 0;  // workers done with the current round
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace kinema::storage
