// H.264 sequence parameter set parsing: ITU-T H.264 7.3.2.1.1 (seq_parameter_set_data), 7.4.2.1.1 (its
// semantics and value ranges) and E.1.1 (vui_parameters, up to and including timing_info).
#include <array>
#include <cstdint>

#include "bit_reader.h"
#include "kinema/media/error.h"
#include "kinema/media/h264.h"

namespace kinema::media::h264 {
namespace {

// Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1).
bool has_chroma_info(std::uint8_t profile_idc) {
    switch (profile_idc) {
        case 100:
        case 110:
        case 122:
        case 244:
        case 44:
        case 83:
        case 86:
        case 118:
        case 128:
        case 138:
        case 139:
        case 134:
        case 135:
            return true;
        default:
            return false;
    }
}

// scaling_list() of 7.3.2.1.1.1: only its length in the bitstream matters here, and that depends on the
// values (a delta that makes nextScale 0 ends the list early), so it is decoded, not skipped blindly.
void skip_scaling_list(BitReader& bits, int size) {
    int last_scale = 8;
    int next_scale = 8;
    for (int j = 0; j < size && bits.ok(); ++j) {
        if (next_scale != 0) {
            auto delta = static_cast<int>(bits.se_range(-128, 127));
            next_scale = (last_scale + delta + 256) % 256;
        }
        if (next_scale != 0) last_scale = next_scale;
    }
}

// Table E-1, aspect_ratio_idc 1..16.
constexpr std::array<std::array<std::uint16_t, 2>, 17> kSampleAspectRatios = {{
    {0, 0},
    {1, 1},
    {12, 11},
    {10, 11},
    {16, 11},
    {40, 33},
    {24, 11},
    {20, 11},
    {32, 11},
    {80, 33},
    {18, 11},
    {15, 11},
    {64, 33},
    {160, 99},
    {4, 3},
    {3, 2},
    {2, 1},
}};
constexpr std::uint32_t kExtendedSar = 255;

// Far beyond what any level allows (level 6.2: 139264 macroblocks per frame), yet small enough that every
// pixel computation below fits 32 bits with room to spare.
constexpr std::uint32_t kMaxDimensionInMbs = 1u << 16;

void parse_vui(BitReader& bits, Sps& sps) {
    if (bits.flag()) {  // aspect_ratio_info_present_flag
        std::uint32_t idc = bits.bits(8);
        if (idc == kExtendedSar) {
            sps.sar_width = bits.bits(16);
            sps.sar_height = bits.bits(16);
        } else if (idc < kSampleAspectRatios.size()) {
            sps.sar_width = kSampleAspectRatios[idc][0];
            sps.sar_height = kSampleAspectRatios[idc][1];
        }  // 17..254 are reserved: unspecified, like 0
    }
    if (bits.flag()) bits.skip(1);  // overscan_info_present_flag, overscan_appropriate_flag
    if (bits.flag()) {              // video_signal_type_present_flag
        bits.skip(3);               // video_format
        sps.video_full_range = bits.flag();
        if (bits.flag()) bits.skip(24);  // colour_description: primaries, transfer, matrix
    }
    if (bits.flag()) {  // chroma_loc_info_present_flag
        bits.ue_max(5);
        bits.ue_max(5);
    }
    sps.timing_info_present = bits.flag();
    if (sps.timing_info_present) {
        sps.num_units_in_tick = bits.bits(32);
        sps.time_scale = bits.bits(32);
        sps.fixed_frame_rate = bits.flag();
        if (sps.num_units_in_tick == 0 || sps.time_scale == 0) sps.timing_info_present = false;
    }
    // The HRD parameters and bitstream restrictions that follow are not needed.
}

}  // namespace

std::optional<double> Sps::frame_rate() const {
    if (!timing_info_present || num_units_in_tick == 0 || time_scale == 0) return std::nullopt;
    // A frame is two fields, hence two ticks (E.2.1).
    return static_cast<double>(time_scale) / (2.0 * static_cast<double>(num_units_in_tick));
}

std::error_code parse_sps(ByteSpan nal, Sps& out) {
    // NAL header (forbidden_zero_bit 0, type 7) plus profile, constraints and level.
    if (nal.size() < 4 || (nal[0] & 0x80) != 0 || nal_type(nal) != NalType::sps) return Errc::invalid_sps;
    Bytes rbsp = to_rbsp(nal.subspan(1));
    BitReader bits(rbsp);
    Sps sps;
    sps.profile_idc = static_cast<std::uint8_t>(bits.bits(8));
    sps.constraint_flags = static_cast<std::uint8_t>(bits.bits(8));
    sps.level_idc = static_cast<std::uint8_t>(bits.bits(8));
    sps.seq_parameter_set_id = bits.ue_max(31);

    if (has_chroma_info(sps.profile_idc)) {
        sps.chroma_format_idc = bits.ue_max(3);
        if (sps.chroma_format_idc == 3) sps.separate_colour_plane = bits.flag();
        sps.bit_depth_luma = 8 + bits.ue_max(6);
        sps.bit_depth_chroma = 8 + bits.ue_max(6);
        bits.skip(1);       // qpprime_y_zero_transform_bypass_flag
        if (bits.flag()) {  // seq_scaling_matrix_present_flag
            int lists = sps.chroma_format_idc != 3 ? 8 : 12;
            for (int i = 0; i < lists && bits.ok(); ++i) {
                if (bits.flag()) skip_scaling_list(bits, i < 6 ? 16 : 64);
            }
        }
    }

    sps.log2_max_frame_num = 4 + bits.ue_max(12);
    sps.pic_order_cnt_type = bits.ue_max(2);
    if (sps.pic_order_cnt_type == 0) {
        sps.log2_max_pic_order_cnt_lsb = 4 + bits.ue_max(12);
    } else if (sps.pic_order_cnt_type == 1) {
        sps.delta_pic_order_always_zero = bits.flag();
        bits.se();  // offset_for_non_ref_pic
        bits.se();  // offset_for_top_to_bottom_field
        std::uint32_t cycle = bits.ue_max(255);
        for (std::uint32_t i = 0; i < cycle && bits.ok(); ++i)
            bits.se();  // offset_for_ref_frame[i]
    }
    // MaxDpbFrames is at most 16 at every level (A.3.1).
    sps.max_num_ref_frames = bits.ue_max(16);
    bits.skip(1);  // gaps_in_frame_num_value_allowed_flag
    std::uint32_t width_in_mbs = bits.ue_max(kMaxDimensionInMbs - 1) + 1;
    std::uint32_t height_in_map_units = bits.ue_max(kMaxDimensionInMbs - 1) + 1;
    sps.frame_mbs_only = bits.flag();
    if (!sps.frame_mbs_only) sps.mb_adaptive_frame_field = bits.flag();
    sps.direct_8x8_inference = bits.flag();

    std::uint64_t crop_left = 0, crop_right = 0, crop_top = 0, crop_bottom = 0;
    if (bits.flag()) {  // frame_cropping_flag
        crop_left = bits.ue();
        crop_right = bits.ue();
        crop_top = bits.ue();
        crop_bottom = bits.ue();
    }
    if (bits.flag()) parse_vui(bits, sps);  // vui_parameters_present_flag
    if (!bits.ok()) return Errc::invalid_sps;

    // 7.4.2.1.1: frame size and the cropping units, which depend on chroma subsampling and field coding.
    std::uint64_t frame_height_factor = sps.frame_mbs_only ? 1 : 2;
    std::uint64_t width = std::uint64_t{width_in_mbs} * 16;
    std::uint64_t height = frame_height_factor * height_in_map_units * 16;
    std::uint32_t chroma_array_type = sps.separate_colour_plane ? 0 : sps.chroma_format_idc;
    std::uint64_t crop_unit_x = 1;
    std::uint64_t crop_unit_y = frame_height_factor;
    if (chroma_array_type != 0) {
        std::uint64_t sub_width_c = sps.chroma_format_idc == 3 ? 1 : 2;
        std::uint64_t sub_height_c = sps.chroma_format_idc == 1 ? 2 : 1;
        crop_unit_x = sub_width_c;
        crop_unit_y = sub_height_c * frame_height_factor;
    }
    // Offsets are below 2^32 and units at most 4, so these products cannot overflow 64 bits.
    crop_left *= crop_unit_x;
    crop_right *= crop_unit_x;
    crop_top *= crop_unit_y;
    crop_bottom *= crop_unit_y;
    if (crop_left + crop_right >= width || crop_top + crop_bottom >= height) return Errc::invalid_sps;
    sps.crop_left = static_cast<std::uint32_t>(crop_left);
    sps.crop_right = static_cast<std::uint32_t>(crop_right);
    sps.crop_top = static_cast<std::uint32_t>(crop_top);
    sps.crop_bottom = static_cast<std::uint32_t>(crop_bottom);
    sps.width = static_cast<std::uint32_t>(width - crop_left - crop_right);
    sps.height = static_cast<std::uint32_t>(height - crop_top - crop_bottom);
    out = sps;
    return {};
}

}  // namespace kinema::media::h264
