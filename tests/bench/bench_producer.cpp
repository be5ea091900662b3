// kinema-bench-producer: what kinema::producer costs a device, next to GStreamer's matroskamux doing the
// muxing part of the same job in the same run.
//
// The stream is real H.264: 10 s of 1280x720 at 30 fps and 4 Mbit/s with a 1 s GOP, encoded by ffmpeg at
// the start and split into access units. Phases:
//   1. put_frame_per_s and peak_rss_mb: 100 s of media (the clip looped) put as fast as possible into a
//      stream whose server is unreachable and whose buffer holds 10 s, so put_frame never waits for the
//      network and the buffer stays full (old fragments dropped), the worst case for memory.
//   2. A fake PutMedia server on loopback that ACKs: 10 s of media as fast as possible, then 10 s paced in
//      real time; cpu_pct_4mbps is the CPU time of the SDK's work (the put_frame caller's thread plus the
//      SDK's own threads) over the wall time of the paced part, in % of one core.
//   3. The same 10 s paced through appsrc ! h264parse ! matroskamux ! fakesink: gst_matroskamux_cpu_pct,
//      measured the same way (the pushing thread plus the pipeline's threads).
// Figures are `name: value` lines. Nothing is asserted on time; this is not part of ctest.
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_putmedia_server.h"
#include "kinema/media/h264_access_units.h"
#include "kinema/producer.h"

