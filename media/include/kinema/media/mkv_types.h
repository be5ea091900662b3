// The values the MKV reader produces and the MKV writer consumes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kinema/media/timestamp.h"

namespace kinema::media {

inline constexpr std::uint64_t kDefaultTimecodeScaleNs = 1'000'000;  // 1 ms, as KVS uses

enum class TrackType : std::uint8_t {
    video = 1,
    audio = 2,
    complex = 3,
    logo = 0x10,
    subtitle = 0x11,
    buttons = 0x12,
    control = 0x20,
    metadata = 0x21
};

inline constexpr std::string_view kCodecH264 = "V_MPEG4/ISO/AVC";

struct TrackInfo {
    std::uint64_t number = 1;  // TrackNumber, what blocks refer to
    std::uint64_t uid = 1;     // TrackUID
    TrackType type = TrackType::video;
    std::string name;
    std::string codec_id;                     // "V_MPEG4/ISO/AVC"
    std::vector<std::uint8_t> codec_private;  // avcC for H.264
    std::uint64_t default_duration_ns = 0;    // 0 when absent
    // video
    std::uint32_t pixel_width = 0;
    std::uint32_t pixel_height = 0;
    // audio
    double sampling_frequency = 0;
    std::uint32_t channels = 0;

    bool operator==(const TrackInfo&) const = default;
};

struct SimpleTag {
    std::string name;
    std::string value;
    bool operator==(const SimpleTag&) const = default;
};

// What precedes the first Cluster of a Segment.
struct SegmentHeader {
    std::uint64_t timecode_scale_ns = kDefaultTimecodeScaleNs;
    std::string muxing_app;
    std::string writing_app;
    std::vector<TrackInfo> tracks;

    const TrackInfo* find_track(std::uint64_t number) const {
        for (const auto& t : tracks)
            if (t.number == number) return &t;
        return nullptr;
    }
};

// One frame (one SimpleBlock or Block, or one frame of a laced block).
struct Frame {
    std::uint64_t track = 1;
    // Absolute presentation time: (cluster timecode + block relative timecode) * TimecodeScale.
    Timestamp pts;
    // Block timecode relative to its cluster, in ticks (int16 on the wire).
    std::int16_t relative_timecode = 0;
    bool key = false;
    bool invisible = false;
    bool discardable = false;
    // BlockDuration in ns when a BlockGroup carried one, else 0.
    std::uint64_t duration_ns = 0;
    // The frame's bytes (for H.264: AVCC length-prefixed NAL units). Valid only during the callback.
    std::span<const std::uint8_t> payload;
    // Absolute byte offset of the SimpleBlock/BlockGroup element in the input.
    std::uint64_t element_offset = 0;
};

// One Cluster: a KVS fragment.
struct FragmentInfo {
    std::uint64_t offset = 0;   // absolute byte offset of the Cluster element header in the input
    std::uint64_t size = 0;     // bytes from the Cluster element header to its end (header included)
    std::int64_t timecode = 0;  // cluster Timecode in ticks
    Timestamp start;            // cluster Timecode as a timestamp
    // Duration from the cluster timecode to the end of its last frame: last pts - start plus one frame
    // interval (the block's duration, the track's DefaultDuration, or the previous frame interval).
    Duration duration{0};
    std::uint32_t frames = 0;  // blocks of every track (laced frames counted one by one)
    // Key frames of the video tracks (of every track when there is no video track: audio frames are all
    // key frames, and live joiners and HLS segments must start at a video key frame).
    std::uint32_t key_frames = 0;
    // Byte offsets of those key-frame blocks relative to `offset`, for live joiners and HLS.
    std::vector<std::uint32_t> key_frame_offsets;
};

}  // namespace kinema::media
