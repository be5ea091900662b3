#include "write_pool.h"

#include <pthread.h>

namespace kinema::storage {

WritePool::WritePool(std::size_t threads) {
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
        threads_.emplace_back([this] {
            ::pthread_setname_np(::pthread_self(), "kinema-write");
            work();
        });
    }
}

WritePool::~WritePool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    start_.notify_all();
    for (auto& thread : threads_)
        thread.join();
}

void WritePool::run(std::size_t count, const std::function<void(std::size_t)>& job) {
    if (count <= 1 || threads_.empty()) {
        for (std::size_t i = 0; i < count; ++i)
            job(i);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        job_ = &job;
        count_ = count;
        next_ = 0;
        finished_ = 0;
        ++round_;
    }
    start_.notify_all();
    std::unique_lock lock(mutex_);
    while (next_ < count_) {
        const std::size_t i = next_++;
        lock.unlock();
        job(i);
        lock.lock();
    }
    // Every worker takes part in every round (if only to find nothing left), so none can still hold this
    // round's job when the next round starts.
    done_.wait(lock, [this] { return finished_ == threads_.size(); });
    job_ = nullptr;
}

void WritePool::work() {
    std::uint64_t seen = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
        start_.wait(lock, [&] { return stopping_ || round_ != seen; });
        if (stopping_) return;
        seen = round_;
        while (next_ < count_) {
            const std::size_t i = next_++;
            const auto* job = job_;
            lock.unlock();
            (*job)(i);
            lock.lock();
        }
        if (++finished_ == threads_.size()) done_.notify_one();
    }
}

}  // namespace kinema::storage
