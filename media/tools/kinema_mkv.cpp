// kinema-mkv: look inside a Matroska stream the way Kinema sees it (tracks, then one line per fragment).
//
//   kinema-mkv info FILE|-          human-readable, printed as the stream is read
//   kinema-mkv info --json FILE|-   one JSON object
//
// Reads single-segment streams and KVS GetMedia-style concatenations (one EBML header per fragment).
// On bad input it prints what it read so far, then the error with its byte offset, and exits 1.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kinema/media/h264.h"
#include "kinema/media/mkv_reader.h"

namespace {

using kinema::media::FragmentInfo;
using kinema::media::SegmentHeader;
using kinema::media::TrackInfo;
using kinema::media::TrackType;

std::string track_type_name(TrackType type) {
    switch (type) {
        case TrackType::video:
            return "video";
        case TrackType::audio:
            return "audio";
        case TrackType::subtitle:
            return "subtitle";
        case TrackType::metadata:
            return "metadata";
        default:
            return "other";
    }
}

// "avcC High@4.0" for H.264, else "" — what a person wants to know about the codec private data.
std::string codec_private_summary(const TrackInfo& track) {
    if (track.codec_id != kinema::media::kCodecH264 || track.codec_private.empty()) return {};
    kinema::media::h264::AvcConfig config;
    if (kinema::media::h264::parse_avcc(track.codec_private, config)) return "avcC unreadable";
    std::string profile;
    switch (config.profile_idc) {
        case 66:
            profile = "Baseline";
            break;
        case 77:
            profile = "Main";
            break;
        case 88:
            profile = "Extended";
            break;
        case 100:
            profile = "High";
            break;
        case 110:
            profile = "High 10";
            break;
        case 122:
            profile = "High 4:2:2";
            break;
        case 244:
            profile = "High 4:4:4";
            break;
        default:
            profile = "profile " + std::to_string(config.profile_idc);
    }
    char level[16];
    std::snprintf(level, sizeof level, "%d.%d", config.level_idc / 10, config.level_idc % 10);
    return "avcC " + profile + "@" + level;
}

nlohmann::json track_json(const TrackInfo& t) {
    nlohmann::json j = {{"number", t.number},
                        {"uid", t.uid},
                        {"type", track_type_name(t.type)},
                        {"codec_id", t.codec_id},
                        {"codec_private_size", t.codec_private.size()}};
    if (!t.name.empty()) j["name"] = t.name;
    if (t.type == TrackType::video) {
        j["width"] = t.pixel_width;
        j["height"] = t.pixel_height;
    }
    if (t.type == TrackType::audio) {
        j["sampling_frequency"] = t.sampling_frequency;
        j["channels"] = t.channels;
    }
    if (t.default_duration_ns != 0) j["default_duration_ns"] = t.default_duration_ns;
    return j;
}

class InfoPrinter final : public kinema::media::MkvReaderHandler {
public:
    explicit InfoPrinter(bool json) : json_(json) {}

    void on_segment(const SegmentHeader& header, std::uint64_t offset) override {
        ++segments_;
        if (segments_ == 1) {
            tracks_ = header.tracks;
        } else if (header.tracks == tracks_) {
            return;  // GetMedia output repeats the same header before every fragment
        } else {
            tracks_ = header.tracks;
            tracks_changed_ = true;
        }
        if (json_) return;
        std::printf("Segment at byte %llu: TimecodeScale %llu ns, muxing app \"%s\", writing app \"%s\"\n",
                    static_cast<unsigned long long>(offset),
                    static_cast<unsigned long long>(header.timecode_scale_ns), header.muxing_app.c_str(),
                    header.writing_app.c_str());
        for (const auto& t : header.tracks) {
            std::printf("  Track %llu: %s %s", static_cast<unsigned long long>(t.number),
                        track_type_name(t.type).c_str(), t.codec_id.c_str());
            if (t.type == TrackType::video) std::printf(" %ux%u", t.pixel_width, t.pixel_height);
            if (t.type == TrackType::audio) std::printf(" %.0f Hz %u ch", t.sampling_frequency, t.channels);
            if (!t.name.empty()) std::printf(" \"%s\"", t.name.c_str());
            std::printf(", codec private %zu bytes", t.codec_private.size());
            if (auto summary = codec_private_summary(t); !summary.empty())
                std::printf(" (%s)", summary.c_str());
            std::printf("\n");
        }
        header_printed_ = false;
    }

