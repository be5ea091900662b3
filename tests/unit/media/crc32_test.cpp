// The CRC-32 of EBML's CRC-32 elements: the standard check value, continuation, every alignment.
#include "crc32.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kinema::media {
namespace {

TEST(Crc32, MatchesTheStandardCheckValueWholeOrInPieces) {
    const std::string text = "123456789";
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()),
                                              text.size());
    EXPECT_EQ(crc32_update(0, bytes), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
    EXPECT_EQ(crc32_update(0, {}), 0u);
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut)
        EXPECT_EQ(crc32_update(crc32_update(0, bytes.first(cut)), bytes.subspan(cut)), 0xCBF43926u) << cut;
    // Long enough for the eight-byte steps, at every alignment.
    std::vector<std::uint8_t> data(1000);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 131 + 7);
    for (std::size_t skew = 0; skew < 8; ++skew) {
        std::uint32_t bitwise = 0xFFFFFFFFu;
        for (std::size_t i = skew; i < data.size(); ++i) {
            bitwise ^= data[i];
            for (int k = 0; k < 8; ++k)
                bitwise = (bitwise & 1) ? (bitwise >> 1) ^ 0xEDB88320u : bitwise >> 1;
        }
        EXPECT_EQ(crc32_update(0, std::span<const std::uint8_t>(data).subspan(skew)), ~bitwise) << skew;
    }
}

}  // namespace
}  // namespace kinema::media
