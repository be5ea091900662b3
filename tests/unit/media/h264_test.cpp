#include "kinema/media/h264.h"

#include <gtest/gtest.h>

#include <string_view>

#include "kinema/media/error.h"

namespace kinema::media::h264 {
namespace {

Bytes from_hex(std::string_view hex) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

std::vector<Bytes> to_vectors(const std::vector<ByteSpan>& nals) {
    std::vector<Bytes> out;
    for (auto nal : nals)
        out.emplace_back(nal.begin(), nal.end());
    return out;
}

// Parameter sets x264 wrote (see h264_sps_test.cpp), and the avcC FFmpeg's MP4 muxer made of them
// (`ffprobe -show_streams -show_data` extradata), which build_avcc must reproduce byte for byte.
struct RealConfig {
    const char* name;
    const char* sps;
    const char* pps;
    const char* ffmpeg_avcc;
};
const RealConfig kRealConfigs[] = {
    {"baseline", "6742c00dd90141fb0110000003001000000303c0f142a480", "68cb83cb20",
     "0142c00dffe10018"
     "6742c00dd90141fb0110000003001000000303c0f142a480"
     "010005"
     "68cb83cb20"},
    {"main", "674d401eeca05017fcb808800000030080000019078b16cb", "68ebe3cb20",
     "014d401effe10018"
     "674d401eeca05017fcb808800000030080000019078b16cb"
     "010005"
     "68ebe3cb20"},
    {"high", "6764001facd9405005bb0110000003001000000303c0f1831960", "68ebe3cb22c0",
     "0164001fffe1001a"
     "6764001facd9405005bb0110000003001000000303c0f1831960"
     "010006"
     "68ebe3cb22c0fdf8f800"},
    {"high10", "676e001fa6cd940a03db0110000003001000000780f1831960", "68ebe3cb22c0",
     "016e001fffe10019"
     "676e001fa6cd940a03db0110000003001000000780f1831960"
     "010006"
     "68ebe3cb22c0fdfafa00"},
    {"high422", "677a0020bcd94056061e6f011000003e90000bb800f1831960", "68ebe3cb22c0",
     "017a0020ffe10019"
     "677a0020bcd94056061e6f011000003e90000bb800f1831960"
     "010006"
     "68ebe3cb22c0fef8f800"},
};

TEST(H264Annexb, SplitsOnThreeAndFourByteStartCodes) {
    struct Case {
        const char* name;
        Bytes input;
        std::vector<Bytes> expected;
    };
    const Case cases[] = {
        {"empty", {}, {}},
        {"no start code", {0x65, 0x88, 0x84}, {}},
        {"three-byte", {0, 0, 1, 0x67, 0xAA, 0, 0, 1, 0x68, 0xBB}, {{0x67, 0xAA}, {0x68, 0xBB}}},
        {"four-byte", {0, 0, 0, 1, 0x67, 0xAA, 0, 0, 0, 1, 0x68, 0xBB}, {{0x67, 0xAA}, {0x68, 0xBB}}},
        {"mixed", {0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x65, 0x01}, {{0x09, 0xF0}, {0x65, 0x01}}},
        {"leading garbage ignored", {0xFF, 0x12, 0, 0, 1, 0x65, 0x01}, {{0x65, 0x01}}},
        {"trailing zeros stripped",
         {0, 0, 1, 0x65, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x41, 0x02, 0, 0},
         {{0x65, 0x01}, {0x41, 0x02}}},
        {"empty NAL between start codes skipped", {0, 0, 1, 0, 0, 1, 0x41, 0x02}, {{0x41, 0x02}}},
        {"start code at the end only", {0x41, 0, 0, 1}, {}},
        {"zero bytes inside a NAL kept",
         {0, 0, 1, 0x41, 0, 0x02, 0, 0, 3, 0x01},
         {{0x41, 0, 0x02, 0, 0, 3, 0x01}}},
        {"one-byte NAL", {0, 0, 1, 0x09}, {{0x09}}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(to_vectors(split_annexb(c.input)), c.expected) << c.name;
    }
}

TEST(H264Avcc, SplitsEveryLengthSize) {
    struct Case {
        const char* name;
        int length_size;
        Bytes input;
        std::error_code error;
        std::vector<Bytes> expected;
    };
    const Case cases[] = {
        {"empty", 4, {}, {}, {}},
        {"4-byte", 4, {0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x41}, {}, {{0x65, 0xAA}, {0x41}}},
        {"2-byte", 2, {0, 2, 0x65, 0xAA, 0, 1, 0x41}, {}, {{0x65, 0xAA}, {0x41}}},
        {"1-byte", 1, {2, 0x65, 0xAA, 1, 0x41}, {}, {{0x65, 0xAA}, {0x41}}},
        {"length overruns", 4, {0, 0, 0, 3, 0x65, 0xAA}, Errc::invalid_nal, {}},
        {"overrun after a good NAL", 2, {0, 1, 0x41, 0, 9, 0x65}, Errc::invalid_nal, {}},
        {"truncated prefix", 4, {0, 0, 0, 1, 0x41, 0, 0}, Errc::invalid_nal, {}},
        {"zero length", 4, {0, 0, 0, 0}, Errc::invalid_nal, {}},
        {"length of 2^32 - 1", 4, {0xFF, 0xFF, 0xFF, 0xFF, 0x65}, Errc::invalid_nal, {}},
        {"length size 3", 3, {0, 0, 1, 0x41}, Errc::invalid_argument, {}},
        {"length size 0", 0, {0, 0, 1, 0x41}, Errc::invalid_argument, {}},
    };
    for (const auto& c : cases) {
        std::vector<ByteSpan> nals{ByteSpan{}};  // replaced, not appended to
        EXPECT_EQ(split_avcc(c.input, c.length_size, nals), c.error) << c.name;
        EXPECT_EQ(to_vectors(nals), c.expected) << c.name;
    }
}

TEST(H264Convert, AnnexbToAvccAndBack) {
    const Bytes sps = from_hex(kRealConfigs[2].sps);
    const Bytes pps = from_hex(kRealConfigs[2].pps);
    Bytes idr(300, 0x88);
    idr[0] = 0x65;
    for (int start_code : {3, 4}) {
        Bytes annexb;
        for (const Bytes* nal : std::initializer_list<const Bytes*>{&sps, &pps, &idr}) {
            if (start_code == 4) annexb.push_back(0);
            annexb.insert(annexb.end(), {0, 0, 1});
            annexb.insert(annexb.end(), nal->begin(), nal->end());
        }
        for (int length_size : {2, 4}) {
            SCOPED_TRACE(testing::Message()
                         << start_code << "-byte start codes, " << length_size << "-byte lengths");
            Bytes avcc{0xEE};  // appended to
            ASSERT_FALSE(annexb_to_avcc(annexb, avcc, length_size));
            ASSERT_EQ(avcc.size(),
                      1 + 3 * static_cast<std::size_t>(length_size) + sps.size() + pps.size() + idr.size());
            EXPECT_EQ(avcc[0], 0xEE);
            std::vector<ByteSpan> nals;
            ASSERT_FALSE(split_avcc(ByteSpan(avcc).subspan(1), length_size, nals));
            EXPECT_EQ(to_vectors(nals), (std::vector<Bytes>{sps, pps, idr}));

            Bytes back;
            ASSERT_FALSE(avcc_to_annexb(ByteSpan(avcc).subspan(1), back, length_size));
            EXPECT_TRUE(looks_like_annexb(back));
            EXPECT_EQ(to_vectors(split_annexb(back)), (std::vector<Bytes>{sps, pps, idr}));
            if (start_code == 4) {
                EXPECT_EQ(back, annexb);  // the output always uses 4-byte start codes
            }
        }
    }
}

TEST(H264Convert, ErrorsAppendNothing) {
    Bytes long_nal = {0, 0, 1, 0x65};
    long_nal.resize(4 + 255, 0x11);  // 256-byte NAL: too long for a 1-byte length
    Bytes out{1, 2, 3};
    EXPECT_EQ(annexb_to_avcc(long_nal, out, 1), Errc::invalid_nal);
    EXPECT_EQ(annexb_to_avcc(long_nal, out, 3), Errc::invalid_argument);
    EXPECT_EQ(avcc_to_annexb(Bytes{0, 0, 0, 1, 0x41, 0, 0, 0, 9, 0x65}, out), Errc::invalid_nal);
    EXPECT_EQ(out, (Bytes{1, 2, 3}));
    Bytes fits = long_nal;
    fits.pop_back();  // 255 bytes fit
    EXPECT_FALSE(annexb_to_avcc(fits, out, 1));
    EXPECT_EQ(out.size(), 3u + 1 + 255);
    EXPECT_EQ(out[3], 255);
}

TEST(H264Annexb, LooksLikeAnnexb) {
    const std::pair<Bytes, bool> cases[] = {
        {{0, 0, 1, 0x65}, true},
        {{0, 0, 0, 1, 0x65}, true},
        {{0, 0, 1}, true},
        {{0, 0, 0, 2, 0x65}, false},
        {{0, 0, 2}, false},
        {{0, 1}, false},
        {{}, false},
        {{1, 0, 0, 1}, false},
    };
    for (const auto& [data, expected] : cases)
        EXPECT_EQ(looks_like_annexb(data), expected) << data.size();
}

TEST(H264Rbsp, RemovesEmulationPrevention) {
    const std::pair<Bytes, Bytes> cases[] = {
        {{}, {}},
        {{0x00, 0x00, 0x03, 0x01}, {0x00, 0x00, 0x01}},
        {{0x00, 0x00, 0x03, 0x00, 0x00, 0x03}, {0x00, 0x00, 0x00, 0x00}},  // also at the very end
        {{0x00, 0x00, 0x03, 0x03}, {0x00, 0x00, 0x03}},  // the second 03 follows no zeros once the first goes
        {{0x00, 0x03, 0x00, 0x03}, {0x00, 0x03, 0x00, 0x03}},
        {{0x00, 0x00, 0x00, 0x03, 0x02}, {0x00, 0x00, 0x00, 0x02}},
        {{0x12, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x34}, {0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x34}},
    };
    for (const auto& [input, expected] : cases)
        EXPECT_EQ(to_rbsp(input), expected);
}

TEST(H264Avcc, BuildMatchesFfmpeg) {
    for (const auto& c : kRealConfigs) {
        SCOPED_TRACE(c.name);
        const std::vector<Bytes> sps{from_hex(c.sps)};
        const std::vector<Bytes> pps{from_hex(c.pps)};
        Bytes avcc;
        ASSERT_FALSE(build_avcc(sps, pps, avcc));
        EXPECT_EQ(avcc, from_hex(c.ffmpeg_avcc));

        AvcConfig config;
        ASSERT_FALSE(parse_avcc(avcc, config));
        EXPECT_EQ(config.profile_idc, sps[0][1]);
        EXPECT_EQ(config.profile_compatibility, sps[0][2]);
        EXPECT_EQ(config.level_idc, sps[0][3]);
        EXPECT_EQ(config.length_size, 4);
        EXPECT_EQ(config.sps, sps);
        EXPECT_EQ(config.pps, pps);
    }
}

TEST(H264Avcc, RoundTripsSeveralSetsAndLengthSizes) {
    const std::vector<Bytes> sps{from_hex(kRealConfigs[0].sps), from_hex(kRealConfigs[0].sps)};
    const std::vector<Bytes> pps{{0x68, 0x01}, {0x68, 0x02, 0x03}, {0x68}};
    for (int length_size : {1, 2, 4}) {
        Bytes avcc;
        ASSERT_FALSE(build_avcc(sps, pps, avcc, length_size));
        EXPECT_EQ(avcc[4], 0xFC | (length_size - 1));
        EXPECT_EQ(avcc[5], 0xE2);
        AvcConfig config;
        ASSERT_FALSE(parse_avcc(avcc, config));
        EXPECT_EQ(config.length_size, length_size);
        EXPECT_EQ(config.sps, sps);
        EXPECT_EQ(config.pps, pps);
    }
}

// Profile 0 with no constraint flags puts 00 00 03 in the first bytes; the record carries the RBSP values.
// (The rest is the baseline SPS above; a profile other than 66, 77 and 88 also gets the extension bytes.)
TEST(H264Avcc, ProfileBytesComeFromTheRbsp) {
    const std::vector<Bytes> sps{from_hex("670000030ad90141fb0110000003001000000303c0f142a480")};
    const std::vector<Bytes> pps{{0x68, 0xCE}};
    Bytes avcc;
    ASSERT_FALSE(build_avcc(sps, pps, avcc));
    EXPECT_EQ(Bytes(avcc.begin(), avcc.begin() + 4), (Bytes{0x01, 0x00, 0x00, 0x0A}));
    EXPECT_EQ(Bytes(avcc.end() - 4, avcc.end()), (Bytes{0xFD, 0xF8, 0xF8, 0x00}));
    AvcConfig config;
    ASSERT_FALSE(parse_avcc(avcc, config));
    EXPECT_EQ(config.level_idc, 0x0A);
    EXPECT_EQ(config.sps, sps);
}

// High 4:4:4 Predictive (244) gets the extension too, as FFmpeg writes it: ff f8 f8 00.
TEST(H264Avcc, ExtensionForHigh444) {
    const std::vector<Bytes> sps{from_hex("67f4000d919b282c12d80880000003008000001e078a14cb")};
    const std::vector<Bytes> pps{{0x68, 0xEB, 0xE3, 0xC4}};
    Bytes avcc;
    ASSERT_FALSE(build_avcc(sps, pps, avcc));
    EXPECT_EQ(Bytes(avcc.end() - 4, avcc.end()), (Bytes{0xFF, 0xF8, 0xF8, 0x00}));
}

TEST(H264Avcc, BuildRejectsBadInput) {
    const Bytes sps = from_hex(kRealConfigs[0].sps);
    const Bytes pps = from_hex(kRealConfigs[0].pps);
    Bytes truncated_high_sps = from_hex(kRealConfigs[2].sps);
    truncated_high_sps.resize(5);  // profile 100 needs the parsed SPS for the extension bytes
    struct Case {
        const char* name;
        std::vector<Bytes> sps, pps;
        int length_size;
        std::error_code error;
    };
    const Case cases[] = {
        {"no SPS", {}, {pps}, 4, Errc::missing_parameter_sets},
        {"no PPS", {sps}, {}, 4, Errc::missing_parameter_sets},
        {"PPS given as SPS", {pps}, {pps}, 4, Errc::invalid_sps},
        {"SPS given as PPS", {sps}, {sps}, 4, Errc::invalid_nal},
        {"empty PPS", {sps}, {Bytes{}}, 4, Errc::invalid_nal},
        {"unparseable high-profile SPS", {truncated_high_sps}, {pps}, 4, Errc::invalid_sps},
        {"32 SPSs", std::vector<Bytes>(32, sps), {pps}, 4, Errc::invalid_argument},
        {"length size 3", {sps}, {pps}, 3, Errc::invalid_argument},
    };
    for (const auto& c : cases) {
        Bytes out{9};
        EXPECT_EQ(build_avcc(c.sps, c.pps, out, c.length_size), c.error) << c.name;
        EXPECT_EQ(out, Bytes{9}) << c.name;
    }
}

TEST(H264Avcc, ParseRejectsMalformedRecords) {
    const Bytes good = from_hex(kRealConfigs[0].ffmpeg_avcc);
    auto edited = [&](std::size_t at, std::uint8_t value) {
        Bytes b = good;
        b[at] = value;
        return b;
    };
    const std::pair<const char*, Bytes> cases[] = {
        {"empty", {}},
        {"shorter than the fixed part", Bytes(good.begin(), good.begin() + 6)},
        {"version 0", edited(0, 0)},
        {"length size 3", edited(4, 0xFE)},
        {"SPS length overruns", edited(7, 0x40)},
        {"SPS of length zero", edited(7, 0x00)},
        {"no PPS count", Bytes(good.begin(), good.begin() + 8 + 0x18)},
        {"PPS cut short", Bytes(good.begin(), good.end() - 1)},
    };
    for (const auto& [name, data] : cases) {
        AvcConfig config;
        config.level_idc = 77;
        EXPECT_EQ(parse_avcc(data, config), Errc::invalid_avcc) << name;
        EXPECT_EQ(config.level_idc, 77) << name;  // untouched on failure
    }
    for (std::size_t length = 0; length < good.size(); ++length) {
        Bytes prefix(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length));
        AvcConfig config;
        EXPECT_EQ(parse_avcc(prefix, config), Errc::invalid_avcc) << length;
    }
}

TEST(H264Avcc, ParseAcceptsZeroReservedBitsAndTrailingExtensions) {
    Bytes avcc = from_hex(kRealConfigs[2].ffmpeg_avcc);
    avcc[4] = 0x03;  // reserved bits written as zeros by some muxers
    avcc[5] = 0x01;
    avcc.insert(avcc.end(), {0x01, 0x00, 0x02, 0x6D, 0x01});  // an SPS extension we do not use
    AvcConfig config;
    ASSERT_FALSE(parse_avcc(avcc, config));
    EXPECT_EQ(config.length_size, 4);
    ASSERT_EQ(config.sps.size(), 1u);
    EXPECT_EQ(config.sps[0], from_hex(kRealConfigs[2].sps));
    ASSERT_EQ(config.pps.size(), 1u);
}

TEST(H264KeyFrame, DetectsIdrInBothFramings) {
    const Bytes sps = from_hex(kRealConfigs[0].sps);
    const Bytes sei = {0x06, 0x05, 0x01, 0x80};
    const Bytes idr = {0x65, 0x88, 0x84, 0x21};
    const Bytes non_idr = {0x41, 0x9A, 0x02};
    auto annexb = [](std::initializer_list<const Bytes*> nals) {
        Bytes out;
        for (const Bytes* nal : nals) {
            out.insert(out.end(), {0, 0, 0, 1});
            out.insert(out.end(), nal->begin(), nal->end());
        }
        return out;
    };
    struct Case {
        const char* name;
        Bytes annexb;
        bool key;
    };
    const Case cases[] = {
        {"SPS SEI IDR", annexb({&sps, &sei, &idr}), true},
        {"IDR alone", annexb({&idr}), true},
        {"non-IDR slice", annexb({&non_idr}), false},
        {"SPS and SEI only", annexb({&sps, &sei}), false},
        {"empty", {}, false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(is_key_frame(c.annexb), c.key) << c.name;
        for (int length_size : {2, 4}) {
            Bytes avcc;
            ASSERT_FALSE(annexb_to_avcc(c.annexb, avcc, length_size));
            EXPECT_EQ(is_key_frame(avcc, length_size), c.key) << c.name << " avcc " << length_size;
        }
    }
    // An AVCC buffer whose first length overruns never reaches the IDR after it.
    Bytes broken = {0, 0, 0, 50, 0x41, 0, 0, 0, 4};
    broken.insert(broken.end(), idr.begin(), idr.end());
    EXPECT_FALSE(is_key_frame(broken, 4));
    EXPECT_FALSE(is_key_frame(annexb({&idr}), 3));
}

}  // namespace
}  // namespace kinema::media::h264
