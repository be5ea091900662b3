#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string_view>

#include "kinema/media/error.h"
#include "kinema/media/h264.h"

namespace kinema::media::h264 {
namespace {

Bytes from_hex(std::string_view hex) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

// SPS NAL units x264 wrote for `ffmpeg -f lavfi -i testsrc2=size=WxH:rate=R -c:v libx264 ...` (the same
// bytes seed tests/fuzz/corpus/sps). Expected values are what FFmpeg's own parser (the trace_headers
// bitstream filter) and ffprobe report for those streams.
struct RealSps {
    const char* name;
    const char* hex;
    std::uint8_t profile, constraints, level;
    std::uint32_t width, height;
    std::uint32_t chroma_format, bit_depth;
    bool frame_mbs_only;
    std::uint32_t crop_right, crop_bottom;
    std::uint32_t poc_type, max_refs;
    std::uint32_t sar_width, sar_height;
    std::uint32_t num_units_in_tick, time_scale;
    double fps;
};

const RealSps kRealSps[] = {
    {"baseline_320x240", "6742c00dd90141fb0110000003001000000303c0f142a480", 66, 0xC0, 13, 320, 240, 1, 8,
     true, 0, 0, 2, 3, 1, 1, 1, 60, 30.0},
    {"main_640x360_cropped", "674d401eeca05017fcb808800000030080000019078b16cb", 77, 0x40, 30, 640, 360, 1, 8,
     true, 0, 8, 0, 4, 1, 1, 1, 50, 25.0},
    {"high_1280x720", "6764001facd9405005bb0110000003001000000303c0f1831960", 100, 0, 31, 1280, 720, 1, 8,
     true, 0, 0, 0, 4, 1, 1, 1, 60, 30.0},
    {"high_1920x1080_cropped", "67640028acd940780227e5c044000003000400000300f03c60c658", 100, 0, 40, 1920,
     1080, 1, 8, true, 0, 8, 0, 4, 1, 1, 1, 60, 30.0},
    {"high10_640x480", "676e001fa6cd940a03db0110000003001000000780f1831960", 110, 0, 31, 640, 480, 1, 10,
     true, 0, 0, 0, 4, 1, 1, 1, 120, 60.0},
    {"high422_1366x768_cropped", "677a0020bcd94056061e6f011000003e90000bb800f1831960", 122, 0, 32, 1366, 768,
     2, 8, true, 10, 0, 0, 4, 1, 1, 1001, 48000, 24000.0 / 1001.0},
    {"high444_352x288", "67f4000d919b282c12d80880000003008000001e078a14cb", 244, 0, 13, 352, 288, 3, 8, true,
     0, 0, 0, 4, 1, 1, 1, 60, 30.0},
    {"interlaced_1920x1080", "67640028acd94078044fde0220000003002000000643e2c5b2c0", 100, 0, 40, 1920, 1080,
     1, 8, false, 0, 8, 0, 4, 1, 1, 1, 50, 25.0},
    {"extended_sar_720x576", "6764001eacd940b4126ffc0014001c40000003004000000c83c58b6580", 100, 0, 30, 720,
     576, 1, 8, true, 0, 0, 0, 4, 5, 7, 1, 50, 25.0},
    // Hand-made and checked with FFmpeg's trace_headers: scaling matrix with lists of 16 and 64 entries, one
    // list ended early by a zero nextScale and one "use default" list; pic_order_cnt_type 1; aspect_ratio_idc
    // 14 (4:3); overscan, video signal with colour description, chroma location and fixed timing.
    {"crafted_scaling_lists_poc1",
     "67640028ad919a287a590e214248444e574431cae886395d10c72ba218e574431cae886395d10c72ba218e574431e92419a14c4"
     "214"
     "000186a01405005bff0ef7010101a700000303e90000ea6084",
     100, 0, 40, 1280, 720, 1, 8, true, 0, 0, 1, 4, 4, 3, 1001, 60000, 60000.0 / 2002.0},
};

TEST(H264Sps, ParsesRealStreams) {
    for (const auto& c : kRealSps) {
        SCOPED_TRACE(c.name);
        Sps sps;
        ASSERT_FALSE(parse_sps(from_hex(c.hex), sps));
        EXPECT_EQ(sps.profile_idc, c.profile);
        EXPECT_EQ(sps.constraint_flags, c.constraints);
        EXPECT_EQ(sps.level_idc, c.level);
        EXPECT_EQ(sps.width, c.width);
        EXPECT_EQ(sps.height, c.height);
        EXPECT_EQ(sps.chroma_format_idc, c.chroma_format);
        EXPECT_EQ(sps.bit_depth_luma, c.bit_depth);
        EXPECT_EQ(sps.bit_depth_chroma, c.bit_depth);
        EXPECT_EQ(sps.frame_mbs_only, c.frame_mbs_only);
        EXPECT_EQ(sps.crop_left, 0u);
        EXPECT_EQ(sps.crop_top, 0u);
        EXPECT_EQ(sps.crop_right, c.crop_right);
        EXPECT_EQ(sps.crop_bottom, c.crop_bottom);
        EXPECT_EQ(sps.pic_order_cnt_type, c.poc_type);
        EXPECT_EQ(sps.max_num_ref_frames, c.max_refs);
        EXPECT_EQ(sps.log2_max_frame_num, 4u);
        EXPECT_EQ(sps.sar_width, c.sar_width);
        EXPECT_EQ(sps.sar_height, c.sar_height);
        EXPECT_TRUE(sps.timing_info_present);
        EXPECT_EQ(sps.num_units_in_tick, c.num_units_in_tick);
        EXPECT_EQ(sps.time_scale, c.time_scale);
        ASSERT_TRUE(sps.frame_rate().has_value());
        EXPECT_NEAR(*sps.frame_rate(), c.fps, 1e-9);
    }
}

TEST(H264Sps, FieldsOnlySomeStreamsCarry) {
    Sps interlaced;
    ASSERT_FALSE(parse_sps(from_hex(kRealSps[7].hex), interlaced));
    EXPECT_TRUE(interlaced.mb_adaptive_frame_field);
    EXPECT_EQ(interlaced.log2_max_pic_order_cnt_lsb, 6u);
    Sps crafted;
    ASSERT_FALSE(parse_sps(from_hex(kRealSps[9].hex), crafted));
    EXPECT_TRUE(crafted.video_full_range);
    EXPECT_TRUE(crafted.fixed_frame_rate);
    EXPECT_FALSE(crafted.delta_pic_order_always_zero);
}

// Every prefix of a real SPS: an error or, once everything up to the VUI timing is there, the same result as
// the whole NAL (the parser stops after timing_info). Each prefix is its own allocation so that the sanitizer
// build catches a read past its end.
TEST(H264Sps, TruncatedAtEveryLengthFailsCleanly) {
    for (const auto& c : kRealSps) {
        SCOPED_TRACE(c.name);
        const Bytes full = from_hex(c.hex);
        Sps expected;
        ASSERT_FALSE(parse_sps(full, expected));
        for (std::size_t length = 0; length < full.size(); ++length) {
            Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
            Sps sps;
            auto ec = parse_sps(prefix, sps);
            if (length < 10) {
                EXPECT_EQ(ec, Errc::invalid_sps) << "length " << length;
            }
            if (ec) {
                EXPECT_EQ(ec, Errc::invalid_sps) << "length " << length;
                continue;
            }
            EXPECT_EQ(sps.width, expected.width) << "length " << length;
            EXPECT_EQ(sps.height, expected.height) << "length " << length;
            EXPECT_EQ(sps.time_scale, expected.time_scale) << "length " << length;
        }
    }
}

// Writes SPS syntax for hand-made cases: fields MSB first, Exp-Golomb codes, trailing bits, emulation
// prevention and the NAL header.
class BitWriter {
public:
    void u(int n, std::uint64_t value) {
        for (int i = n - 1; i >= 0; --i)
            bits_.push_back(((value >> i) & 1) != 0);
    }
    void flag(bool value) { u(1, value ? 1 : 0); }
    void ue(std::uint64_t value) {
        std::uint64_t coded = value + 1;
        int length = 0;
        while ((coded >> length) > 1)
            ++length;
        u(length, 0);
        u(length + 1, coded);
    }
    void se(std::int64_t value) {
        ue(value > 0 ? static_cast<std::uint64_t>(2 * value - 1) : static_cast<std::uint64_t>(-2 * value));
    }
    Bytes nal(std::uint8_t header = 0x67) const {
        std::vector<bool> bits = bits_;
        bits.push_back(true);  // rbsp_stop_one_bit
        while (bits.size() % 8 != 0)
            bits.push_back(false);
        Bytes out{header};
        int zeros = 0;
        for (std::size_t i = 0; i < bits.size(); i += 8) {
            std::uint8_t byte = 0;
            for (std::size_t j = 0; j < 8; ++j)
                byte = static_cast<std::uint8_t>((byte << 1) | (bits[i + j] ? 1 : 0));
            if (zeros >= 2 && byte <= 3) {
                out.push_back(3);
                zeros = 0;
            }
            out.push_back(byte);
            zeros = byte == 0 ? zeros + 1 : 0;
        }
        return out;
    }

private:
    std::vector<bool> bits_;
};

struct SpsSpec {
    std::uint32_t profile = 100, level = 40, sps_id = 0;
    std::uint32_t chroma = 1;
    bool separate_planes = false;
    std::uint32_t luma_minus8 = 0, chroma_minus8 = 0;
    std::vector<std::vector<std::int64_t>> scaling_lists;  // none: no matrix; an empty list: not present
    std::uint32_t log2_frame_num_minus4 = 0, poc_type = 0, log2_poc_lsb_minus4 = 2;
    std::vector<std::int64_t> poc_cycle;  // offset_for_ref_frame, for poc type 1
    std::uint32_t max_refs = 4;
    std::uint64_t width_mbs = 80, height_map_units = 45;
    bool frame_mbs_only = true;
    bool cropping = false;
    std::array<std::uint64_t, 4> crop{};  // left, right, top, bottom offsets in crop units
    bool vui = true;
    int aspect_idc = -1;  // -1: no aspect ratio info
    std::uint32_t sar_width = 0, sar_height = 0;
    bool overscan = false, video_signal = false, chroma_loc = false;
    bool timing = true;
    std::uint32_t num_units_in_tick = 1, time_scale = 60;
};

Bytes make_sps(const SpsSpec& s) {
    BitWriter w;
    w.u(8, s.profile);
    w.u(8, 0);
    w.u(8, s.level);
    w.ue(s.sps_id);
    if (s.profile == 100 || s.profile == 110 || s.profile == 122 || s.profile == 244) {
        w.ue(s.chroma);
        if (s.chroma == 3) w.flag(s.separate_planes);
        w.ue(s.luma_minus8);
        w.ue(s.chroma_minus8);
        w.flag(false);
        w.flag(!s.scaling_lists.empty());
        for (const auto& list : s.scaling_lists) {
            w.flag(!list.empty());
            for (auto delta : list)
                w.se(delta);
        }
    }
    w.ue(s.log2_frame_num_minus4);
    w.ue(s.poc_type);
    if (s.poc_type == 0) w.ue(s.log2_poc_lsb_minus4);
    if (s.poc_type == 1) {
        w.flag(false);
        w.se(-1);
        w.se(1);
        w.ue(s.poc_cycle.size());
        for (auto offset : s.poc_cycle)
            w.se(offset);
    }
    w.ue(s.max_refs);
    w.flag(false);
    w.ue(s.width_mbs - 1);
    w.ue(s.height_map_units - 1);
    w.flag(s.frame_mbs_only);
    if (!s.frame_mbs_only) w.flag(false);
    w.flag(true);
    w.flag(s.cropping);
    if (s.cropping)
        for (auto offset : s.crop)
            w.ue(offset);
    w.flag(s.vui);
    if (s.vui) {
        w.flag(s.aspect_idc >= 0);
        if (s.aspect_idc >= 0) {
            w.u(8, static_cast<std::uint64_t>(s.aspect_idc));
            if (s.aspect_idc == 255) {
                w.u(16, s.sar_width);
                w.u(16, s.sar_height);
            }
        }
        w.flag(s.overscan);
        if (s.overscan) w.flag(true);
        w.flag(s.video_signal);
        if (s.video_signal) {
            w.u(3, 5);
            w.flag(false);
            w.flag(true);
            w.u(24, 0x010101);
        }
        w.flag(s.chroma_loc);
        if (s.chroma_loc) {
            w.ue(1);
            w.ue(1);
        }
        w.flag(s.timing);
        if (s.timing) {
            w.u(32, s.num_units_in_tick);
            w.u(32, s.time_scale);
            w.flag(true);
        }
        w.u(4, 0);  // no HRD, no pic_struct, no bitstream restriction
    }
    return w.nal();
}

struct SpsCase {
    const char* name;
    void (*edit)(SpsSpec&);
    std::error_code error;  // empty: parses
    std::uint32_t width = 0, height = 0;
};

const SpsCase kSpsCases[] = {
    {"defaults", [](SpsSpec&) {}, {}, 1280, 720},
    {"baseline has no chroma fields", [](SpsSpec& s) { s.profile = 66; }, {}, 1280, 720},
    {"monochrome crops in luma samples",
     [](SpsSpec& s) {
         s.chroma = 0;
         s.cropping = true;
         s.crop = {1, 2, 3, 4};
     },
     {},
     1280 - 3,
     720 - 7},
    {"4:2:0 crops in 2x2 units",
     [](SpsSpec& s) {
         s.cropping = true;
         s.crop = {1, 2, 3, 4};
     },
     {},
     1280 - 6,
     720 - 14},
    {"4:2:2 field coding crops 2 wide, 2 high",
     [](SpsSpec& s) {
         s.profile = 122;
         s.chroma = 2;
         s.frame_mbs_only = false;
         s.height_map_units = 23;
         s.cropping = true;
         s.crop = {0, 3, 0, 4};
     },
     {},
     1280 - 6,
     736 - 8},
    {"4:4:4 crops in single samples",
     [](SpsSpec& s) {
         s.profile = 244;
         s.chroma = 3;
         s.cropping = true;
         s.crop = {1, 1, 1, 1};
     },
     {},
     1278,
     718},
    // The same syntax as a hand-made SPS whose fields FFmpeg's trace_headers confirmed (1912x1082).
    {"separate colour planes, 12 scaling lists, 255 poc offsets, fields",
     [](SpsSpec& s) {
         s.profile = 244;
         s.chroma = 3;
         s.separate_planes = true;
         s.luma_minus8 = s.chroma_minus8 = 2;
         for (int i = 0; i < 12; ++i) {
             s.scaling_lists.push_back(i % 2 == 0 ? std::vector<std::int64_t>(i < 6 ? 16 : 64, 1)
                                                  : std::vector<std::int64_t>{-8});
         }
         s.log2_frame_num_minus4 = 12;
         s.poc_type = 1;
         for (int i = 0; i < 255; ++i)
             s.poc_cycle.push_back(i % 2 == 0 ? i : -i);
         s.max_refs = 16;
         s.width_mbs = 120;
         s.height_map_units = 34;
         s.frame_mbs_only = false;
         s.cropping = true;
         s.crop = {3, 5, 1, 2};
         s.vui = false;
     },
     {},
     1912,
     1082},
    {"scaling list with the extreme deltas",
     [](SpsSpec& s) {
         s.scaling_lists = {
             {-128, 127, -128, 127, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {}, {}, {}, {}, {}, {}, {}};
     },
     {},
     1280,
     720},
    {"every VUI block before timing",
     [](SpsSpec& s) {
         s.aspect_idc = 255;
         s.sar_width = 64;
         s.sar_height = 45;
         s.overscan = s.video_signal = s.chroma_loc = true;
     },
     {},
     1280,
     720},
    {"largest frame", [](SpsSpec& s) { s.width_mbs = s.height_map_units = 1 << 16; }, {}, 1u << 20, 1u << 20},
    // Out of range (7.4.2.1.1) or impossible.
    {"sps id 32", [](SpsSpec& s) { s.sps_id = 32; }, Errc::invalid_sps},
    {"chroma_format_idc 4", [](SpsSpec& s) { s.chroma = 4; }, Errc::invalid_sps},
    {"bit depth 15", [](SpsSpec& s) { s.luma_minus8 = 7; }, Errc::invalid_sps},
    {"chroma bit depth 15", [](SpsSpec& s) { s.chroma_minus8 = 7; }, Errc::invalid_sps},
    {"scaling delta 128", [](SpsSpec& s) { s.scaling_lists = {{128}, {}, {}, {}, {}, {}, {}, {}}; },
     Errc::invalid_sps},
    {"log2_max_frame_num 17", [](SpsSpec& s) { s.log2_frame_num_minus4 = 13; }, Errc::invalid_sps},
    {"pic_order_cnt_type 3", [](SpsSpec& s) { s.poc_type = 3; }, Errc::invalid_sps},
    {"log2_max_pic_order_cnt_lsb 17", [](SpsSpec& s) { s.log2_poc_lsb_minus4 = 13; }, Errc::invalid_sps},
    {"256 poc offsets",
     [](SpsSpec& s) {
         s.poc_type = 1;
         s.poc_cycle.assign(256, 1);
     },
     Errc::invalid_sps},
    {"17 reference frames", [](SpsSpec& s) { s.max_refs = 17; }, Errc::invalid_sps},
    {"frame wider than any level", [](SpsSpec& s) { s.width_mbs = (1 << 16) + 1; }, Errc::invalid_sps},
    {"width in macroblocks of 2^32 - 1", [](SpsSpec& s) { s.width_mbs = 0xFFFFFFFFull; }, Errc::invalid_sps},
    {"cropping to zero width",
     [](SpsSpec& s) {
         s.cropping = true;
         s.crop = {320, 320, 0, 0};
     },
     Errc::invalid_sps},
    {"cropping to zero height",
     [](SpsSpec& s) {
         s.cropping = true;
         s.crop = {0, 0, 360, 0};
     },
     Errc::invalid_sps},
    {"crop offset of 2^32 - 2 does not overflow",
     [](SpsSpec& s) {
         s.cropping = true;
         s.crop = {0xFFFFFFFEull, 0xFFFFFFFEull, 0, 0};
     },
     Errc::invalid_sps},
    {"crop offset needing 33 bits",
     [](SpsSpec& s) {
         s.cropping = true;
         s.crop = {0xFFFFFFFFull, 0, 0, 0};
     },
     Errc::invalid_sps},
};

TEST(H264Sps, HandMadeCases) {
    for (const auto& c : kSpsCases) {
        SCOPED_TRACE(c.name);
        SpsSpec spec;
        c.edit(spec);
        Sps sps;
        auto ec = parse_sps(make_sps(spec), sps);
        EXPECT_EQ(ec, c.error);
        if (c.error) continue;
        EXPECT_EQ(sps.width, c.width);
        EXPECT_EQ(sps.height, c.height);
        // Every case ends with timing (when there is a VUI): a misread field anywhere before shows up here.
        if (spec.vui) {
            EXPECT_TRUE(sps.timing_info_present);
            EXPECT_EQ(sps.time_scale, 60u);
        }
    }
}

TEST(H264Sps, VuiValues) {
    struct Case {
        const char* name;
        int aspect_idc;
        std::uint32_t expected_sar_w, expected_sar_h;
    };
    const Case cases[] = {
        {"absent", -1, 0, 0}, {"unspecified", 0, 0, 0}, {"square", 1, 1, 1},     {"PAL 4:3", 2, 12, 11},
        {"4:3", 14, 4, 3},    {"2:1", 16, 2, 1},        {"reserved", 100, 0, 0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        SpsSpec spec;
        spec.aspect_idc = c.aspect_idc;
        Sps sps;
        ASSERT_FALSE(parse_sps(make_sps(spec), sps));
        EXPECT_EQ(sps.sar_width, c.expected_sar_w);
        EXPECT_EQ(sps.sar_height, c.expected_sar_h);
        EXPECT_EQ(sps.frame_rate(), 30.0);
    }
}

TEST(H264Sps, NoUsableTimingMeansNoFrameRate) {
    SpsSpec no_vui;
    no_vui.vui = false;
    SpsSpec no_timing;
    no_timing.timing = false;
    SpsSpec zero_scale;
    zero_scale.time_scale = 0;
    SpsSpec zero_tick;
    zero_tick.num_units_in_tick = 0;
    for (const auto& spec : {no_vui, no_timing, zero_scale, zero_tick}) {
        Sps sps;
        ASSERT_FALSE(parse_sps(make_sps(spec), sps));
        EXPECT_FALSE(sps.timing_info_present);
        EXPECT_FALSE(sps.frame_rate().has_value());
        EXPECT_EQ(sps.width, 1280u);
    }
}

TEST(H264Sps, RejectsWhatIsNotAnSps) {
    const Bytes good = from_hex(kRealSps[2].hex);
    Bytes pps_header = good;
    pps_header[0] = 0x68;
    Bytes forbidden_bit = good;
    forbidden_bit[0] |= 0x80;
    Bytes subset_sps = good;
    subset_sps[0] = 0x6F;
    for (const auto& nal :
         {Bytes{}, Bytes{0x67}, Bytes{0x67, 0x64, 0x00}, pps_header, forbidden_bit, subset_sps}) {
        Sps sps;
        EXPECT_EQ(parse_sps(nal, sps), Errc::invalid_sps) << nal.size();
    }
}

TEST(H264Sps, ExpGolombLongerThan32BitsIsRejected) {
    for (int zeros : {31, 32, 40}) {
        BitWriter w;
        w.u(8, 66);
        w.u(8, 0);
        w.u(8, 30);
        w.u(zeros, 0);  // seq_parameter_set_id with `zeros` leading zeros
        w.u(1, 1);
        w.u(zeros, 0);
        w.u(64, 0xFFFFFFFFFFFFFFFFull);
        Sps sps;
        EXPECT_EQ(parse_sps(w.nal(), sps), Errc::invalid_sps) << zeros;
    }
}

TEST(H264Sps, FailureLeavesTheOutputUntouched) {
    Sps sps;
    ASSERT_FALSE(parse_sps(from_hex(kRealSps[0].hex), sps));
    SpsSpec bad;
    bad.max_refs = 17;
    EXPECT_TRUE(parse_sps(make_sps(bad), sps));
    EXPECT_EQ(sps.width, 320u);
}

}  // namespace
}  // namespace kinema::media::h264
