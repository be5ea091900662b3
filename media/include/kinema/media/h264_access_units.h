// Splitting a raw H.264 Annex-B elementary stream (a .h264 file, a camera's byte stream) into access
// units, the frames that put_frame and MKV blocks carry.
//
// An access unit starts at an AUD, SPS, PPS or SEI that follows a slice, or at a slice whose
// first_mb_in_slice is 0 (H.264 7.4.1.2.3). That is all the detection a single-layer stream needs; we do
// not compare slice headers field by field.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace kinema::media::h264 {

struct AccessUnit {
    std::vector<std::uint8_t> annexb;  // the access unit's NAL units, each with a 4-byte start code
    bool key = false;                  // contains an IDR slice
    bool has_parameter_sets = false;   // contains an SPS and a PPS
};

class AccessUnitSplitter {
public:
    // Appends stream bytes; complete access units become available through next().
    void feed(std::span<const std::uint8_t> bytes);
    // End of stream: the last access unit becomes available.
    void finish();
    std::optional<AccessUnit> next();

private:
    void take_nal(std::span<const std::uint8_t> nal);
    void close_unit();

    std::vector<std::uint8_t> pending_;  // bytes not yet split into NAL units
    AccessUnit current_;
    bool current_has_slice_ = false;
    bool has_sps_ = false, has_pps_ = false;
    std::vector<AccessUnit> ready_;
    std::size_t ready_head_ = 0;
};

}  // namespace kinema::media::h264