namespace kp = kinema::producer;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kFps = 30;
constexpr std::chrono::nanoseconds kFrameInterval{1'000'000'000 / kFps};

struct Frame {
    std::vector<std::uint8_t> data;
    bool key = false;
};

std::vector<Frame> encode_clip() {
    const char* command =
        "ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30 -frames:v 300 "
        "-c:v libx264 -preset ultrafast -tune zerolatency -b:v 4M -maxrate 4M -bufsize 4M -g 30 -keyint_min "
        "30 "
        "-sc_threshold 0 -bf 0 -f h264 -";
    std::FILE* pipe = ::popen(command, "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run ffmpeg");
    kinema::media::h264::AccessUnitSplitter splitter;
    std::vector<std::uint8_t> buffer(1 << 16);
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        splitter.feed(std::span(buffer.data(), n));
    if (::pclose(pipe) != 0) throw std::runtime_error("ffmpeg failed");
    splitter.finish();
    std::vector<Frame> frames;
    while (auto unit = splitter.next())
        frames.push_back(Frame{std::move(unit->annexb), unit->key});
    return frames;
}

// CPU time of one thread of this process in ns (the kernel's scheduler accounting, ns precision).
std::int64_t thread_cpu_ns(const std::string& tid) {
    std::ifstream in("/proc/self/task/" + tid + "/schedstat");
    std::int64_t ns = 0;
    in >> ns;
    return ns;
}

std::set<std::string> threads() {
    std::set<std::string> tids;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
        tids.insert(entry.path().filename().string());
    return tids;
}

std::int64_t own_thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// CPU of the calling thread plus every thread not in `before`, between start() and stop().
class CpuMeter {
public:
    explicit CpuMeter(std::set<std::string> before) : before_(std::move(before)) {}
    void start() {
        wall_ = Clock::now();
        main_ = own_thread_cpu_ns();
        others_ = others_cpu_ns();
    }
    // % of one core.
    double stop() {
        const double cpu = static_cast<double>(own_thread_cpu_ns() - main_ + others_cpu_ns() - others_);
        const double wall = static_cast<double>(std::chrono::nanoseconds(Clock::now() - wall_).count());
        return 100.0 * cpu / wall;
    }

private:
    std::int64_t others_cpu_ns() const {
        std::int64_t sum = 0;
        for (const auto& tid : threads())
            if (!before_.contains(tid)) sum += thread_cpu_ns(tid);
        return sum;
    }
    std::set<std::string> before_;
    Clock::time_point wall_;
    std::int64_t main_ = 0;
    std::int64_t others_ = 0;
};

double max_rss_mb() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

kp::VideoFrame video_frame(const Frame& f, kp::Timestamp start, std::int64_t index) {
    kp::VideoFrame v;
    v.data = f.data;
    v.pts = start + kFrameInterval * index;
    v.dts = v.pts;
    v.key = f.key;
    return v;
}

// Phase 1: put_frame as fast as possible, nothing to send to; the buffer stays full at 10 s.
void put_frame_throughput(const std::vector<Frame>& clip) {
    std::printf("baseline_rss_mb: %.1f\n", max_rss_mb());
    kp::StreamConfig config;
    config.endpoint = "ws://127.0.0.1:9";  // discard port: nothing listens on loopback
    config.stream_name = "bench";
    config.buffer_duration = std::chrono::seconds(10);
    kp::Producer producer;
    kp::Stream& stream = producer.add_stream(config);
    const auto start = kp::Timestamp::now();
    constexpr int kLoops = 10;
    std::uint64_t bytes = 0;
    const auto begin = Clock::now();
    for (int loop = 0; loop < kLoops; ++loop)
        for (std::size_t i = 0; i < clip.size(); ++i) {
            const auto index = static_cast<std::int64_t>(loop * clip.size() + i);
            if (stream.put_frame(video_frame(clip[i], start, index)))
                throw std::runtime_error("put_frame refused a frame");
            bytes += clip[i].data.size();
        }
    const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    const auto metrics = stream.metrics();
    std::printf("put_frame_per_s: %.0f\n", static_cast<double>(kLoops * clip.size()) / seconds);
    std::printf("put_frame_mb_per_s: %.0f\n", static_cast<double>(bytes) / 1e6 / seconds);
    std::printf("buffered_s_at_end: %.1f\n",
                std::chrono::duration<double>(metrics.buffered_duration).count());
    std::printf("buffered_mb_at_end: %.1f\n", static_cast<double>(metrics.buffered_bytes) / 1e6);
    std::printf("fragments_dropped: %llu\n", static_cast<unsigned long long>(metrics.fragments_dropped));
    std::printf("peak_rss_mb: %.1f\n", max_rss_mb());
    stream.stop(std::chrono::milliseconds(0));
}

// Phase 2: to a loopback server that ACKs; 10 s as fast as possible, then 10 s in real time.
void sdk_cpu(const std::vector<Frame>& clip) {
    kp::testing::FakePutMediaServer server;
    const auto before = threads();  // the fake server's thread is not the SDK's
    kp::StreamConfig config;
    config.endpoint = server.endpoint();
    config.stream_name = "bench";
    config.buffer_duration = std::chrono::seconds(10);
    kp::Producer producer;
    kp::Stream& stream = producer.add_stream(config);
    const auto start = kp::Timestamp::now();
    std::int64_t index = 0;
    const auto fast_begin = Clock::now();
    for (const auto& f : clip)
        stream.put_frame(video_frame(f, start, index++));
    if (stream.flush(std::chrono::seconds(30)))
        throw std::runtime_error("the fast part was not acknowledged");
    std::printf("fast_10s_to_persisted_s: %.2f\n",
                std::chrono::duration<double>(Clock::now() - fast_begin).count());

    CpuMeter meter(before);
    meter.start();
    const auto paced_begin = Clock::now();
    for (std::size_t i = 0; i < clip.size(); ++i) {
        std::this_thread::sleep_until(paced_begin + kFrameInterval * static_cast<std::int64_t>(i));
        stream.put_frame(video_frame(clip[i], start, index++));
    }
    std::printf("cpu_pct_4mbps: %.2f\n", meter.stop());
    const auto report = stream.stop(std::chrono::seconds(10));
    const auto m = stream.metrics();
    std::printf("sdk_acks_persisted: %llu\n", static_cast<unsigned long long>(m.acks_persisted));
    std::printf("sdk_all_acknowledged: %d\n", report.all_acknowledged ? 1 : 0);
}

// Phase 3: GStreamer's matroskamux on the same access units, paced the same way.
void gstreamer_cpu(const std::vector<Frame>& clip) {
    gst_init(nullptr, nullptr);
    const auto before = threads();
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(
        "appsrc name=src format=time is-live=true do-timestamp=false "
        "caps=video/x-h264,stream-format=byte-stream,alignment=au,width=1280,height=720,framerate=30/1 "
        "! h264parse ! matroskamux streamable=true ! fakesink sync=false",
        &error);
    if (pipeline == nullptr || error != nullptr)
        throw std::runtime_error("cannot build the GStreamer pipeline");
    GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    CpuMeter meter(before);
    meter.start();
    const auto begin = Clock::now();
    for (std::size_t i = 0; i < clip.size(); ++i) {
        std::this_thread::sleep_until(begin + kFrameInterval * static_cast<std::int64_t>(i));
        GstBuffer* buffer = gst_buffer_new_memdup(clip[i].data.data(), clip[i].data.size());
        GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(kFrameInterval.count()) * i;
        GST_BUFFER_DTS(buffer) = GST_BUFFER_PTS(buffer);
        GST_BUFFER_DURATION(buffer) = static_cast<GstClockTime>(kFrameInterval.count());
        if (!clip[i].key) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
        gst_app_src_push_buffer(GST_APP_SRC(src), buffer);
    }
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* message = gst_bus_timed_pop_filtered(
        bus, 10 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    std::printf("gst_matroskamux_cpu_pct: %.2f\n", meter.stop());
    const bool ok = message != nullptr && GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS;
    std::printf("gst_reached_eos: %d\n", ok ? 1 : 0);
    if (message != nullptr) gst_message_unref(message);
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(pipeline);
}

}  // namespace

int main() {
    try {
        const auto begin = Clock::now();
        const std::vector<Frame> clip = encode_clip();
        std::uint64_t bytes = 0;
        for (const auto& f : clip)
            bytes += f.data.size();
        std::printf("clip_frames: %zu\n", clip.size());
        std::printf("clip_mbit_per_s: %.2f\n",
                    static_cast<double>(bytes) * 8 / 1e6 / (static_cast<double>(clip.size()) / kFps));
        put_frame_throughput(clip);
        sdk_cpu(clip);
        gstreamer_cpu(clip);
        std::printf("bench_wall_s: %.1f\n", std::chrono::duration<double>(Clock::now() - begin).count());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kinema-bench-producer: %s\n", e.what());
        return 1;
    }
    return 0;
}
