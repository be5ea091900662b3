#include "kinema/media/h264_access_units.h"

#include <gtest/gtest.h>

namespace kinema::media::h264 {
namespace {

using Bytes = std::vector<std::uint8_t>;

// NAL units of a tiny two-picture stream: AUD, SPS, PPS, IDR (2 slices), then AUD + non-IDR slice, then
// a non-IDR picture without AUD. first_mb_in_slice = 0 is a leading 1 bit in the byte after the header.
const Bytes kAud = {0x09, 0xF0};
const Bytes kSps = {0x67, 0x42, 0xC0, 0x1E};
const Bytes kPps = {0x68, 0xCE, 0x3C, 0x80};
const Bytes kIdrFirst = {0x65, 0x88, 0x84};   // first slice of picture 0
const Bytes kIdrSecond = {0x65, 0x40, 0x11};  // first_mb_in_slice != 0: same picture
const Bytes kSliceFirst = {0x41, 0x9A, 0x02};
const Bytes kSliceFirstAgain = {0x41, 0x9B, 0x03};

Bytes annexb(std::initializer_list<const Bytes*> nals, bool three_byte = false) {
    Bytes out;
    for (const Bytes* nal : nals) {
        if (!three_byte) out.push_back(0);
        out.insert(out.end(), {0, 0, 1});
        out.insert(out.end(), nal->begin(), nal->end());
    }
    return out;
}

std::vector<AccessUnit> split(const Bytes& stream, std::size_t chunk) {
    AccessUnitSplitter splitter;
    std::vector<AccessUnit> units;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
        splitter.feed({stream.data() + at, std::min(chunk, stream.size() - at)});
        while (auto u = splitter.next())
            units.push_back(std::move(*u));
    }
    splitter.finish();
    while (auto u = splitter.next())
        units.push_back(std::move(*u));
    return units;
}

TEST(AccessUnitSplitter, SplitsPicturesAtAudsAndFirstSlices) {
    for (bool three_byte : {false, true}) {
        Bytes stream =
            annexb({&kAud, &kSps, &kPps, &kIdrFirst, &kIdrSecond, &kAud, &kSliceFirst, &kSliceFirstAgain},
                   three_byte);
        for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, stream.size()}) {
            auto units = split(stream, chunk);
            ASSERT_EQ(units.size(), 3u) << "chunk " << chunk;
            EXPECT_TRUE(units[0].key);
            EXPECT_TRUE(units[0].has_parameter_sets);
            EXPECT_FALSE(units[1].key);
            EXPECT_FALSE(units[1].has_parameter_sets);
            EXPECT_FALSE(units[2].key);
            // Every NAL is re-emitted with a 4-byte start code.
            EXPECT_EQ(units[0].annexb, annexb({&kAud, &kSps, &kPps, &kIdrFirst, &kIdrSecond}));
            EXPECT_EQ(units[1].annexb, annexb({&kAud, &kSliceFirst}));
            EXPECT_EQ(units[2].annexb, annexb({&kSliceFirstAgain}));
        }
    }
}

TEST(AccessUnitSplitter, TrailingZerosBelongToTheNextStartCode) {
    Bytes stream = annexb({&kSps, &kPps, &kIdrFirst});
    stream.insert(stream.end(), {0, 0});  // trailing_zero_8bits
    auto more = annexb({&kSliceFirst});
    stream.insert(stream.end(), more.begin(), more.end());
    auto units = split(stream, 3);
    ASSERT_EQ(units.size(), 2u);
    EXPECT_EQ(units[0].annexb, annexb({&kSps, &kPps, &kIdrFirst}));
}

TEST(AccessUnitSplitter, IgnoresBytesBeforeTheFirstStartCodeAndEmptyInput) {
    EXPECT_TRUE(split({}, 1).empty());
    EXPECT_TRUE(split({1, 2, 3, 4}, 1).empty());
    Bytes stream = {0xAA, 0xBB};
    auto pic = annexb({&kIdrFirst});
    stream.insert(stream.end(), pic.begin(), pic.end());
    auto units = split(stream, 1);
    ASSERT_EQ(units.size(), 1u);
    EXPECT_TRUE(units[0].key);
}

TEST(AccessUnitSplitter, ParameterSetsWithoutSlicesAreNotAUnit) {
    EXPECT_TRUE(split(annexb({&kSps, &kPps}), 4).empty());
}

}  // namespace
}  // namespace kinema::media::h264
