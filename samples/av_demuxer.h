// A small RAII wrapper over libavformat for the samples: opens a file (MP4, MKV, raw .h264, anything
// libavformat reads), picks its video stream and hands out its packets with timestamps in nanoseconds.
// It belongs to the samples until the kinema::av library exists (DESIGN.md); it is kept in its own file so
// it can move there.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct AVFormatContext;
struct AVPacket;

namespace kinema::samples {

struct DemuxedFrame {
    std::span<const std::uint8_t> data;  // valid until the next call to next()
    std::int64_t pts_ns = 0;             // from the stream's first presentation time
    std::int64_t dts_ns = 0;             // decode time, same origin (may be negative with B-frames)
    bool key = false;
};

class AvDemuxer {
public:
    // Throws std::runtime_error with a message naming the file: cannot open, no video stream.
    // `fallback_frame_rate` times packets that carry no timestamps (raw .h264 without timing).
    explicit AvDemuxer(const std::string& path, double fallback_frame_rate = 30);
    ~AvDemuxer();
    AvDemuxer(const AvDemuxer&) = delete;
    AvDemuxer& operator=(const AvDemuxer&) = delete;

    std::string codec_name() const;   // "h264", "hevc", ...
    std::string format_name() const;  // "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "h264", ...
    int width() const;
    int height() const;
    double frame_rate() const;  // the stream's average rate, or the fallback
    // The avcC when the container has one (MP4, MKV); empty for Annex-B input (SPS/PPS in band). Packets
    // of an avcC stream are AVCC with 4-byte lengths (other length sizes are rewritten to 4).
    const std::vector<std::uint8_t>& avcc() const noexcept { return avcc_; }

    // The next video packet in decode order; false at the end of the file. Throws on a read error.
    bool next(DemuxedFrame& frame);

private:
    AVFormatContext* format_ = nullptr;
    AVPacket* packet_ = nullptr;
    int stream_index_ = -1;
    std::string path_;
    std::vector<std::uint8_t> avcc_;
    int nal_length_size_ = 4;
    std::vector<std::uint8_t> rewritten_;
    double frame_rate_ = 30;
    std::int64_t origin_ = 0;  // stream time base units subtracted from every timestamp
    std::int64_t index_ = 0;   // packets returned, for synthesised timestamps
};

}  // namespace kinema::samples
