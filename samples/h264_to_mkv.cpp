// h264-to-mkv: turn a raw H.264 Annex-B stream into a KVS-shaped fragmented MKV, the way the producer SDK
// fragments a camera's frames (one Cluster per GOP), without a network.
//
//   ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -t 10 -c:v libx264 -g 30 -f h264 test.h264
//   kinema-h264-to-mkv test.h264 test.mkv && kinema-mkv info test.mkv
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <vector>

#include "kinema/media/h264.h"
#include "kinema/media/h264_access_units.h"
#include "kinema/media/mkv_writer.h"

namespace media = kinema::media;
namespace h264 = kinema::media::h264;

namespace {

// The SPS and PPS NAL units of an access unit, for CodecPrivate.
void collect_parameter_sets(const h264::AccessUnit& unit, std::vector<h264::Bytes>& sps,
                            std::vector<h264::Bytes>& pps) {
    for (auto nal : h264::split_annexb(unit.annexb)) {
        if (h264::nal_type(nal) == h264::NalType::sps) sps.emplace_back(nal.begin(), nal.end());
        if (h264::nal_type(nal) == h264::NalType::pps) pps.emplace_back(nal.begin(), nal.end());
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"kinema-h264-to-mkv: fragment a raw H.264 Annex-B stream into a KVS-shaped MKV"};
    std::string input, output;
    double fps = 0;
    double fragment_seconds = 2.0;
    bool duration_fragmentation = false;
    std::int64_t start_ms = -1;
    app.add_option("INPUT", input, "Annex-B H.264 file (.h264), or - for standard input")->required();
    app.add_option("OUTPUT", output, "MKV file to write")->required();
    app.add_option("--fps", fps, "Frame rate; default: from the SPS VUI timing, else 30");
    app.add_option("--fragment-duration", fragment_seconds,
                   "With --duration-fragmentation: shortest fragment, in seconds")
        ->check(CLI::Range(0.001, 20.0));
    app.add_flag(
        "--duration-fragmentation", duration_fragmentation,
        "Start a fragment at the first key frame after --fragment-duration (default: every key frame)");
    app.add_option("--start-ms", start_ms, "Timestamp of the first frame, epoch milliseconds (default: now)");
    CLI11_PARSE(app, argc, argv);

    std::ifstream file;
    std::istream* in = &std::cin;
    if (input != "-") {
        file.open(input, std::ios::binary);
        if (!file) {
            std::fprintf(stderr, "kinema-h264-to-mkv: cannot open %s: %s\n", input.c_str(),
                         std::strerror(errno));
            return 2;
        }
        in = &file;
    }
    h264::AccessUnitSplitter splitter;
    std::vector<char> chunk(1 << 16);
    std::vector<h264::AccessUnit> units;
    while (*in) {
        in->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        auto n = static_cast<std::size_t>(in->gcount());
        splitter.feed({reinterpret_cast<const std::uint8_t*>(chunk.data()), n});
        while (auto unit = splitter.next())
            units.push_back(std::move(*unit));
    }
    splitter.finish();
    while (auto unit = splitter.next())
        units.push_back(std::move(*unit));
    if (units.empty()) {
        std::fprintf(stderr, "kinema-h264-to-mkv: no H.264 access units in %s\n", input.c_str());
        return 1;
    }

    std::vector<h264::Bytes> sps, pps;
    for (const auto& unit : units) {
        if (unit.has_parameter_sets) {
            collect_parameter_sets(unit, sps, pps);
            break;
        }
    }
    if (sps.empty() || pps.empty()) {
        std::fprintf(stderr, "kinema-h264-to-mkv: no SPS/PPS in %s\n", input.c_str());
        return 1;
    }
    h264::Sps parsed;
    if (auto ec = h264::parse_sps(sps.front(), parsed)) {
        std::fprintf(stderr, "kinema-h264-to-mkv: %s\n", ec.message().c_str());
        return 1;
    }
    if (fps <= 0) fps = parsed.frame_rate().value_or(30.0);

    media::TrackInfo track;
    track.codec_id = std::string(media::kCodecH264);
    track.name = "kinema-video";
    track.pixel_width = parsed.width;
    track.pixel_height = parsed.height;
    if (auto ec = h264::build_avcc(sps, pps, track.codec_private)) {
        std::fprintf(stderr, "kinema-h264-to-mkv: %s\n", ec.message().c_str());
        return 1;
    }
    media::MkvWriterOptions options;
    options.header.tracks.push_back(track);
    options.key_frame_fragmentation = !duration_fragmentation;
    options.fragment_duration = std::chrono::nanoseconds(static_cast<std::int64_t>(fragment_seconds * 1e9));
    media::MkvWriter writer(options);

    auto start = start_ms >= 0 ? media::Timestamp::from_milliseconds(start_ms) : media::Timestamp::now();
    media::Bytes out;
    writer.write_header(out);
    std::size_t fragments = 0, skipped = 0;
    media::Bytes avcc;
    std::size_t index = 0;
    for (const auto& unit : units) {
        if (index == 0 && !unit.key) {  // a decoder cannot start before the first IDR
            ++skipped;
            continue;
        }
        avcc.clear();
        if (auto ec = h264::annexb_to_avcc(unit.annexb, avcc)) {
            std::fprintf(stderr, "kinema-h264-to-mkv: frame %zu: %s\n", index, ec.message().c_str());
            return 1;
        }
        media::FrameInput frame;
        frame.pts = start + std::chrono::nanoseconds(
                                static_cast<std::int64_t>(static_cast<double>(index) * 1e9 / fps));
        frame.key = unit.key;
        frame.payload = avcc;
        bool new_fragment = false;
        if (auto ec = writer.write_frame(frame, out, &new_fragment)) {
            std::fprintf(stderr, "kinema-h264-to-mkv: frame %zu: %s\n", index, ec.message().c_str());
            return 1;
        }
        fragments += new_fragment ? 1 : 0;
        ++index;
    }
    std::ofstream dest(output, std::ios::binary);
    dest.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (!dest) {
        std::fprintf(stderr, "kinema-h264-to-mkv: cannot write %s: %s\n", output.c_str(),
                     std::strerror(errno));
        return 2;
    }
    std::printf("%s: %zu frames (%ux%u @ %.3g fps) in %zu fragments, %zu bytes", output.c_str(), index,
                parsed.width, parsed.height, fps, fragments, out.size());
    if (skipped > 0) std::printf(", skipped %zu frames before the first key frame", skipped);
    std::printf("\n");
    return 0;
}
