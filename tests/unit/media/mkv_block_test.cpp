// SimpleBlock/Block bodies: header fields and the three lacing kinds, with the sizes that do not add up.
#include "mkv_block.h"

#include <gtest/gtest.h>

#include "mkv_test_streams.h"

namespace kinema::media::mkv {
namespace {

using test::block_body;
using test::Bytes;
using test::payload;

std::vector<Bytes> frames_of(const Block& block) {
    std::vector<Bytes> out;
    std::size_t at = 0;
    for (std::size_t i = 0; i < block.frame_count; ++i) {
        auto size = static_cast<std::size_t>(block.frame_sizes[i]);
        auto bytes = block.frames.subspan(at, size);
        out.emplace_back(bytes.begin(), bytes.end());
        at += size;
    }
    EXPECT_EQ(at, block.frames.size());
    return out;
}

TEST(MkvBlock, ReadsTheHeaderOfAnUnlacedBlock) {
    const Bytes body = block_body(3, -2, 0x80 | 0x08 | 0x01, {}, {payload(10, 1)});
    Block block;
    std::string detail;
    ASSERT_FALSE(parse_block(body, block, detail)) << detail;
    EXPECT_EQ(block.track, 3u);
    EXPECT_EQ(block.timecode, -2);
    EXPECT_EQ(block.flags, 0x89);
    EXPECT_EQ(block.lacing(), Lacing::none);
    EXPECT_EQ(frames_of(block), std::vector<Bytes>{payload(10, 1)});
}

TEST(MkvBlock, ReadsTwoByteTrackNumbersAndEmptyFrames) {
    const Bytes body = block_body(200, 32767, 0, {}, {});
    Block block;
    std::string detail;
    ASSERT_FALSE(parse_block(body, block, detail)) << detail;
    EXPECT_EQ(block.track, 200u);
    EXPECT_EQ(block.timecode, 32767);
    EXPECT_EQ(block.frame_count, 1u);
    EXPECT_TRUE(block.frames.empty());
}

TEST(MkvBlock, DecodesEveryLacingKind) {
    struct Case {
        const char* name;
        std::uint8_t lacing;
        std::vector<Bytes> frames;
    };
    const std::vector<Case> cases = {
        {"Xiph, sizes under 255", 0x02, {payload(3, 1), payload(7, 2), payload(1, 3)}},
        {"Xiph, sizes of 255 and more",
         0x02,
         {payload(255, 1), payload(600, 2), payload(0, 3), payload(9, 4)}},
        {"Xiph, one frame", 0x02, {payload(12, 1)}},
        {"EBML, growing and shrinking",
         0x06,
         {payload(100, 1), payload(300, 2), payload(20, 3), payload(5, 4)}},
        {"EBML, large differences", 0x06, {payload(10, 1), payload(20000, 2), payload(1, 3), payload(2, 4)}},
        {"EBML, one frame", 0x06, {payload(12, 1)}},
        {"fixed, three frames", 0x04, {payload(16, 1), payload(16, 2), payload(16, 3)}},
        {"fixed, 256 frames", 0x04, std::vector<Bytes>(256, payload(2, 9))},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const Bytes header = c.lacing == 0x02   ? test::xiph_lace_header(c.frames)
                             : c.lacing == 0x06 ? test::ebml_lace_header(c.frames)
                                                : test::fixed_lace_header(c.frames);
        const Bytes body = block_body(2, 7, static_cast<std::uint8_t>(0x80 | c.lacing), header, c.frames);
        Block block;
        std::string detail;
        ASSERT_FALSE(parse_block(body, block, detail)) << detail;
        EXPECT_EQ(block.frame_count, c.frames.size());
        EXPECT_EQ(frames_of(block), c.frames);
    }
}

TEST(MkvBlock, RejectsMalformedBlocksAndLaces) {
    auto with = [](std::uint8_t flags, Bytes rest) {
        Bytes body = {0x81, 0x00, 0x00, flags};
        test::append(body, rest);
        return body;
    };
    struct Case {
        const char* name;
        Bytes body;
        Errc code;
    };
    const std::vector<Case> cases = {
        {"empty", {}, Errc::invalid_block},
        {"track vint with no marker", {0x00, 0, 0, 0}, Errc::invalid_block},
        {"track vint cut", {0x40}, Errc::invalid_block},
        {"no timecode", {0x81, 0x00}, Errc::invalid_block},
        {"laced without a frame count", with(0x02, {}), Errc::invalid_lacing},
        {"Xiph sizes run past the block", with(0x02, {2, 255, 255}), Errc::invalid_lacing},
        {"Xiph sizes exceed the block", with(0x02, {1, 10, 1, 2, 3}), Errc::invalid_lacing},
        {"EBML first size cut", with(0x06, {1, 0x40}), Errc::invalid_lacing},
        {"EBML first size with no marker", with(0x06, {1, 0x00, 1}), Errc::invalid_lacing},
        {"EBML first size reserved", with(0x06, {1, 0xFF, 1}), Errc::invalid_lacing},
        {"EBML negative size", with(0x06, {2, 0x82, 0x80 | 0x1F, 1, 2, 3}), Errc::invalid_lacing},
        {"EBML sizes exceed the block", with(0x06, {2, 0x85, 0xBF, 1, 2, 3}), Errc::invalid_lacing},
        {"fixed, does not divide", with(0x04, {2, 1, 2, 3, 4}), Errc::invalid_lacing},
    };
    for (const auto& c : cases) {
        Block block;
        std::string detail;
        EXPECT_EQ(parse_block(c.body, block, detail), make_error_code(c.code)) << c.name;
        EXPECT_FALSE(detail.empty()) << c.name;
    }
}

}  // namespace
}  // namespace kinema::media::mkv
