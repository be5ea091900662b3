// Write-behind for segment data. An append copies its record into memory here; the commit thread writes
// what a segment has staged with one direct-I/O write (O_DIRECT: no page-cache copy) right before its sync.
//
// Why not buffered writes: the page cache copy was most of ingest's CPU (copy_folio_from_iter_atomic, up to
// half of a core at 1 GB/s on the benchmark VM, where every freshly allocated page-cache page also costs a
// hypervisor fault), and video written once is rarely read back soon enough for the cache to pay. Redpanda's
// log and ScyllaDB's commitlog bypass the page cache for the same reason. Readers still use buffered reads.
//
// Direct I/O needs offsets, lengths and memory aligned to the device's block: each commit round's write
// starts on a kDirectIoAlignment boundary and is padded with zeros to the next one, so a block once written
// is never written again (which also keeps buffered readers of published records clear of blocks the
// commit thread is writing). The next record after a round starts at that boundary: docs/storage-format.md.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <vector>

namespace kinema::storage {

// Covers the logical block of every device Linux supports direct I/O on (512 or 4096 bytes).
inline constexpr std::uint64_t kDirectIoAlignment = 4096;

constexpr std::uint64_t align_up(std::uint64_t offset) {
    return (offset + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
}

// Aligned memory chunks, recycled: staging keeps reusing the same pages rather than asking the kernel for
// fresh ones at every round. Thread-safe.
class ChunkPool {
public:
    static constexpr std::size_t kChunkBytes = 256 << 10;
    struct FreeChunk {
        void operator()(std::uint8_t* p) const { std::free(p); }
    };
    using Chunk = std::unique_ptr<std::uint8_t[], FreeChunk>;

    // Keeps up to `keep_bytes` of released chunks for reuse; frees the rest.
    explicit ChunkPool(std::size_t keep_bytes) : keep_(keep_bytes / kChunkBytes) {}
    Chunk acquire();  // throws std::bad_alloc
    void release(std::vector<Chunk>& chunks);

private:
    std::mutex mutex_;
    std::vector<Chunk> free_;
    std::size_t keep_;
};

// The records of one segment appended since the commit thread last took them. Every member function except
// the constructor requires `mutex` held: appends hold it from staging a record until the commit thread has
// it queued, so the commit thread never takes a record whose append may still be undone.
class StagedWrites {
public:
    std::mutex mutex;

    // Where the next record starts in the file.
    std::uint64_t next_offset() const { return base_ + bytes_; }
    bool empty() const { return bytes_ == 0; }
    // Copies one record (its buffers, back to back) to the end; all of it or, if memory runs out
    // (std::bad_alloc), nothing.
    void append(std::span<const std::span<const std::uint8_t>> buffers, ChunkPool& pool);
    // Drops the last `bytes` staged (the record just appended, which the commit thread refused).
    void take_back(std::uint64_t bytes);

    struct Write {
        std::uint64_t offset = 0;  // aligned
        std::uint64_t bytes = 0;   // aligned: the records and their zero padding
        std::vector<ChunkPool::Chunk> chunks;
    };
    // Moves everything staged into `out`, padded with zeros to the alignment; the next record starts after
    // the padding. Leaves `out` empty when nothing is staged.
    void take(Write& out);
    // Drops everything staged (given back to `pool`); the next record starts at align_up(end).
    void reset(std::uint64_t end, ChunkPool& pool);
    // For a segment just recovered (nothing staged): the next record starts at align_up(end).
    void start_at(std::uint64_t end) { base_ = align_up(end); }

private:
    std::uint64_t base_ = 0;   // file offset of the first staged byte (aligned)
    std::uint64_t bytes_ = 0;  // staged since base_
    std::vector<ChunkPool::Chunk> chunks_;
};

}  // namespace kinema::storage
