// Group commit: one dedicated thread makes appended fragments durable. Each round takes every fragment
// appended so far (across all streams), writes what their segments have staged (one direct-I/O write per
// segment, staged_writes.h), syncs the files they touch with as few calls as possible, then publishes them
// to the readers and fires their callbacks. Callers never block on a write or a sync.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "record.h"
#include "segment_file.h"
#include "staged_writes.h"
#include "write_pool.h"

namespace kinema::storage {

class StreamLog;

struct PendingCommit {
    std::shared_ptr<StreamLog> stream;  // null: a flush barrier
    std::shared_ptr<Segment> segment;   // null: a fragment of a retention-0 stream's memory window
    IndexEntry entry;
    // Memory-window fragments only: what readers get once it is published.
    std::shared_ptr<const FragmentMetadata> metadata;
    std::shared_ptr<const std::vector<std::uint8_t>> bytes;
    CommitCallback on_commit;
    std::function<void(std::error_code)> on_barrier;
};

class GroupCommitter {
public:
    // A round that touches one file syncs it with fdatasync; a round that touches more (several streams, or
    // a new segment's directory) makes one syncfs() of the data directory's file system instead: one journal
    // commit and device flush for all of them rather than one each. (syncfs also flushes unrelated dirty
    // data on that file system: give the data directory its own file system in production.)
    static constexpr std::size_t kMaxSeparateSyncs = 1;

    // Uses options.commit_max_wait and the sync_fault and on_sync hooks; `options` must outlive it.
    GroupCommitter(const std::filesystem::path& root, const StoreOptions& options);
    ~GroupCommitter();
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // Queues a fragment for the next round: closed once stopped, commit_backlog when
    // options.max_pending_bytes would be exceeded (the fragment is then not accepted).
    std::error_code submit(PendingCommit&& pending);
    // Whether a fragment of `bytes` would fit under options.max_pending_bytes now (checked before writing
    // it).
    bool has_room(std::uint64_t bytes);
    // Bytes queued or being written and synced.
    std::uint64_t pending_bytes();
    // Waits until everything submitted before the call is done; starts the round at once.
    std::error_code flush();
    // Finishes what was submitted, then stops the thread. Idempotent.
    void stop();

    // Memory for staged records (appends take chunks, the commit thread gives them back).
    ChunkPool& pool() { return pool_; }

    std::uint64_t syncs() const { return syncs_.load(); }
    std::uint64_t fragments_committed() const { return committed_.load(); }
    std::chrono::nanoseconds sync_time() const { return std::chrono::nanoseconds(sync_ns_.load()); }

private:
    void run();
    void process(std::vector<PendingCommit>& batch);
    std::error_code sync_batch(const std::vector<PendingCommit>& batch);
    // Writes what the batch's segments have staged; the segments whose write failed go into `failed`.
    void write_staged(const std::vector<PendingCommit>& batch, std::map<Segment*, std::error_code>& failed);

    // What a busy ingest recycles between rounds (512 chunks): a few rounds of a stream at 1 GB/s, or of
    // hundreds of cameras. Staging memory the pool does not keep goes back to the kernel, and the next
    // append that needs it touches fresh pages: at 32 MiB, one fast stream spent 5% of the server's CPU in
    // page faults inside the staging copy (a hypervisor fault each on a VM). At most this much stays
    // resident after a burst; max_pending_bytes bounds what a burst can take.
    static constexpr std::size_t kPoolKeepBytes = 128ull << 20;
    ChunkPool pool_{kPoolKeepBytes};
    // Direct writes of different segments in one round run side by side on these (write_pool.h).
    static constexpr std::size_t kWriteThreads = 4;
    WritePool writers_{kWriteThreads};
    int root_fd_ = -1;
    const StoreOptions& options_;
    std::chrono::microseconds max_wait_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<PendingCommit> queue_;
    std::chrono::steady_clock::time_point first_queued_;
    bool stopping_ = false;
    bool urgent_ = false;              // a flush is waiting: skip commit_max_wait
    std::uint64_t pending_bytes_ = 0;  // queued or being synced
    std::atomic<std::uint64_t> syncs_{0};
    std::atomic<std::uint64_t> committed_{0};
    std::atomic<std::int64_t> sync_ns_{0};
    std::thread thread_;
};

}  // namespace kinema::storage