    void on_fragment_end(const FragmentInfo& f) override {
        double duration_ms = static_cast<double>(f.duration.count()) / 1e6;
        total_bytes_ += f.size;
        total_frames_ += f.frames;
        total_key_frames_ += f.key_frames;
        total_duration_ms_ += duration_ms;
        if (json_) {
            fragments_.push_back({{"offset", f.offset},
                                  {"size", f.size},
                                  {"timecode_ms", f.start.milliseconds()},
                                  {"duration_ms", static_cast<std::int64_t>(duration_ms + 0.5)},
                                  {"frames", f.frames},
                                  {"key_frames", f.key_frames}});
            return;
        }
        if (!header_printed_) {
            std::printf("%6s %12s %10s %18s %10s %7s %4s\n", "#", "offset", "size", "timecode", "duration",
                        "frames", "key");
            header_printed_ = true;
        }
        std::printf("%6zu %12llu %10llu %18s %7.0f ms %7u %4u\n", fragment_count_,
                    static_cast<unsigned long long>(f.offset), static_cast<unsigned long long>(f.size),
                    f.start.to_kvs_seconds().c_str(), duration_ms, f.frames, f.key_frames);
        std::fflush(stdout);
        ++fragment_count_;
    }

    void on_tags(const std::vector<kinema::media::SimpleTag>& tags, std::uint64_t offset) override {
        if (json_) {
            for (const auto& t : tags)
                tags_.push_back({{"offset", offset}, {"name", t.name}, {"value", t.value}});
            return;
        }
        if (show_tags_) {
            for (const auto& t : tags)
                std::printf("  tag %s = %s\n", t.name.c_str(), t.value.c_str());
        }
    }

    void finish(const kinema::media::ParseError* error) {
        if (json_) {
            nlohmann::json out;
            out["tracks"] = nlohmann::json::array();
            for (const auto& t : tracks_)
                out["tracks"].push_back(track_json(t));
            out["segments"] = segments_;
            out["fragments"] = fragments_.is_null() ? nlohmann::json::array() : fragments_;
            if (!tags_.is_null()) out["tags"] = tags_;
            if (error) out["error"] = {{"message", error->message()}, {"offset", error->offset}};
            std::printf("%s\n", out.dump(2).c_str());
            return;
        }
        std::size_t count = fragment_count_;
        std::printf("%zu fragment%s, %llu frames (%llu key), %.3f s, %.2f MB", count, count == 1 ? "" : "s",
                    static_cast<unsigned long long>(total_frames_),
                    static_cast<unsigned long long>(total_key_frames_), total_duration_ms_ / 1000.0,
                    static_cast<double>(total_bytes_) / 1e6);
        if (segments_ > 1) std::printf(" in %zu segments", segments_);
        if (tracks_changed_) std::printf(" (tracks change between segments)");
        std::printf("\n");
    }

    bool show_tags_ = false;

private:
    bool json_;
    std::size_t segments_ = 0;
    std::size_t fragment_count_ = 0;
    std::uint64_t total_bytes_ = 0, total_frames_ = 0, total_key_frames_ = 0;
    double total_duration_ms_ = 0;
    bool header_printed_ = false;
    bool tracks_changed_ = false;
    std::vector<TrackInfo> tracks_;
    nlohmann::json fragments_;
    nlohmann::json tags_;
};

int run_info(const std::string& path, bool json, bool show_tags) {
    std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (in == nullptr) {
        std::fprintf(stderr, "kinema-mkv: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
        return 2;
    }
    InfoPrinter printer(json);
    printer.show_tags_ = show_tags;
    kinema::media::MkvReader reader(printer);
    std::vector<std::uint8_t> chunk(1 << 16);
    kinema::media::ParseError error;
    for (;;) {
        std::size_t n = std::fread(chunk.data(), 1, chunk.size(), in);
        if (n > 0) {
            error = reader.feed({chunk.data(), n});
            if (error) break;
        }
        if (n < chunk.size()) {
            if (std::ferror(in)) {
                std::fprintf(stderr, "kinema-mkv: read error on %s: %s\n", path.c_str(),
                             std::strerror(errno));
                if (in != stdin) std::fclose(in);
                return 2;
            }
            if (std::feof(in)) break;
        }
    }
    if (!error) error = reader.finish();
    if (in != stdin) std::fclose(in);
    printer.finish(error ? &error : nullptr);
    if (error) {
        std::fprintf(stderr, "kinema-mkv: %s: %s\n", path == "-" ? "stdin" : path.c_str(),
                     error.message().c_str());
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"kinema-mkv: inspect Matroska streams as Kinema sees them (tracks and fragments)"};
    app.require_subcommand(1);
    auto* info = app.add_subcommand(
        "info",
        "Print the tracks, then one line per fragment (Cluster): index, byte offset, size, cluster timecode "
        "(epoch seconds for absolute timecodes), duration, frames, key frames. Exit 1 on bad input, after "
        "printing what was read.");
    std::string path;
    bool json = false;
    bool tags = false;
    info->add_option("FILE", path, "Matroska file, or - for standard input (e.g. piped from curl getMedia)")
        ->required();
    info->add_flag("--json", json,
                   "Print one JSON object: {\"tracks\": [...], \"fragments\": [{\"offset\", \"size\", "
                   "\"timecode_ms\", \"duration_ms\", \"frames\", \"key_frames\"}, ...]}");
    info->add_flag("--tags", tags, "Also print Tags (SimpleTag name = value), e.g. KVS's AWS_KINESISVIDEO_*");
    CLI11_PARSE(app, argc, argv);
    return run_info(path, json, tags);
}
