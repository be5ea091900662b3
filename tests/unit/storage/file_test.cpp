// The commit thread's direct-I/O writes: aligned buffers land where they should, and a write the kernel
// refuses as direct I/O goes through the page cache instead (a file system without O_DIRECT, or a device
// whose block is larger than our alignment).
#include "file.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>

#include "staged_writes.h"
#include "storage_test_util.h"

namespace kinema::storage {
namespace {

namespace fs = std::filesystem;

struct Aligned {
    explicit Aligned(std::size_t n)
        : bytes(static_cast<std::uint8_t*>(std::aligned_alloc(kDirectIoAlignment, n + kDirectIoAlignment))),
          size(n) {
        std::iota(bytes.get(), bytes.get() + n + kDirectIoAlignment, std::uint8_t{7});
    }
    std::unique_ptr<std::uint8_t[], ChunkPool::FreeChunk> bytes;
    std::size_t size;
};

std::vector<std::uint8_t> contents(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(File, AlignedWritesLandAtTheirOffset) {
    test::TempDir dir;
    const auto path = dir.path() / "a.seg";
    { std::ofstream create(path); }
    File file;
    ASSERT_FALSE(File::open_for_direct_writes(path, file));
    const Aligned first(2 * kDirectIoAlignment);
    const Aligned second(kDirectIoAlignment);
    const std::span<const std::uint8_t> buffers[] = {{first.bytes.get(), first.size},
                                                     {second.bytes.get(), second.size}};
    ASSERT_FALSE(file.write_aligned(kDirectIoAlignment, buffers));
    const auto written = contents(path);
    ASSERT_EQ(written.size(), 4 * kDirectIoAlignment);
    EXPECT_TRUE(
        std::all_of(written.begin(), written.begin() + kDirectIoAlignment, [](auto b) { return b == 0; }));
    EXPECT_TRUE(std::equal(written.begin() + kDirectIoAlignment, written.begin() + 3 * kDirectIoAlignment,
                           first.bytes.get()));
    EXPECT_TRUE(std::equal(written.begin() + 3 * kDirectIoAlignment, written.end(), second.bytes.get()));
}

TEST(File, AWriteRefusedAsDirectIoGoesThroughThePageCache) {
    test::TempDir dir;
    const auto path = dir.path() / "b.seg";
    { std::ofstream create(path); }
    File file;
    ASSERT_FALSE(File::open_for_direct_writes(path, file));
    // Memory one byte off the alignment: O_DIRECT refuses it with EINVAL.
    const Aligned memory(kDirectIoAlignment);
    const std::span<const std::uint8_t> buffers[] = {{memory.bytes.get() + 1, kDirectIoAlignment}};
    ASSERT_FALSE(file.write_aligned(0, buffers));
    EXPECT_FALSE(file.direct());
    const auto written = contents(path);
    ASSERT_EQ(written.size(), kDirectIoAlignment);
    EXPECT_TRUE(std::equal(written.begin(), written.end(), memory.bytes.get() + 1));
}

}  // namespace
}  // namespace kinema::storage
