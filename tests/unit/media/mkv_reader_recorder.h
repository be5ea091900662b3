// Recording what MkvReader reports, as text, so runs fed in different chunks can be compared; shared by the
// MkvReader tests.
#pragma once

#include <string>
#include <vector>

#include "kinema/media/mkv_reader.h"
#include "mkv_test_streams.h"

namespace kinema::media::test {

inline std::string describe(const Frame& f) {
    // FNV-1a over the payload: events compare payload bytes without printing them.
    std::uint64_t hash = 14695981039346656037ull;
    for (auto b : f.payload)
        hash = (hash ^ b) * 1099511628211ull;
    return "frame t" + std::to_string(f.track) + " pts " + std::to_string(f.pts.nanoseconds()) + " rel " +
           std::to_string(f.relative_timecode) + (f.key ? " K" : "") + (f.invisible ? " I" : "") +
           (f.discardable ? " D" : "") + " dur " + std::to_string(f.duration_ns) + " @" +
           std::to_string(f.element_offset) + " len " + std::to_string(f.payload.size()) + " #" +
           std::to_string(hash);
}

class Recorder final : public MkvReaderHandler {
public:
    void on_segment(const SegmentHeader& h, std::uint64_t offset) override {
        segments.push_back(h);
        std::string text = "segment @" + std::to_string(offset) + " scale " +
                           std::to_string(h.timecode_scale_ns) + " " + h.muxing_app + "/" + h.writing_app;
        for (const auto& t : h.tracks)
            text += " [" + std::to_string(t.number) + " " + t.codec_id + "]";
        log(text);
    }
    void on_fragment_begin(std::uint64_t offset, std::int64_t timecode) override {
        log("begin @" + std::to_string(offset) + " tc " + std::to_string(timecode));
    }
    void on_frame(const Frame& f) override {
        frames.push_back(f);
        payloads.emplace_back(f.payload.begin(), f.payload.end());
        if (!f.payload.empty()) {
            const bool in_input = f.payload.data() >= input.data() &&
                                  f.payload.data() + f.payload.size() <= input.data() + input.size();
            (in_input ? frames_in_place : frames_copied) += 1;
        }
        log(describe(f));
    }
    void on_fragment_end(const FragmentInfo& f) override {
        fragments.push_back(f);
        std::string text = "end @" + std::to_string(f.offset) + " size " + std::to_string(f.size) + " tc " +
                           std::to_string(f.timecode) + " dur " + std::to_string(f.duration.count()) +
                           " frames " + std::to_string(f.frames) + " key " + std::to_string(f.key_frames) +
                           " at";
        for (auto o : f.key_frame_offsets)
            text += " " + std::to_string(o);
        log(text);
    }
    void on_tags(const std::vector<SimpleTag>& t, std::uint64_t offset) override {
        tags.push_back(t);
        std::string text = "tags @" + std::to_string(offset);
        for (const auto& tag : t)
            text += " " + tag.name + "=" + tag.value;
        log(text);
    }
    void log(std::string text) {
        events.push_back(std::move(text));
        stamps.push_back(fed);
    }

    std::vector<std::string> events;
    std::vector<std::uint64_t> stamps;  // bytes fed when each event was reported
    std::uint64_t fed = 0;
    std::span<const std::uint8_t> input;
    std::vector<SegmentHeader> segments;
    std::vector<Frame> frames;  // payload spans dangle after the callback; see payloads
    std::vector<Bytes> payloads;
    std::vector<FragmentInfo> fragments;
    std::vector<std::vector<SimpleTag>> tags;
    int frames_in_place = 0;
    int frames_copied = 0;
};

// The stamp of events reported by finish().
constexpr std::uint64_t kAtFinish = ~0ull;

struct Run {
    Recorder rec;
    ParseError error;
};

// Feeds `bytes` cut at `cuts` (ascending), then finish(); the first error ends the run and is logged.
inline Run read(const Bytes& bytes, std::vector<std::size_t> cuts = {}, MkvReaderLimits limits = {}) {
    Run run;
    run.rec.input = bytes;
    MkvReader reader(run.rec, limits);
    cuts.push_back(bytes.size());
    std::size_t at = 0;
    for (auto cut : cuts) {
        run.rec.fed = cut;
        run.error = reader.feed({bytes.data() + at, cut - at});
        at = cut;
        if (run.error) break;
    }
    if (!run.error) {
        run.rec.fed = kAtFinish;
        run.error = reader.finish();
    }
    if (run.error) run.rec.log("error " + run.error.message());
    return run;
}

inline Run read_bytewise(const Bytes& bytes, MkvReaderLimits limits = {}) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < bytes.size(); ++i)
        cuts.push_back(i);
    return read(bytes, cuts, limits);
}

inline std::int64_t ms(std::int64_t v) {
    return v * 1'000'000;
}

}  // namespace kinema::media::test
