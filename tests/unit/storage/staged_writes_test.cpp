// Write-behind staging: records copied across chunk boundaries, padding to the direct-I/O alignment, a
// refused record taken back, and chunks recycled through the pool.
#include "staged_writes.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace kinema::storage {
namespace {

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    std::iota(v.begin(), v.end(), seed);
    return v;
}

// The bytes of a take, back to back.
std::vector<std::uint8_t> flatten(const StagedWrites::Write& write) {
    std::vector<std::uint8_t> out;
    for (std::uint64_t at = 0; at < write.bytes; at += ChunkPool::kChunkBytes) {
        const auto n = std::min<std::uint64_t>(ChunkPool::kChunkBytes, write.bytes - at);
        const auto* chunk = write.chunks[at / ChunkPool::kChunkBytes].get();
        out.insert(out.end(), chunk, chunk + n);
    }
    return out;
}

// The copy into staging streams 64 bytes at a time from a 16-byte aligned destination: every start offset
// within 16 bytes, every source misalignment and lengths around the 64-byte steps land byte for byte.
TEST(StagedWrites, RecordsOfAnyLengthAtAnyOffsetAreCopiedExactly) {
    ChunkPool pool(1 << 20);
    for (std::size_t lead = 0; lead < 17; ++lead) {
        for (std::size_t skew = 0; skew < 3; ++skew) {
            for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 200u, 4097u}) {
                StagedWrites staged;
                std::lock_guard lock(staged.mutex);
                const auto first = pattern(lead, 3);
                const auto source = pattern(n + skew, static_cast<std::uint8_t>(n));
                const std::span<const std::uint8_t> record[] = {
                    first, std::span<const std::uint8_t>(source).subspan(skew)};
                staged.append(record, pool);
                StagedWrites::Write write;
                staged.take(write);
                auto expected = first;
                expected.insert(expected.end(), source.begin() + static_cast<std::ptrdiff_t>(skew),
                                source.end());
                expected.resize(align_up(expected.size()), 0);
                EXPECT_EQ(flatten(write), expected) << "lead " << lead << " skew " << skew << " n " << n;
                pool.release(write.chunks);
            }
        }
    }
}

TEST(StagedWrites, ARoundIsItsRecordsBackToBackThenZerosToTheAlignment) {
    ChunkPool pool(1 << 20);
    StagedWrites staged;
    std::lock_guard lock(staged.mutex);
    const auto head = pattern(16, 1);
    const auto body = pattern(ChunkPool::kChunkBytes + 100, 7);  // crosses a chunk boundary
    const std::span<const std::uint8_t> first[] = {head, body};
    staged.append(first, pool);
    EXPECT_EQ(staged.next_offset(), head.size() + body.size());
    const auto second_record = pattern(30, 99);
    const std::span<const std::uint8_t> second[] = {second_record};
    staged.append(second, pool);

    StagedWrites::Write write;
    staged.take(write);
    const std::size_t records = head.size() + body.size() + second_record.size();
    EXPECT_EQ(write.offset, 0u);
    EXPECT_EQ(write.bytes, align_up(records));
    EXPECT_EQ(write.bytes % kDirectIoAlignment, 0u);
    for (const auto& chunk : write.chunks)
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(chunk.get()) % kDirectIoAlignment, 0u);
    auto expected = head;
    expected.insert(expected.end(), body.begin(), body.end());
    expected.insert(expected.end(), second_record.begin(), second_record.end());
    expected.resize(align_up(records), 0);
    EXPECT_EQ(flatten(write), expected);

    // The next record starts after the padding, and the next round is written from there.
    EXPECT_TRUE(staged.empty());
    EXPECT_EQ(staged.next_offset(), align_up(records));
    staged.append(second, pool);
    StagedWrites::Write next;
    staged.take(next);
    EXPECT_EQ(next.offset, align_up(records));
    EXPECT_EQ(next.bytes, kDirectIoAlignment);
}

TEST(StagedWrites, ARecordTakenBackLeavesWhatCameBefore) {
    ChunkPool pool(1 << 20);
    StagedWrites staged;
    std::lock_guard lock(staged.mutex);
    const auto kept = pattern(ChunkPool::kChunkBytes - 10, 3);
    const std::span<const std::uint8_t> first[] = {kept};
    staged.append(first, pool);
    const auto refused = pattern(50, 200);  // ends in a second chunk
    const std::span<const std::uint8_t> second[] = {refused};
    staged.append(second, pool);
    staged.take_back(refused.size());
    EXPECT_EQ(staged.next_offset(), kept.size());
    const auto after = pattern(20, 40);
    const std::span<const std::uint8_t> third[] = {after};
    staged.append(third, pool);

    StagedWrites::Write write;
    staged.take(write);
    auto expected = kept;
    expected.insert(expected.end(), after.begin(), after.end());
    expected.resize(align_up(expected.size()), 0);
    EXPECT_EQ(flatten(write), expected);
}

TEST(StagedWrites, NothingStagedTakesNothingAndAResetStartsAtTheNextBoundary) {
    ChunkPool pool(1 << 20);
    StagedWrites staged;
    std::lock_guard lock(staged.mutex);
    StagedWrites::Write write;
    staged.take(write);
    EXPECT_EQ(write.bytes, 0u);
    EXPECT_TRUE(write.chunks.empty());
    EXPECT_EQ(staged.next_offset(), 0u);

    const auto record = pattern(100, 1);
    const std::span<const std::uint8_t> buffers[] = {record};
    staged.append(buffers, pool);
    staged.reset(5000, pool);  // a failed segment cut back to 5000 durable bytes
    EXPECT_TRUE(staged.empty());
    EXPECT_EQ(staged.next_offset(), align_up(5000));
}

TEST(ChunkPool, ReleasedChunksAreReusedUpToTheLimit) {
    ChunkPool pool(2 * ChunkPool::kChunkBytes);
    std::vector<ChunkPool::Chunk> chunks;
    for (int i = 0; i < 3; ++i)
        chunks.push_back(pool.acquire());
    const std::uint8_t* first = chunks[0].get();
    const std::uint8_t* second = chunks[1].get();
    pool.release(chunks);
    EXPECT_TRUE(chunks.empty());
    // The pool kept two of the three and hands back the most recently released first.
    const auto a = pool.acquire();
    const auto b = pool.acquire();
    EXPECT_EQ(a.get(), second);
    EXPECT_EQ(b.get(), first);
}

}  // namespace
}  // namespace kinema::storage
