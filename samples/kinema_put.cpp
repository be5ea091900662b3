// kinema-put: stream an H.264 file (MP4, MKV, raw .h264), a test pattern or a V4L2 camera to a Kinema (or
// KVS-compatible) server through kinema::producer, or write the exact MKV it would send to a file.
//
//   kinema-put --endpoint ws://127.0.0.1:8080 --stream cam1 --create video.mp4
//   kinema-put --output out.mkv --as-fast-as-possible video.mkv
//   kinema-put --endpoint ws://127.0.0.1:8080 --stream cam1 --test-pattern --duration 10
//
// Exit status: 0 when every fragment was acknowledged (PERSISTED), 1 when something was not or the input
// failed, 2 for a usage error.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "av_demuxer.h"
#include "kinema/producer.h"
#ifdef KINEMA_PUT_WITH_GSTREAMER
#include "gst_capture.h"
#endif

namespace kp = kinema::producer;
namespace ks = kinema::samples;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_interrupted{false};
// An upload (--as-fast-as-possible) had to drop a fragment: the server stopped acknowledging.
std::atomic<bool> g_upload_stalled{false};

struct Options {
    std::string input;
    std::string endpoint;
    std::string stream_name;
    std::string output;
    bool create = false;
    std::uint32_t retention_hours = 24;
    std::vector<std::string> tags;
    double fragment_duration = 2.0;
    bool key_frame_fragmentation = true;
    bool as_fast_as_possible = false;
    std::optional<double> start_time;
    double frame_rate = 30;
    double stop_timeout = 10;
    double buffer_duration = 120;
    double duration = 0;
    std::string ca_path;
    bool test_pattern = false;
    std::string v4l2;
    int width = 1280;
    int height = 720;
    int bitrate_kbps = 4000;
    bool quiet = false;
};

// One frame from whichever source, timestamps in ns from the source's start.
struct Frame {
    std::span<const std::uint8_t> data;
    std::int64_t pts_ns = 0;
    std::int64_t dts_ns = 0;
    bool key = false;
};

class Source {
public:
    virtual ~Source() = default;
    virtual bool next(Frame& frame) = 0;
    // The source paces itself (a live camera or a live test pattern): no sleeping here.
    virtual bool live() const = 0;
    virtual std::vector<std::uint8_t> codec_private() const { return {}; }
    virtual std::string describe() const = 0;
};

class FileSource final : public Source {
public:
    FileSource(const std::string& path, double frame_rate) : demuxer_(path, frame_rate), path_(path) {
        if (demuxer_.codec_name() != "h264")
            throw std::runtime_error(path + ": unsupported codec " + demuxer_.codec_name() +
                                     " (kinema-put streams H.264 only)");
    }
    bool next(Frame& frame) override {
        ks::DemuxedFrame f;
        if (!demuxer_.next(f)) return false;
        frame = Frame{f.data, f.pts_ns, f.dts_ns, f.key};
        return true;
    }
    bool live() const override { return false; }
    std::vector<std::uint8_t> codec_private() const override { return demuxer_.avcc(); }
    std::string describe() const override {
        return path_ + " (" + demuxer_.format_name() + ", " + demuxer_.codec_name() + " " +
               std::to_string(demuxer_.width()) + "x" + std::to_string(demuxer_.height()) + ")";
    }

private:
    ks::AvDemuxer demuxer_;
    std::string path_;
};

#ifdef KINEMA_PUT_WITH_GSTREAMER
class CaptureSource final : public Source {
public:
    explicit CaptureSource(const ks::CaptureOptions& options) : capture_(options), live_(options.live) {}
    bool next(Frame& frame) override {
        ks::CapturedFrame f;
        if (!capture_.next(f)) return false;
        frame = Frame{f.data, f.pts_ns, f.pts_ns, f.key};
        return true;
    }
    bool live() const override { return live_; }
    std::string describe() const override { return capture_.description(); }

private:
    ks::GstCapture capture_;
    bool live_;
};
#endif

std::string megabytes(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return text;
}

// The progress line: frames, fragments, ACKs, throughput. Redrawn in place on a terminal, one plain line
// per second otherwise (logs, pipes).
class Progress {
public:
    Progress(kp::Stream& stream, bool enabled)
        : stream_(stream), enabled_(enabled), tty_(::isatty(STDERR_FILENO) != 0) {
        if (enabled_) thread_ = std::thread([this] { run(); });
    }
    ~Progress() { finish(); }

