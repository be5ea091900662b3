// Interop of the media core with the outside world, on media generated here:
// - what MkvWriter writes is read by ffprobe, demuxed by GStreamer's matroskademux and parsed by mkvinfo;
// - what ffmpeg, GStreamer's matroskamux and mkvmerge write is read by MkvReader with the frame count, key
//   frames and timestamps that ffprobe reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "kinema/media/h264.h"
#include "kinema/media/h264_access_units.h"
#include "kinema/media/mkv_reader.h"
#include "kinema/media/mkv_writer.h"
#include "subprocess.h"

namespace kinema::media {
namespace {

using test::run_command;
using test::shell_quote;

constexpr int kFrames = 90;  // 3 s at 30 fps, 1 s GOP
constexpr int kGop = 30;
constexpr std::int64_t kStartMs = 1'700'000'000'000;

struct Packet {
    std::int64_t pts_ms;
    bool key;
    bool operator==(const Packet&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Packet& p) {
    return os << p.pts_ms << (p.key ? "K" : "");
}

// Packets of the first video stream as ffprobe reports them, in presentation order.
std::vector<Packet> ffprobe_packets(const std::filesystem::path& file) {
    auto result =
        run_command("ffprobe -v error -select_streams v:0 -show_entries packet=pts,flags -of csv=p=0 " +
                    shell_quote(file.string()));
    EXPECT_EQ(result.exit_code, 0) << "ffprobe failed on " << file;
    std::vector<Packet> packets;
    std::istringstream lines(result.output);
    std::string line;
    while (std::getline(lines, line)) {
        auto comma = line.find(',');
        if (comma == std::string::npos) continue;
        packets.push_back({std::stoll(line.substr(0, comma)), line.find('K', comma) != std::string::npos});
    }
    std::sort(packets.begin(), packets.end(), [](auto& a, auto& b) { return a.pts_ms < b.pts_ms; });
    return packets;
}

class Collector final : public MkvReaderHandler {
public:
    void on_segment(const SegmentHeader& h, std::uint64_t) override { headers.push_back(h); }
    void on_frame(const Frame& f) override { packets.push_back({f.pts.milliseconds(), f.key}); }
    void on_fragment_end(const FragmentInfo& f) override { fragments.push_back(f); }
    std::vector<SegmentHeader> headers;
    std::vector<Packet> packets;
    std::vector<FragmentInfo> fragments;
};

Collector read_with_kinema(const std::filesystem::path& file) {
    auto bytes = test::read_file(file);
    Collector collector;
    MkvReader reader(collector);
    // Odd-sized chunks, so blocks straddle feed() calls.
    for (std::size_t at = 0; at < bytes.size(); at += 4093) {
        auto n = std::min<std::size_t>(4093, bytes.size() - at);
        auto error = reader.feed({bytes.data() + at, n});
        EXPECT_FALSE(error) << file << ": " << error.message();
        if (error) return collector;
    }
    auto error = reader.finish();
    EXPECT_FALSE(error) << file << ": " << error.message();
    std::sort(collector.packets.begin(), collector.packets.end(),
              [](auto& a, auto& b) { return a.pts_ms < b.pts_ms; });
    return collector;
}

class MediaInterop : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir();
        auto h264 = *dir_ / "source.h264";
        auto result = run_command(
            "ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v " +
            std::to_string(kFrames) + " -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g " +
            std::to_string(kGop) + " -keyint_min " + std::to_string(kGop) +
            " -sc_threshold 0 -bf 0 -f h264 " + shell_quote(h264.string()));
        ASSERT_EQ(result.exit_code, 0) << "ffmpeg could not generate the test stream";
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    // The generated stream, fragmented by MkvWriter (key-frame fragmentation, absolute timecodes).
    static std::filesystem::path write_with_kinema() {
        auto annexb = test::read_file(*dir_ / "source.h264");
        h264::AccessUnitSplitter splitter;
        splitter.feed(annexb);
        splitter.finish();
        std::vector<h264::AccessUnit> units;
        while (auto unit = splitter.next())
            units.push_back(std::move(*unit));
        EXPECT_EQ(units.size(), static_cast<std::size_t>(kFrames));

        std::vector<h264::Bytes> sps, pps;
        for (auto nal : h264::split_annexb(units.front().annexb)) {
            if (h264::nal_type(nal) == h264::NalType::sps) sps.emplace_back(nal.begin(), nal.end());
            if (h264::nal_type(nal) == h264::NalType::pps) pps.emplace_back(nal.begin(), nal.end());
        }
        h264::Sps parsed;
        EXPECT_FALSE(h264::parse_sps(sps.at(0), parsed));
        TrackInfo track;
        track.codec_id = std::string(kCodecH264);
        track.pixel_width = parsed.width;
        track.pixel_height = parsed.height;
        EXPECT_FALSE(h264::build_avcc(sps, pps, track.codec_private));
        MkvWriterOptions options;
        options.header.tracks.push_back(track);
        MkvWriter writer(options);
        Bytes out;
        writer.write_header(out);
        Bytes avcc;
        for (int i = 0; i < kFrames; ++i) {
            avcc.clear();
            EXPECT_FALSE(h264::annexb_to_avcc(units[static_cast<std::size_t>(i)].annexb, avcc));
            FrameInput frame;
            frame.pts = Timestamp::from_milliseconds(kStartMs + i * 1000 / 30);
            frame.key = units[static_cast<std::size_t>(i)].key;
            frame.payload = avcc;
            EXPECT_FALSE(writer.write_frame(frame, out));
        }
        auto path = *dir_ / "kinema.mkv";
        test::write_file(path, out);
        return path;
    }

