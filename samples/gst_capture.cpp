#include "gst_capture.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <stdexcept>

namespace kinema::samples {

struct GstCapture::Map {
    GstBuffer* buffer = nullptr;
    GstMapInfo info{};
};

namespace {

std::string pipeline_description(const CaptureOptions& o) {
    const std::string caps = "video/x-raw,format=I420,width=" + std::to_string(o.width) +
                             ",height=" + std::to_string(o.height) +
                             ",framerate=" + std::to_string(o.frame_rate) + "/1";
    std::string source;
    if (o.v4l2_device.empty()) {
        source = std::string("videotestsrc pattern=ball is-live=") + (o.live ? "true" : "false");
        if (o.frames > 0) source += " num-buffers=" + std::to_string(o.frames);
    } else {
        // decodebin takes whatever the camera offers (raw or MJPEG).
        source = "v4l2src device=" + o.v4l2_device;
        if (o.frames > 0) source += " num-buffers=" + std::to_string(o.frames);
        source += " ! decodebin";
    }
    // One-second GOPs (KVS fragments), SPS/PPS before every key frame so each fragment stands alone.
    return source + " ! videoconvert ! videoscale ! videorate ! " + caps +
           " ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=" + std::to_string(o.frame_rate) +
           " bitrate=" + std::to_string(o.bitrate_kbps) +
           " ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au"
           " ! appsink name=sink sync=false max-buffers=64";
}

}  // namespace

GstCapture::GstCapture(const CaptureOptions& options) : description_(pipeline_description(options)) {
    gst_init(nullptr, nullptr);
    GError* error = nullptr;
    pipeline_ = gst_parse_launch(description_.c_str(), &error);
    if (pipeline_ == nullptr || error != nullptr) {
        const std::string message = error != nullptr ? error->message : "unknown error";
        if (error != nullptr) g_error_free(error);
        if (pipeline_ != nullptr) gst_object_unref(pipeline_);
        pipeline_ = nullptr;
        throw std::runtime_error("cannot build the GStreamer pipeline: " + message);
    }
    sink_ = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
    map_ = new Map;
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        std::string why = "cannot start the GStreamer pipeline";
        try {
            check_bus();
        } catch (const std::exception& e) {
            why = e.what();
        }
        gst_element_set_state(pipeline_, GST_STATE_NULL);
        gst_object_unref(sink_);
        gst_object_unref(pipeline_);
        delete map_;
        throw std::runtime_error(why + " (" +
                                 (options.v4l2_device.empty() ? "test pattern" : options.v4l2_device) + ")");
    }
}

GstCapture::~GstCapture() {
    if (mapped_) gst_buffer_unmap(map_->buffer, &map_->info);
    if (sample_ != nullptr) gst_sample_unref(sample_);
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(sink_);
    gst_object_unref(pipeline_);
    delete map_;
}

void GstCapture::check_bus() {
    GstBus* bus = gst_element_get_bus(pipeline_);
    while (GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
        GError* error = nullptr;
        gchar* debug = nullptr;
        gst_message_parse_error(message, &error, &debug);
        std::string text = std::string(GST_OBJECT_NAME(message->src)) + ": " + error->message;
        g_error_free(error);
        g_free(debug);
        gst_message_unref(message);
        gst_object_unref(bus);
        throw std::runtime_error(text);
    }
    gst_object_unref(bus);
}

bool GstCapture::next(CapturedFrame& frame) {
    if (mapped_) gst_buffer_unmap(map_->buffer, &map_->info);
    mapped_ = false;
    if (sample_ != nullptr) gst_sample_unref(sample_);
    sample_ = nullptr;
    for (;;) {
        sample_ = gst_app_sink_try_pull_sample(GST_APP_SINK(sink_), 200 * GST_MSECOND);
        if (sample_ != nullptr) break;
        check_bus();
        if (gst_app_sink_is_eos(GST_APP_SINK(sink_))) return false;
    }
    map_->buffer = gst_sample_get_buffer(sample_);
    if (map_->buffer == nullptr || !gst_buffer_map(map_->buffer, &map_->info, GST_MAP_READ))
        throw std::runtime_error("cannot read a GStreamer buffer");
    mapped_ = true;
    frame.data = std::span<const std::uint8_t>(map_->info.data, map_->info.size);
    const GstClockTime pts =
        GST_BUFFER_PTS_IS_VALID(map_->buffer) ? GST_BUFFER_PTS(map_->buffer) : GST_BUFFER_DTS(map_->buffer);
    frame.pts_ns = GST_CLOCK_TIME_IS_VALID(pts) ? static_cast<std::int64_t>(pts) : 0;
    frame.key = !GST_BUFFER_FLAG_IS_SET(map_->buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    return true;
}

}  // namespace kinema::samples
