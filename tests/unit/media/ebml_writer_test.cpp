#include "kinema/media/ebml_writer.h"

#include <gtest/gtest.h>

#include "kinema/media/ebml_ids.h"

namespace kinema::media::ebml {
namespace {

struct SizeCase {
    std::uint64_t value;
    std::vector<std::uint8_t> expected;
};

TEST(EbmlWriter, SizesUseShortestFormAndSkipReservedValues) {
    const std::vector<SizeCase> cases = {
        {0, {0x80}},
        {1, {0x81}},
        {126, {0xFE}},
        {127, {0x40, 0x7F}},  // 0xFF is reserved (unknown size), so 127 needs two bytes
        {0x3FFE, {0x7F, 0xFE}},
        {0x3FFF, {0x20, 0x3F, 0xFF}},
        {kMaxSize, {0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}},
    };
    for (const auto& c : cases) {
        Bytes out;
        write_size(c.value, out);
        EXPECT_EQ(out, c.expected) << "value " << c.value;
        EXPECT_EQ(size_length(c.value), static_cast<int>(c.expected.size()));
    }
}

TEST(EbmlWriter, SizeOfFixedLength) {
    Bytes out;
    write_size(5, out, 8);
    EXPECT_EQ(out, (Bytes{0x01, 0, 0, 0, 0, 0, 0, 5}));
}

TEST(EbmlWriter, UnknownSizeMarker) {
    Bytes out;
    open_unknown_size_master(ebml_id::kSegment, out);
    EXPECT_EQ(out, (Bytes{0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
}

TEST(EbmlWriter, IdsKeepTheirWidth) {
    Bytes out;
    write_id(ebml_id::kSimpleBlock, out);
    write_id(ebml_id::kTimecodeScale, out);
    EXPECT_EQ(out, (Bytes{0xA3, 0x2A, 0xD7, 0xB1}));
}

TEST(EbmlWriter, UnsignedAndSignedIntegersAreMinimal) {
    Bytes out;
    write_uint(ebml_id::kTrackNumber, 1, out);
    EXPECT_EQ(out, (Bytes{0xD7, 0x81, 0x01}));
    out.clear();
    write_uint(ebml_id::kTimecodeScale, 1'000'000, out);
    EXPECT_EQ(out, (Bytes{0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40}));
    out.clear();
    write_int(ebml_id::kDiscardPadding, -1, out);
    EXPECT_EQ(out, (Bytes{0x75, 0xA2, 0x81, 0xFF}));
    out.clear();
    write_int(ebml_id::kDiscardPadding, 128, out);
    EXPECT_EQ(out, (Bytes{0x75, 0xA2, 0x82, 0x00, 0x80}));
}

TEST(EbmlWriter, FloatIsEightByteBigEndian) {
    Bytes out;
    write_float(ebml_id::kDuration, 1.0, out);
    EXPECT_EQ(out, (Bytes{0x44, 0x89, 0x88, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0}));
}

TEST(EbmlWriter, MasterSizeIsPatchedOnClose) {
    Bytes out;
    auto info = open_master(ebml_id::kInfo, out);
    write_string(ebml_id::kMuxingApp, "kinema", out);
    close_master(info, out);
    ASSERT_EQ(out.size(), 4u + 8u + 2u + 1u + 6u);
    EXPECT_EQ(out[4], 0x01);
    EXPECT_EQ(out[11], 9);  // 2-byte id + 1-byte size + 6 bytes
}

}  // namespace
}  // namespace kinema::media::ebml