    static std::vector<Packet> expected_kinema_packets() {
        std::vector<Packet> packets;
        for (int i = 0; i < kFrames; ++i)
            packets.push_back({kStartMs + i * 1000 / 30, i % kGop == 0});
        return packets;
    }

    static test::TempDir* dir_;
};

test::TempDir* MediaInterop::dir_ = nullptr;

TEST_F(MediaInterop, FfprobeReadsKinemaOutput) {
    auto mkv = write_with_kinema();
    auto stream = run_command(
        "ffprobe -v error -select_streams v:0 -count_frames -show_entries "
        "stream=codec_name,width,height,nb_read_frames -of default=noprint_wrappers=1 " +
        shell_quote(mkv.string()));
    ASSERT_EQ(stream.exit_code, 0);
    EXPECT_NE(stream.output.find("codec_name=h264"), std::string::npos) << stream.output;
    EXPECT_NE(stream.output.find("width=320"), std::string::npos) << stream.output;
    EXPECT_NE(stream.output.find("height=240"), std::string::npos) << stream.output;
    // nb_read_frames counts decoded frames: every frame decodes.
    EXPECT_NE(stream.output.find("nb_read_frames=" + std::to_string(kFrames)), std::string::npos)
        << stream.output;
    EXPECT_EQ(ffprobe_packets(mkv), expected_kinema_packets());
}

TEST_F(MediaInterop, GstreamerDemuxesKinemaOutput) {
    auto mkv = write_with_kinema();
    // fakesink -v prints one "chain" line per buffer it receives.
    auto result = run_command("gst-launch-1.0 -v filesrc location=" + shell_quote(mkv.string()) +
                              " ! matroskademux ! h264parse ! fakesink silent=false 2>&1");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    std::size_t buffers = 0;
    for (std::size_t at = result.output.find("chain"); at != std::string::npos;
         at = result.output.find("chain", at + 1))
        ++buffers;
    EXPECT_EQ(buffers, static_cast<std::size_t>(kFrames)) << result.output.substr(0, 4000);
    EXPECT_NE(result.output.find("video/x-h264"), std::string::npos);
    EXPECT_NE(result.output.find("width=(int)320"), std::string::npos);
}

TEST_F(MediaInterop, MkvinfoParsesKinemaOutput) {
    auto mkv = write_with_kinema();
    auto result = run_command("mkvinfo -v " + shell_quote(mkv.string()));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("Codec ID: V_MPEG4/ISO/AVC"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("Pixel width: 320"), std::string::npos);
    std::size_t blocks = 0, keys = 0;
    std::istringstream lines(result.output);
    std::string line;
    while (std::getline(lines, line)) {
        // mkvinfo 74 prints "+ Simple block: key, track number 1, ..."
        if (line.find("Simple block") == std::string::npos) continue;
        ++blocks;
        if (line.find("block: key") != std::string::npos) ++keys;
    }
    EXPECT_EQ(blocks, static_cast<std::size_t>(kFrames));
    EXPECT_EQ(keys, static_cast<std::size_t>(kFrames / kGop));
    EXPECT_EQ(result.output.find("Error"), std::string::npos) << result.output;
}

TEST_F(MediaInterop, KinemaReadsItsOwnOutputLikeFfprobe) {
    auto mkv = write_with_kinema();
    auto collected = read_with_kinema(mkv);
    EXPECT_EQ(collected.packets, ffprobe_packets(mkv));
    ASSERT_EQ(collected.fragments.size(), static_cast<std::size_t>(kFrames / kGop));
    for (const auto& f : collected.fragments) {
        EXPECT_EQ(f.frames, static_cast<std::uint32_t>(kGop));
        EXPECT_EQ(f.key_frames, 1u);
    }
}

// Each outside muxer's file must read with the same packets ffprobe reports.
void expect_reads_like_ffprobe(const std::filesystem::path& mkv) {
    auto collected = read_with_kinema(mkv);
    auto expected = ffprobe_packets(mkv);
    ASSERT_EQ(expected.size(), static_cast<std::size_t>(kFrames)) << "ffprobe sees a different stream";
    EXPECT_EQ(collected.packets, expected);
    ASSERT_EQ(collected.headers.size(), 1u);
    ASSERT_EQ(collected.headers[0].tracks.size(), 1u);
    EXPECT_EQ(collected.headers[0].tracks[0].codec_id, kCodecH264);
    EXPECT_EQ(collected.headers[0].tracks[0].pixel_width, 320u);
    EXPECT_EQ(collected.fragments.empty(), false);
    std::uint32_t frames = 0;
    for (const auto& f : collected.fragments)
        frames += f.frames;
    EXPECT_EQ(frames, static_cast<std::uint32_t>(kFrames));
}

TEST_F(MediaInterop, ReadsFfmpegMatroska) {
    auto mkv = *dir_ / "ffmpeg.mkv";
    ASSERT_EQ(run_command("ffmpeg -hide_banner -loglevel error -y -r 30 -i " +
                          shell_quote((*dir_ / "source.h264").string()) + " -c copy -f matroska " +
                          shell_quote(mkv.string()))
                  .exit_code,
              0);
    expect_reads_like_ffprobe(mkv);
}

TEST_F(MediaInterop, ReadsFfmpegLiveMatroska) {
    auto mkv = *dir_ / "ffmpeg-live.mkv";
    ASSERT_EQ(run_command("ffmpeg -hide_banner -loglevel error -y -r 30 -i " +
                          shell_quote((*dir_ / "source.h264").string()) + " -c copy -live 1 -f matroska " +
                          shell_quote(mkv.string()))
                  .exit_code,
              0);
    expect_reads_like_ffprobe(mkv);
}

TEST_F(MediaInterop, ReadsGstreamerStreamableMatroska) {
    auto mkv = *dir_ / "gst.mkv";
    ASSERT_EQ(
        run_command("gst-launch-1.0 -q videotestsrc num-buffers=" + std::to_string(kFrames) +
                    " ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! x264enc key-int-max=" +
                    std::to_string(kGop) +
                    " bframes=0 ! h264parse ! matroskamux streamable=true ! filesink location=" +
                    shell_quote(mkv.string()) + " >/dev/null")
            .exit_code,
        0);
    expect_reads_like_ffprobe(mkv);
}

TEST_F(MediaInterop, ReadsMkvmergeOutput) {
    auto mkv = *dir_ / "mkvmerge.mkv";
    auto result = run_command("mkvmerge -q -o " + shell_quote(mkv.string()) + " --default-duration 0:30fps " +
                              shell_quote((*dir_ / "source.h264").string()));
    ASSERT_LE(result.exit_code, 1) << "mkvmerge failed";  // 1 means warnings
    expect_reads_like_ffprobe(mkv);
}

}  // namespace
}  // namespace kinema::media
