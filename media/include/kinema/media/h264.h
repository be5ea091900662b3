// H.264 bitstream utilities: Annex-B <-> AVCC, NAL iteration, SPS parsing, avcC build and parse,
// key-frame detection. Source: ITU-T H.264 (7.3.2.1.1, 7.4.1, E.1) and ISO/IEC 14496-15 (5.3.3).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

namespace kinema::media::h264 {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

enum class NalType : std::uint8_t {
    slice = 1,
    slice_a = 2,
    slice_b = 3,
    slice_c = 4,
    idr = 5,
    sei = 6,
    sps = 7,
    pps = 8,
    aud = 9,
    end_of_sequence = 10,
    end_of_stream = 11,
    filler = 12,
    sps_ext = 13,
    prefix = 14,
    subset_sps = 15,
};

inline NalType nal_type(ByteSpan nal) {
    return static_cast<NalType>(nal.empty() ? 0 : (nal[0] & 0x1F));
}

// NAL units of an Annex-B buffer (3- or 4-byte start codes; trailing zero bytes of a NAL are not part of
// it). Leading bytes before the first start code are ignored.
std::vector<ByteSpan> split_annexb(ByteSpan data);
// NAL units of an AVCC buffer with `length_size`-byte big-endian lengths (1, 2 or 4), replacing the
// contents of `nals`. Errc::invalid_nal when a length overruns the buffer or is zero (then `nals` is
// empty), Errc::invalid_argument for another length_size.
std::error_code split_avcc(ByteSpan data, int length_size, std::vector<ByteSpan>& nals);

// Conversions append to `out`. Annex-B -> AVCC writes 4-byte lengths (or `length_size`); it fails with
// Errc::invalid_argument for a length_size other than 1, 2 or 4 and Errc::invalid_nal for a NAL unit too
// long for it, appending nothing.
std::error_code annexb_to_avcc(ByteSpan annexb, Bytes& out, int length_size = 4);
std::error_code avcc_to_annexb(ByteSpan avcc, Bytes& out, int length_size = 4);

// True when the buffer starts with an Annex-B start code (00 00 01 or 00 00 00 01).
bool looks_like_annexb(ByteSpan data);

// Removes emulation-prevention bytes (00 00 03 -> 00 00) giving the RBSP.
Bytes to_rbsp(ByteSpan nal_payload);

struct Sps {
    std::uint8_t profile_idc = 0;
    std::uint8_t constraint_flags = 0;  // constraint_set0..5 flags, the byte after profile_idc
    std::uint8_t level_idc = 0;
    std::uint32_t seq_parameter_set_id = 0;
    std::uint32_t chroma_format_idc = 1;
    std::uint32_t bit_depth_luma = 8;
    std::uint32_t bit_depth_chroma = 8;
    bool frame_mbs_only = true;
    // Frame size after cropping, and the cropping in pixels.
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::uint32_t crop_left = 0, crop_right = 0, crop_top = 0, crop_bottom = 0;
    // VUI
    std::uint32_t sar_width = 0, sar_height = 0;
    // False also when the VUI carries a zero num_units_in_tick or time_scale (E.2.1 forbids both).
    bool timing_info_present = false;
    std::uint32_t num_units_in_tick = 0;
    std::uint32_t time_scale = 0;
    bool fixed_frame_rate = false;
    // Fields a slice-header parser needs, and the rest of the SPS's shape.
    bool separate_colour_plane = false;
    std::uint32_t log2_max_frame_num = 4;
    std::uint32_t pic_order_cnt_type = 0;
    std::uint32_t log2_max_pic_order_cnt_lsb = 4;  // pic_order_cnt_type 0 only
    bool delta_pic_order_always_zero = false;      // pic_order_cnt_type 1 only
    std::uint32_t max_num_ref_frames = 0;
    bool mb_adaptive_frame_field = false;
    bool direct_8x8_inference = false;
    bool video_full_range = false;
    // Frame rate from VUI timing (time_scale / (2 * num_units_in_tick)), when present.
    std::optional<double> frame_rate() const;
};

// Parses an SPS NAL unit (including its 1-byte NAL header). Errc::invalid_sps on any malformed or
// out-of-range field; never reads past `nal`.
std::error_code parse_sps(ByteSpan nal, Sps& sps);

// AVCDecoderConfigurationRecord ("avcC"), the CodecPrivate of V_MPEG4/ISO/AVC.
struct AvcConfig {
    std::uint8_t profile_idc = 0;
    std::uint8_t profile_compatibility = 0;
    std::uint8_t level_idc = 0;
    int length_size = 4;
    std::vector<Bytes> sps;
    std::vector<Bytes> pps;
};
// Builds avcC from SPS and PPS NAL units (profile/level taken from the first SPS).
std::error_code build_avcc(std::span<const Bytes> sps, std::span<const Bytes> pps, Bytes& out,
                           int length_size = 4);
std::error_code parse_avcc(ByteSpan data, AvcConfig& config);

// True when the access unit contains an IDR slice. `length_size` 0 means Annex-B.
bool is_key_frame(ByteSpan access_unit, int length_size = 0);

}  // namespace kinema::media::h264
