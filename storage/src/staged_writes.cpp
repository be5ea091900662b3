#include "staged_writes.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace kinema::storage {

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
                std::memcpy(chunks_.back().get() + used, buffer.data(), n);
                bytes_ += n;
                buffer = buffer.subspan(n);
            }
        }
    } catch (...) {
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