    void finish() {
        {
            std::lock_guard lock(mutex_);
            if (done_) return;
            done_ = true;
        }
        changed_.notify_all();
        if (thread_.joinable()) thread_.join();
        if (enabled_) print(true);
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!changed_.wait_for(lock, std::chrono::seconds(1), [&] { return done_; })) {
            lock.unlock();
            print(false);
            lock.lock();
        }
    }
    void print(bool last) {
        const kp::StreamMetrics m = stream_.metrics();
        const double elapsed = std::chrono::duration<double>(Clock::now() - begin_).count();
        std::fprintf(
            stderr,
            "%sframes %llu  fragments %llu  acks %llu persisted (%llu received)  sent %s  %.2f MB/s  "
            "buffered %.1f s  %.0f s%s",
            tty_ ? "\r" : "", static_cast<unsigned long long>(m.frames_put),
            static_cast<unsigned long long>(m.fragments_put),
            static_cast<unsigned long long>(m.acks_persisted),
            static_cast<unsigned long long>(m.acks_received), megabytes(m.bytes_sent).c_str(),
            m.transfer_rate / 1e6, std::chrono::duration<double>(m.buffered_duration).count(), elapsed,
            tty_ ? (last ? "\033[K\n" : "\033[K") : "\n");
        std::fflush(stderr);
    }

    kp::Stream& stream_;
    const bool enabled_;
    const bool tty_;
    const Clock::time_point begin_ = Clock::now();
    std::mutex mutex_;
    std::condition_variable changed_;
    bool done_ = false;
    std::thread thread_;
};

std::unique_ptr<Source> open_source(const Options& o) {
    if (o.test_pattern || !o.v4l2.empty()) {
#ifdef KINEMA_PUT_WITH_GSTREAMER
        ks::CaptureOptions c;
        c.v4l2_device = o.v4l2;
        c.width = o.width;
        c.height = o.height;
        c.frame_rate = static_cast<int>(std::lround(o.frame_rate));
        c.bitrate_kbps = o.bitrate_kbps;
        c.live = !o.as_fast_as_possible || !o.v4l2.empty();
        if (o.duration > 0) c.frames = static_cast<std::int64_t>(std::llround(o.duration * o.frame_rate));
        return std::make_unique<CaptureSource>(c);
#else
        throw std::runtime_error(
            "--test-pattern and --v4l2 need GStreamer (built with KINEMA_WITH_GSTREAMER=OFF)");
#endif
    }
    if (!std::filesystem::exists(o.input)) throw std::runtime_error("no such file: " + o.input);
    return std::make_unique<FileSource>(o.input, o.frame_rate);
}

kp::StreamConfig stream_config(const Options& o, const Source& source) {
    kp::StreamConfig c;
    c.endpoint = o.endpoint;
    c.stream_name = o.stream_name.empty() ? "kinema-put" : o.stream_name;
    c.output_file = o.output;
    c.ca_path = o.ca_path;
    c.create_if_missing = o.create;
    c.retention_hours = o.retention_hours;
    for (const auto& tag : o.tags) {
        const auto eq = tag.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("--tag wants KEY=VALUE, got " + tag);
        c.stream_tags.emplace_back(tag.substr(0, eq), tag.substr(eq + 1));
    }
    c.fragment_duration =
        std::chrono::duration_cast<kp::Duration>(std::chrono::duration<double>(o.fragment_duration));
    c.key_frame_fragmentation = o.key_frame_fragmentation;
    c.buffer_duration =
        std::chrono::duration_cast<kp::Duration>(std::chrono::duration<double>(o.buffer_duration));
    c.codec_private = source.codec_private();
    // An upload outruns the server: put_frame waits for ACKs to make room, up to --stop-timeout. Not offline
    // mode, which would wait forever on a dead server (and on Ctrl-C); a drop ends the upload instead.
    if (o.as_fast_as_possible)
        c.max_put_frame_wait =
            std::chrono::duration_cast<kp::Duration>(std::chrono::duration<double>(o.stop_timeout));
    return c;
}

