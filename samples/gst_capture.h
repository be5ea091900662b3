// Live H.264 for kinema-put through GStreamer: a test pattern (videotestsrc) or a V4L2 camera, encoded
// with x264 and pulled from an appsink as Annex-B access units.
#pragma once

#include <cstdint>
#include <span>
#include <string>

struct _GstElement;
struct _GstSample;

namespace kinema::samples {

struct CaptureOptions {
    std::string v4l2_device;  // empty: videotestsrc
    int width = 1280;
    int height = 720;
    int frame_rate = 30;
    int bitrate_kbps = 4000;
    bool live = true;         // false: as fast as the encoder goes (test pattern only)
    std::int64_t frames = 0;  // stop after this many frames; 0: until stop() (or the camera ends)
};

struct CapturedFrame {
    std::span<const std::uint8_t> data;  // Annex-B, valid until the next call to next()
    std::int64_t pts_ns = 0;             // running time of the pipeline
    bool key = false;
};

class GstCapture {
public:
    // Throws std::runtime_error when the pipeline cannot be built or started (no such device, missing
    // plugin); the message names what failed.
    explicit GstCapture(const CaptureOptions& options);
    ~GstCapture();
    GstCapture(const GstCapture&) = delete;
    GstCapture& operator=(const GstCapture&) = delete;

    // The next access unit; false at the end of the stream. Throws on a pipeline error.
    bool next(CapturedFrame& frame);
    // The pipeline description, for messages.
    const std::string& description() const noexcept { return description_; }

private:
    void check_bus();

    std::string description_;
    _GstElement* pipeline_ = nullptr;
    _GstElement* sink_ = nullptr;
    _GstSample* sample_ = nullptr;
    bool mapped_ = false;
    struct Map;
    Map* map_ = nullptr;
};

}  // namespace kinema::samples
