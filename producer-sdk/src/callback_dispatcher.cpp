#include "callback_dispatcher.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace kinema::producer {

struct CallbackDispatcher::Core {
    const std::size_t max_pending;
    std::mutex mutex;
    std::condition_variable changed;  // an event was queued, one finished, or the state changed
    std::deque<std::function<void()>> queue;
    bool accepting = true;
    bool exit_now = false;         // stop at once; drop what is queued
    bool exit_when_empty = false;  // stop once the queue is empty (stop() called from a callback)
    bool running = false;          // a callback is running
    std::uint64_t dropped = 0;
    std::thread thread;
    std::thread::id thread_id;

    explicit Core(std::size_t max) : max_pending(max) {}

    void run() {
        std::unique_lock lock(mutex);
        for (;;) {
            changed.wait(lock, [&] { return exit_now || exit_when_empty || !queue.empty(); });
            if (exit_now || queue.empty()) break;
            std::function<void()> task = std::move(queue.front());
            queue.pop_front();
            running = true;
            lock.unlock();
            // A throwing user callback must not take the thread (and every later event) down with it;
            // the exception belongs to the callback, which had no one to report it to.
            try {
                task();
            } catch (...) {
            }
            task = nullptr;  // captured state goes now, not when the next event arrives
            lock.lock();
            running = false;
            changed.notify_all();
        }
        dropped += queue.size();
        queue.clear();
    }
};

CallbackDispatcher::CallbackDispatcher(std::size_t max_pending)
    : core_(std::make_shared<Core>(max_pending)) {}

CallbackDispatcher::~CallbackDispatcher() {
    close();
}

void CallbackDispatcher::close() {
    {
        std::lock_guard lock(core_->mutex);
        core_->accepting = false;
        core_->exit_now = true;
        core_->dropped += core_->queue.size();
        core_->queue.clear();
        core_->changed.notify_all();
    }
    if (!core_->thread.joinable()) return;
    // Destroyed from inside a callback: the thread cannot join itself; it holds the core and ends after
    // that callback returns.
    if (std::this_thread::get_id() == core_->thread.get_id())
        core_->thread.detach();
    else
        core_->thread.join();
}

bool CallbackDispatcher::post(std::function<void()> task) {
    std::lock_guard lock(core_->mutex);
    if (!core_->accepting || core_->queue.size() >= core_->max_pending) {
        ++core_->dropped;
        return false;
    }
    core_->queue.push_back(std::move(task));
    if (!core_->thread.joinable()) {
        core_->thread = std::thread([core = core_] { core->run(); });
        core_->thread_id = core_->thread.get_id();
    }
    core_->changed.notify_all();
    return true;
}

void CallbackDispatcher::stop(SteadyTime deadline) {
    std::unique_lock lock(core_->mutex);
    core_->accepting = false;
    if (!core_->thread.joinable()) return;
    if (std::this_thread::get_id() == core_->thread_id) {
        core_->exit_when_empty = true;
        return;
    }
    core_->changed.wait_until(lock, deadline, [&] { return core_->queue.empty() && !core_->running; });
    core_->exit_now = true;
    core_->dropped += core_->queue.size();
    core_->queue.clear();
    // The thread ends once it sees exit_now; a callback still running past the deadline is waited for by
    // the destructor, not here.
    core_->changed.notify_all();
}

bool CallbackDispatcher::on_callback_thread() const {
    std::lock_guard lock(core_->mutex);
    return core_->thread.joinable() && std::this_thread::get_id() == core_->thread_id;
}

std::uint64_t CallbackDispatcher::dropped() const {
    std::lock_guard lock(core_->mutex);
    return core_->dropped;
}

}  // namespace kinema::producer
