#include "group_commit.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <system_error>

#include "fragment_log.h"
#include "kinema/storage/error.h"

namespace kinema::storage {

GroupCommitter::GroupCommitter(const std::filesystem::path& root, const StoreOptions& options)
    : options_(options), max_wait_(options.commit_max_wait) {
    root_fd_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + root.string());
    thread_ = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "kinema-commit");
        run();
    });
}

GroupCommitter::~GroupCommitter() {
    stop();
    if (root_fd_ >= 0) ::close(root_fd_);
}

std::error_code GroupCommitter::submit(PendingCommit&& pending) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return Errc::closed;
        const std::uint64_t bytes = pending.entry.size;
        if (bytes > 0 && pending_bytes_ + bytes > options_.max_pending_bytes) return Errc::commit_backlog;
        pending_bytes_ += bytes;
        // The committer waits for a first entry, then for the round's window to pass (or urgent_): later
        // entries of a round need not wake it, and at thousands of fragments a second waking it for
        // nothing costs a context switch each.
        wake = queue_.empty() || urgent_;
        if (queue_.empty()) first_queued_ = std::chrono::steady_clock::now();
        queue_.push_back(std::move(pending));
    }
    if (wake) wake_.notify_one();
    return {};
}

bool GroupCommitter::has_room(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    return pending_bytes_ + bytes <= options_.max_pending_bytes;
}

std::uint64_t GroupCommitter::pending_bytes() {
    std::lock_guard lock(mutex_);
    return pending_bytes_;
}

std::error_code GroupCommitter::flush() {
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto result = done->get_future();
    PendingCommit barrier;
    barrier.on_barrier = [done](std::error_code ec) { done->set_value(ec); };
    {
        std::lock_guard lock(mutex_);
        urgent_ = true;
    }
    if (auto ec = submit(std::move(barrier))) return ec;
    return result.get();
}

void GroupCommitter::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void GroupCommitter::run() {
    std::vector<PendingCommit> batch;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything is done
            // Let more fragments join this round, up to max_wait after the first one arrived.
            if (max_wait_.count() > 0 && !stopping_ && !urgent_) {
                wake_.wait_until(lock, first_queued_ + max_wait_, [this] { return stopping_ || urgent_; });
            }
            urgent_ = false;
            batch.swap(queue_);
        }
        process(batch);
        batch.clear();
    }
}

std::error_code GroupCommitter::sync_batch(const std::vector<PendingCommit>& batch) {
    std::set<Segment*> segments;
    std::set<StreamLog*> streams;
    for (const auto& p : batch) {
        if (p.segment) segments.insert(p.segment.get());
        if (p.stream) streams.insert(p.stream.get());
    }
    std::vector<StreamLog*> headers;
    for (auto* s : streams) {
        if (s->take_headers_dirty()) headers.push_back(s);
    }
    std::set<const std::filesystem::path*> dirs;
    std::set<Segment*> new_segments;
    for (auto* seg : segments) {
        if (seg->needs_dir_sync.exchange(false)) new_segments.insert(seg);
    }
    for (const auto& p : batch) {
        if (p.segment && new_segments.contains(p.segment.get())) dirs.insert(&p.stream->dir());
    }
    const std::size_t files = segments.size() + headers.size() + dirs.size();
    std::error_code ec;
    if (files == 0) return {};
    const auto started = std::chrono::steady_clock::now();
    if (options_.sync_fault) {
        if (auto fault = options_.sync_fault()) {
            ec = fault.category() == storage_category() ? fault : errno_to_error(fault.value());
        }
    }
    if (ec) {
        // Injected failure: behave as if the sync had failed.
    } else if (files > kMaxSeparateSyncs) {
        syncs_.fetch_add(1);
        if (::syncfs(root_fd_) != 0) ec = errno_to_error(errno);
    } else {
        // Stop at the first failure: the round fails as a whole.
        for (auto* seg : segments) {
            if (ec) break;
            syncs_.fetch_add(1);
            ec = seg->data.sync_data();
        }
        for (auto* s : headers) {
            if (ec) break;
            syncs_.fetch_add(1);
            ec = s->sync_headers();
        }
        for (auto* dir : dirs) {
            if (ec) break;
            syncs_.fetch_add(1);
            ec = sync_directory(*dir);
        }
    }
    const auto took =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started);
    sync_ns_.fetch_add(took.count());
    if (options_.on_sync) {
        options_.on_sync(
            took, static_cast<std::size_t>(std::count_if(batch.begin(), batch.end(),
                                                         [](const PendingCommit& p) { return p.stream; })));
    }
    if (ec) {
        for (auto* s : headers)
            s->restore_headers_dirty();
        for (auto* seg : new_segments)
            seg->needs_dir_sync = true;
    }
    return ec;
}

