// Frames in, MKV bytes out: converts Annex-B access units to AVCC, learns the avcC from the first SPS/PPS
// when none is configured, builds the stream header, and lets MkvWriter decide where fragments (Clusters)
// start. Tells the caller the cluster timecode of each new fragment, which is what ACKs refer to.
//
// Not thread-safe: the stream calls it under its lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>

#include "kinema/media/h264.h"
#include "kinema/media/mkv_writer.h"
#include "kinema/producer.h"

namespace kinema::producer {

using Bytes = std::vector<std::uint8_t>;

struct FragmenterConfig {
    bool key_frame_fragmentation = true;
    Duration fragment_duration = std::chrono::seconds(2);
    bool absolute_timecodes = true;
    std::string track_name = "kinema_video";
    std::vector<std::uint8_t> codec_private;  // avcC; empty: learn from SPS/PPS
    std::uint32_t frame_rate = 0;             // for DefaultDuration; 0: none
};

struct FragmentStart {
    std::int64_t timecode = 0;  // cluster timecode, ms (TimecodeScale is 1 ms)
    Timestamp start;            // PTS of the fragment's first frame
};

class Fragmenter {
public:
    explicit Fragmenter(FragmenterConfig config);

    // Serialises one frame into `out` (cleared first): a Cluster start when the frame begins a fragment
    // (then `*started` is set), then its SimpleBlock. Errors leave the fragmenter as it was:
    // Errc::waiting_for_key_frame, Errc::missing_codec_private, Errc::invalid_argument (empty or malformed
    // payload) or a media error (timecode_went_backwards, timecode_out_of_range for a negative time).
    std::error_code add_frame(const VideoFrame& frame, Bytes& out, std::optional<FragmentStart>& started);

    // The stream header (EBML, Segment, Info, Tracks); empty until the avcC is known.
    const Bytes& header() const noexcept { return header_; }
    // The producer start timestamp (first frame's PTS): RELATIVE cluster timecodes count from it.
    std::optional<Timestamp> start_timestamp() const noexcept { return start_; }

    // The next frame starts a new fragment, even a delta frame (flush and stop end fragments this way).
    void end_fragment() noexcept;
    // A frame was lost: drop frames until the next key frame, which starts a new fragment.
    void resync() noexcept;

private:
    std::error_code learn_codec_private(std::span<const std::uint8_t> access_unit, bool annexb);
    void build_header(const Timestamp& first_pts);

    FragmenterConfig config_;
    std::unique_ptr<media::MkvWriter> writer_;  // created once the header is known
    Bytes header_;
    Bytes avcc_scratch_;
    std::optional<Timestamp> start_;
    bool need_key_frame_ = true;
    bool force_new_fragment_ = false;
};

}  // namespace kinema::producer
