// libFuzzer target for the H.264 parsers that see untrusted bytes: the SPS parser, the avcC parser and the
// Annex-B/AVCC splitters. Besides "no crash, no sanitizer report", it checks the invariants a caller
// relies on, trapping when one breaks:
// - a parsed SPS has a non-zero size and cropping smaller than the coded frame;
// - an SPS that parses goes through build_avcc/parse_avcc unchanged;
// - NAL units survive Annex-B -> AVCC -> Annex-B, and split_avcc never returns a span outside its input.
// Seeds: tests/fuzz/corpus/sps (x264 SPSs, hand-made ones with scaling lists and POC type 1, avcC records,
// the head of an Annex-B stream).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kinema/media/h264.h"

namespace h264 = kinema::media::h264;

namespace {

void check(bool condition) {
    if (!condition) __builtin_trap();
}

bool inside(h264::ByteSpan part, h264::ByteSpan whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void fuzz_sps(h264::ByteSpan data) {
    h264::Sps sps;
    if (h264::parse_sps(data, sps)) return;
    check(sps.width > 0 && sps.height > 0);
    check(sps.chroma_format_idc <= 3 && sps.bit_depth_luma <= 14 && sps.bit_depth_chroma <= 14);
    if (auto rate = sps.frame_rate()) check(*rate > 0);

    const std::vector<h264::Bytes> sps_list{h264::Bytes(data.begin(), data.end())};
    const std::vector<h264::Bytes> pps_list{{0x68, 0xCE, 0x38, 0x80}};
    h264::Bytes avcc;
    if (data.size() > 0xFFFF) return;
    check(!h264::build_avcc(sps_list, pps_list, avcc));
    h264::AvcConfig config;
    check(!h264::parse_avcc(avcc, config));
    check(config.sps == sps_list && config.pps == pps_list && config.length_size == 4);
    check(config.profile_idc == sps.profile_idc && config.level_idc == sps.level_idc);
}

void fuzz_avcc(h264::ByteSpan data) {
    h264::AvcConfig config;
    if (h264::parse_avcc(data, config)) return;
    check(config.length_size == 1 || config.length_size == 2 || config.length_size == 4);
    for (const auto& sps : config.sps) {
        h264::Sps parsed;
        (void)h264::parse_sps(sps, parsed);
    }
}

void fuzz_framing(h264::ByteSpan data) {
    auto nals = h264::split_annexb(data);
    for (auto nal : nals)
        check(!nal.empty() && inside(nal, data));
    (void)h264::is_key_frame(data);

    h264::Bytes avcc;
    check(!h264::annexb_to_avcc(data, avcc));
    std::vector<h264::ByteSpan> back;
    check(!h264::split_avcc(avcc, 4, back));
    check(back.size() == nals.size());
    for (std::size_t i = 0; i < nals.size(); ++i) {
        check(back[i].size() == nals[i].size());
        check(std::equal(back[i].begin(), back[i].end(), nals[i].begin()));
    }
    check(h264::is_key_frame(avcc, 4) == h264::is_key_frame(data));

    for (int length_size : {1, 2, 4}) {
        std::vector<h264::ByteSpan> parts;
        if (h264::split_avcc(data, length_size, parts)) {
            check(parts.empty());
            continue;
        }
        for (auto nal : parts)
            check(!nal.empty() && inside(nal, data));
        h264::Bytes annexb;
        check(!h264::avcc_to_annexb(data, annexb, length_size));
        (void)h264::is_key_frame(data, length_size);
    }
    auto rbsp = h264::to_rbsp(data);
    check(rbsp.size() <= data.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const h264::ByteSpan input(data, size);
    fuzz_sps(input);
    fuzz_avcc(input);
    fuzz_framing(input);
    return 0;
}