void GroupCommitter::write_staged(const std::vector<PendingCommit>& batch,
                                  std::map<Segment*, std::error_code>& failed) {
    struct Job {
        Segment* segment;
        StagedWrites::Write write;
        std::error_code result;
    };
    std::vector<Job> jobs;
    std::set<Segment*> seen;
    for (const auto& p : batch) {
        if (!p.segment || !seen.insert(p.segment.get()).second) continue;
        Job job{p.segment.get(), {}, {}};
        {
            std::lock_guard lock(job.segment->staged.mutex);
            job.segment->staged.take(job.write);
        }
        // Nothing staged: written by an earlier round, with a record appended after it.
        if (job.write.bytes > 0) jobs.push_back(std::move(job));
    }
    writers_.run(jobs.size(), [&jobs, this](std::size_t i) {
        Job& job = jobs[i];
        std::vector<std::span<const std::uint8_t>> buffers;
        for (std::uint64_t at = 0; at < job.write.bytes; at += ChunkPool::kChunkBytes) {
            const auto n = static_cast<std::size_t>(
                std::min<std::uint64_t>(ChunkPool::kChunkBytes, job.write.bytes - at));
            buffers.emplace_back(job.write.chunks[at / ChunkPool::kChunkBytes].get(), n);
        }
        if (job.segment->failed) {
            job.result = Errc::io_error;
        } else if (auto fault = options_.staged_write_fault
                                    ? options_.staged_write_fault(job.segment->data.path(), job.write.bytes)
                                    : std::error_code{}) {
            job.result = fault.category() == storage_category() ? fault : errno_to_error(fault.value());
        } else {
            job.result = job.segment->writer.write_aligned(job.write.offset, buffers);
        }
        pool_.release(job.write.chunks);
    });
    for (const auto& job : jobs)
        if (job.result) failed[job.segment] = job.result;
}

void GroupCommitter::process(std::vector<PendingCommit>& batch) {
    std::map<Segment*, std::error_code> write_failed;
    write_staged(batch, write_failed);
    const std::error_code sync_ec = sync_batch(batch);
    if (sync_ec || !write_failed.empty()) {
        std::set<std::pair<StreamLog*, Segment*>> failed;
        for (const auto& p : batch) {
            if (p.segment && (sync_ec || write_failed.contains(p.segment.get())) &&
                failed.insert({p.stream.get(), p.segment.get()}).second) {
                p.stream->fail_segment(p.segment, pool_);
            }
        }
    }
    // Index entries of each segment, appended to its .idx file once durable (one write per segment).
    std::map<Segment*, std::pair<std::vector<std::uint8_t>, std::size_t>> index_writes;
    std::vector<std::error_code> results(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        if (!p.stream) continue;
        // A failed write's own error (disk_full, io_error) rather than publish()'s "segment failed".
        const auto write_error = p.segment ? write_failed.find(p.segment.get()) : write_failed.end();
        std::error_code ec = (sync_ec && p.segment)              ? sync_ec
                             : write_error != write_failed.end() ? write_error->second
                                                                 : p.stream->publish(p);
        results[i] = ec;
        if (ec) {
            p.stream->forget(p.entry.number);
            continue;
        }
        committed_.fetch_add(1);
        if (p.segment) {
            auto& [bytes, count] = index_writes[p.segment.get()];
            bytes.resize(bytes.size() + kIndexEntrySize);
            encode_index_entry(p.entry, bytes.data() + bytes.size() - kIndexEntrySize);
            ++count;
        }
    }
    for (auto& [segment, write] : index_writes) {
        // A failed index write is repaired at the next open by scanning the data file past the index.
        (void)segment->append_index(write.first, write.second);
    }
    // The round is done: its bytes leave the queue bound before anyone is told (a flush() that returns
    // must find the room again).
    std::uint64_t done = 0;
    for (const auto& p : batch)
        done += p.entry.size;
    {
        std::lock_guard lock(mutex_);
        pending_bytes_ -= done;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        if (!p.stream) {
            if (p.on_barrier) p.on_barrier({});
            continue;
        }
        if (!results[i]) p.stream->notify_tail(p.entry.info());
        if (p.on_commit) p.on_commit(p.entry.number, results[i]);
    }
}

}  // namespace kinema::storage
