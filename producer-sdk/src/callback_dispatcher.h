// The stream's callback thread. Events that happen on the network thread (ACKs, errors, connection state)
// are queued here and run one at a time on a thread of their own, so a slow user callback never holds up
// the network thread, and a callback may call the stream's own stop() or flush() without deadlocking.
//
// The queue is bounded (a callback that never returns must not grow memory without bound): when it is full
// the new event is dropped and counted. The thread starts with the first event, so a stream without
// callbacks has no callback thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace kinema::producer {

class CallbackDispatcher {
public:
    using SteadyTime = std::chrono::steady_clock::time_point;

    explicit CallbackDispatcher(std::size_t max_pending = 4096);
    // Stops accepting events, drops what has not started and waits for a running callback to return
    // (unless called on the callback thread itself: the thread then finishes on its own).
    ~CallbackDispatcher();
    CallbackDispatcher(const CallbackDispatcher&) = delete;
    CallbackDispatcher& operator=(const CallbackDispatcher&) = delete;

    // Queues `task`. False when it was dropped: the queue is full, or the dispatcher is stopped.
    bool post(std::function<void()> task);

    // Runs what is queued until the queue is empty or `deadline` passes, then stops the thread; events not
    // started by then are dropped. Never waits past `deadline` for a callback that does not return. Called
    // from a callback (on the callback thread), it returns at once and the thread ends after running what
    // is queued, once that callback has returned.
    void stop(SteadyTime deadline);

    // What the destructor does, earlier: drops what has not started and waits for a running callback.
    void close();

    bool on_callback_thread() const;
    // Events dropped because the queue was full or the dispatcher stopped before running them.
    std::uint64_t dropped() const;

    struct Core;

private:
    std::shared_ptr<Core> core_;
};

}  // namespace kinema::producer