int run(const Options& o) {
    std::unique_ptr<Source> source;
    try {
        source = open_source(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kinema-put: %s\n", e.what());
        return 1;
    }
    if (!o.quiet)
        std::fprintf(stderr, "kinema-put: %s -> %s\n", source->describe().c_str(),
                     o.output.empty() ? (o.endpoint + " stream " + o.stream_name).c_str() : o.output.c_str());

    kp::StreamCallbacks callbacks;
    callbacks.on_error = [](const kp::StreamError& e) {
        std::fprintf(stderr, "\nkinema-put: %s%s\n", e.message.c_str(),
                     e.kvs_error_id != 0 ? (" (KVS " + std::to_string(e.kvs_error_id) + ")").c_str() : "");
    };
    callbacks.on_dropped_fragment = [&o](const kp::DroppedFragment& d) {
        std::fprintf(stderr, "\nkinema-put: dropped fragment %lld (%u frames): %s\n",
                     static_cast<long long>(d.fragment_timecode), d.frames, kp::to_string(d.reason));
        if (o.as_fast_as_possible && d.reason == kp::DropReason::buffer_full) g_upload_stalled = true;
    };
    kp::Producer producer;
    kp::Stream* stream = nullptr;
    try {
        stream = &producer.add_stream(stream_config(o, *source), callbacks);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kinema-put: %s\n", e.what());
        return 2;
    }

    // Absolute producer timestamps: the start time (now, or --start-time) plus the file's own times.
    const kp::Timestamp start =
        o.start_time
            ? kp::Timestamp::from_nanoseconds(static_cast<std::int64_t>(std::llround(*o.start_time * 1e9)))
            : kp::Timestamp::now();
    const bool pace = !o.as_fast_as_possible && !source->live();
    const auto wall_start = Clock::now();
    std::optional<std::int64_t> first_dts;
    std::uint64_t refused = 0;
    int exit_code = 0;
    {
        Progress progress(*stream, !o.quiet);
        Frame frame;
        try {
            while (!g_interrupted && !g_upload_stalled && source->next(frame)) {
                if (!first_dts) first_dts = frame.dts_ns;
                if (o.duration > 0 &&
                    frame.dts_ns - *first_dts >= static_cast<std::int64_t>(o.duration * 1e9))
                    break;
                if (pace)
                    std::this_thread::sleep_until(wall_start +
                                                  std::chrono::nanoseconds(frame.dts_ns - *first_dts));
                kp::VideoFrame vf;
                vf.data = frame.data;
                vf.pts = start + std::chrono::nanoseconds(frame.pts_ns);
                vf.dts = start + std::chrono::nanoseconds(frame.dts_ns);
                vf.key = frame.key;
                if (auto ec = stream->put_frame(vf)) {
                    if (refused++ == 0)
                        std::fprintf(stderr, "\nkinema-put: frame at %.3f s refused: %s\n",
                                     static_cast<double>(frame.pts_ns) / 1e9, ec.message().c_str());
                }
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "\nkinema-put: %s\n", e.what());
            exit_code = 1;
        }
        if (g_upload_stalled) {
            std::fprintf(
                stderr,
                "\nkinema-put: no room in the buffer after waiting %g s for acknowledgements: upload "
                "stopped\n",
                o.stop_timeout);
            exit_code = 1;
        }
        const auto timeout =
            std::chrono::duration_cast<kp::Duration>(std::chrono::duration<double>(o.stop_timeout));
        const kp::StopReport report = stream->stop(timeout);
        progress.finish();
        if (!report.all_acknowledged) {
            std::fprintf(stderr, "kinema-put: %s: %u fragments (%llu frames, %s) not acknowledged%s\n",
                         o.output.empty() ? o.endpoint.c_str() : o.output.c_str(),
                         report.unacknowledged_fragments,
                         static_cast<unsigned long long>(report.unacknowledged_frames),
                         megabytes(report.unacknowledged_bytes).c_str(),
                         report.timed_out ? " within the stop timeout" : "");
            if (!report.unacknowledged_timecodes.empty())
                std::fprintf(stderr, "kinema-put: first unacknowledged fragment timecode %lld ms\n",
                             static_cast<long long>(report.unacknowledged_timecodes.front()));
            exit_code = 1;
        }
    }
    if (refused > 0) {
        std::fprintf(stderr, "kinema-put: %llu frames refused\n", static_cast<unsigned long long>(refused));
        exit_code = 1;
    }
    return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{
        "kinema-put: stream H.264 video to a Kinema (or KVS-compatible) server with kinema::producer, or "
        "write "
        "the exact MKV it would send to a file.\nINPUT is an MP4, MKV or raw .h264 (Annex-B) file; or use "
        "--test-pattern / --v4l2 (GStreamer). Exit status: 0 when every fragment was acknowledged, 1 when "
        "something was not or the input failed, 2 for a usage error.",
        "kinema-put"};
    app.add_option("INPUT", o.input, "MP4, MKV or raw .h264 file to stream (H.264 only)");
    auto* endpoint =
        app.add_option("--endpoint", o.endpoint, "PutMedia endpoint: ws://host:port or wss://host:port");
    auto* stream = app.add_option("--stream", o.stream_name, "stream name ([a-zA-Z0-9_.-], 1-256)");
    auto* output = app.add_option("--output", o.output,
                                  "write the MKV byte stream that would be sent to FILE instead of a server")
                       ->excludes(endpoint);
    endpoint->needs(stream);
    (void)output;
    app.add_flag("--create", o.create, "create the stream first if it does not exist (CreateStream)");
    app.add_option("--retention-hours", o.retention_hours,
                   "DataRetentionInHours for --create (0: the server keeps nothing durable)")
        ->capture_default_str();
    app.add_option("--tag", o.tags, "KEY=VALUE stream tag for --create (repeatable)");
    app.add_option(
           "--fragment-duration", o.fragment_duration,
           "seconds: without key-frame fragmentation, a key frame starts a fragment once the current one "
           "is this long")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--key-frame-fragmentation", o.key_frame_fragmentation,
                   "true: every key frame starts a fragment; false: see --fragment-duration")
        ->capture_default_str();
    app.add_flag("--as-fast-as-possible", o.as_fast_as_possible,
                 "do not pace a file in real time: upload it as fast as the server takes it, keeping its "
                 "timestamps (waits for buffer room, up to --stop-timeout, instead of dropping)");
    app.add_option("--start-time", o.start_time,
                   "epoch seconds (e.g. 1700000000.250) of the input's time 0; default: now");
    app.add_option("--frame-rate", o.frame_rate,
                   "frames/s for raw .h264 input (no timing of its own) and for --test-pattern / --v4l2")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--duration", o.duration,
                   "seconds of input to send (0: all; a test pattern defaults to 10)");
    app.add_option("--stop-timeout", o.stop_timeout,
                   "seconds to wait at the end for the last acknowledgements before giving up (and, with "
                   "--as-fast-as-possible, for buffer room before stopping the upload)")
        ->capture_default_str();
    app.add_option("--buffer-duration", o.buffer_duration,
                   "seconds of media kept until acknowledged; beyond it the oldest fragments are dropped")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--ca-path", o.ca_path, "PEM file of trusted CAs for wss:// (default: the system store)");
    app.add_flag("--test-pattern", o.test_pattern,
                 "stream a GStreamer test pattern (videotestsrc ! x264enc)");
    app.add_option("--v4l2", o.v4l2, "stream a V4L2 camera, e.g. /dev/video0, encoded with x264");
    app.add_option("--width", o.width, "width for --test-pattern / --v4l2")->capture_default_str();
    app.add_option("--height", o.height, "height for --test-pattern / --v4l2")->capture_default_str();
    app.add_option("--bitrate", o.bitrate_kbps, "x264 bitrate in kbit/s for --test-pattern / --v4l2")
        ->capture_default_str();
    app.add_flag("--quiet", o.quiet, "no progress line");
    try {
        app.parse(argc, argv);
        const int sources = (o.input.empty() ? 0 : 1) + (o.test_pattern ? 1 : 0) + (o.v4l2.empty() ? 0 : 1);
        if (sources != 1) throw CLI::ValidationError("give exactly one of INPUT, --test-pattern, --v4l2");
        if (o.endpoint.empty() && o.output.empty())
            throw CLI::ValidationError("give --endpoint and --stream, or --output");
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (o.test_pattern && o.duration <= 0) o.duration = 10;
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    std::signal(SIGTERM, [](int) { g_interrupted = true; });
    return run(o);
}
