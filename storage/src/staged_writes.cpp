#include "staged_writes.h"

#include <algorithm>
#include <cstring>
#include <new>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kinema::storage {
namespace {

// Copies into staging with non-temporal stores. What is staged is not read again by this CPU: the commit
// thread hands it to the device (O_DIRECT), so pulling every destination line into the cache first (the
// read-for-ownership of an ordinary store) is a third of the memory traffic for nothing, and it evicts the
// next fragment's bytes the network thread is about to parse. glibc's memcpy switches to such stores only
// above about three quarters of the last-level cache (megabytes), far more than one record; SSE2 is part
// of x86-64, so no CPU check is needed. The caller fences (finish_streaming_copies) before it publishes.
void copy_to_staging(std::uint8_t* to, const std::uint8_t* from, std::size_t n) noexcept {
#if defined(__x86_64__)
    const std::size_t head = std::min(n, (16 - (reinterpret_cast<std::uintptr_t>(to) & 15)) & 15);
    std::memcpy(to, from, head);
    to += head;
    from += head;
    n -= head;
    for (; n >= 64; n -= 64, to += 64, from += 64) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 16));
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 32));
        const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 48));
        _mm_stream_si128(reinterpret_cast<__m128i*>(to), a);
        _mm_stream_si128(reinterpret_cast<__m128i*>(to + 16), b);
        _mm_stream_si128(reinterpret_cast<__m128i*>(to + 32), c);
        _mm_stream_si128(reinterpret_cast<__m128i*>(to + 48), d);
    }
#endif
    std::memcpy(to, from, n);
}

// Non-temporal stores are not ordered by the release of a mutex: this fence makes them visible to the
// commit thread before the staged record can be taken.
void finish_streaming_copies() noexcept {
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

}  // namespace

ChunkPool::Chunk ChunkPool::acquire() {
    {
        std::lock_guard lock(mutex_);
        if (!free_.empty()) {
            Chunk chunk = std::move(free_.back());
            free_.pop_back();
            return chunk;
        }
    }
    auto* memory = static_cast<std::uint8_t*>(std::aligned_alloc(kDirectIoAlignment, kChunkBytes));
    if (!memory) throw std::bad_alloc();
    return Chunk(memory);
}

void ChunkPool::release(std::vector<Chunk>& chunks) {
    {
        std::lock_guard lock(mutex_);
        for (auto& chunk : chunks) {
            if (free_.size() >= keep_) break;
            free_.push_back(std::move(chunk));
        }
    }
    chunks.clear();  // frees what the pool did not keep, outside its lock
}

void StagedWrites::append(std::span<const std::span<const std::uint8_t>> buffers, ChunkPool& pool) {
    const std::uint64_t start = bytes_;
    try {
        for (auto buffer : buffers) {
            while (!buffer.empty()) {
                const std::size_t used = bytes_ % ChunkPool::kChunkBytes;
                if (used == 0 && bytes_ / ChunkPool::kChunkBytes == chunks_.size())
                    chunks_.push_back(pool.acquire());
                const std::size_t n = std::min(buffer.size(), ChunkPool::kChunkBytes - used);
                copy_to_staging(chunks_.back().get() + used, buffer.data(), n);
                bytes_ += n;
                buffer = buffer.subspan(n);
            }
        }
        finish_streaming_copies();
    } catch (...) {
        finish_streaming_copies();
        take_back(bytes_ - start);  // no partial record stays staged
        throw;
    }
}

void StagedWrites::take_back(std::uint64_t bytes) {
    bytes_ -= std::min(bytes, bytes_);
    // Chunks past the new end go; a chunk partly in use stays.
    const std::size_t keep =
        static_cast<std::size_t>((bytes_ + ChunkPool::kChunkBytes - 1) / ChunkPool::kChunkBytes);
    chunks_.resize(keep);
}

void StagedWrites::take(Write& out) {
    out = Write{};
    if (bytes_ == 0) return;
    const std::uint64_t padded = align_up(bytes_);
    const std::size_t used = bytes_ % ChunkPool::kChunkBytes;
    // The last chunk's padding stays inside it: chunks are a multiple of the alignment.
    if (used != 0) std::memset(chunks_.back().get() + used, 0, static_cast<std::size_t>(padded - bytes_));
    out.offset = base_;
    out.bytes = padded;
    out.chunks = std::move(chunks_);
    chunks_.clear();
    base_ += padded;
    bytes_ = 0;
}

void StagedWrites::reset(std::uint64_t end, ChunkPool& pool) {
    pool.release(chunks_);
    base_ = align_up(end);
    bytes_ = 0;
}

}  // namespace kinema::storage
