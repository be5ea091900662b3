// Shared pieces of the producer-against-kinema-server tests: real H.264 made by ffmpeg (split into access
// units with kinema::media's AccessUnitSplitter), putting it through a Stream with exact millisecond
// timestamps, recording ACKs, and reading back everything the server stored (ListFragments, then
// GetMediaForFragmentList parsed with MkvReader) so a test can compare frames in with frames stored.
#pragma once

#include <gtest/gtest.h>

#include <kinema/media/h264.h>
#include <kinema/media/h264_access_units.h>
#include <kinema/media/mkv_reader.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http_client.h"
#include "kinema/producer.h"
#include "subprocess.h"

namespace kinema::producer::testing {

using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

inline constexpr std::int64_t kStartMs = 1'700'000'000'000;
inline constexpr int kFps = 30;

struct SourceFrame {
    Bytes annexb;  // what put_frame gets
    Bytes avcc;    // what storage must hold: the same NAL units with 4-byte lengths
    std::int64_t pts_ms = 0;
    bool key = false;
};

// `seconds` of 320x240 x264 video at 30 fps with a key frame every second and no B-frames (frames in
// decode order have increasing PTS, as MKV SimpleBlocks need). Made once per process and size.
inline const std::vector<SourceFrame>& real_h264(int seconds) {
    static std::map<int, std::vector<SourceFrame>> cache;
    auto& frames = cache[seconds];
    if (!frames.empty()) return frames;
    kinema::test::TempDir dir;
    const auto path = dir / "video.h264";
    const auto result = kinema::test::run_command(
        "ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=size=320x240:rate=30 -t " +
        std::to_string(seconds) +
        " -c:v libx264 -preset ultrafast -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -pix_fmt yuv420p -f "
        "h264 " +
        kinema::test::shell_quote(path.string()));
    if (result.exit_code != 0) return frames;
    media::h264::AccessUnitSplitter splitter;
    splitter.feed(kinema::test::read_file(path));
    splitter.finish();
    while (auto unit = splitter.next()) {
        SourceFrame frame;
        frame.annexb = std::move(unit->annexb);
        if (media::h264::annexb_to_avcc(frame.annexb, frame.avcc)) return frames;
        frame.key = unit->key;
        // Whole milliseconds, so stored timestamps (MKV ticks of 1 ms) can be compared exactly.
        frame.pts_ms = kStartMs + static_cast<std::int64_t>(frames.size()) * 1000 / kFps;
        frames.push_back(std::move(frame));
    }
    return frames;
}

inline VideoFrame video_frame(const SourceFrame& source) {
    VideoFrame frame;
    frame.data = source.annexb;
    frame.pts = Timestamp::from_milliseconds(source.pts_ms);
    frame.dts = frame.pts;
    frame.key = source.key;
    return frame;
}

// Puts frames [from, to) as fast as put_frame takes them: "accelerated time", media timestamps at 30 fps.
inline void put_frames(Stream& stream, const std::vector<SourceFrame>& frames, std::size_t from,
                       std::size_t to) {
    for (std::size_t i = from; i < to && i < frames.size(); ++i)
        ASSERT_FALSE(stream.put_frame(video_frame(frames[i]))) << "frame " << i;
}

// Fragment timecodes (ms) of the fragments the source starts: one per key frame.
inline std::vector<std::int64_t> fragment_timecodes(const std::vector<SourceFrame>& frames) {
    std::vector<std::int64_t> out;
    for (const auto& f : frames)
        if (f.key) out.push_back(f.pts_ms);
    return out;
}

// ACKs by type, as on_ack sees them.
class AckLog {
public:
    StreamCallbacks callbacks() {
        StreamCallbacks callbacks;
        callbacks.on_ack = [this](const FragmentAck& ack) {
            std::lock_guard lock(mutex_);
            if (ack.type == AckType::persisted) persisted_.insert(ack.fragment_timecode);
            if (ack.type == AckType::error) errors_.push_back(ack.error_code);
            changed_.notify_all();
        };
        callbacks.on_dropped_fragment = [this](const DroppedFragment& dropped) {
            std::lock_guard lock(mutex_);
            dropped_.push_back(dropped.fragment_timecode);
        };
        return callbacks;
    }
    // Waits until at least `count` distinct fragments were PERSISTED; false after `timeout`.
    bool wait_for_persisted(std::size_t count, std::chrono::milliseconds timeout = 20s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return persisted_.size() >= count; });
    }
    std::set<std::int64_t> persisted() const {
        std::lock_guard lock(mutex_);
        return persisted_;
    }
    std::vector<std::string> errors() const {
        std::lock_guard lock(mutex_);
        return errors_;
    }
    std::vector<std::int64_t> dropped() const {
        std::lock_guard lock(mutex_);
        return dropped_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::int64_t> persisted_;
    std::vector<std::string> errors_;
    std::vector<std::int64_t> dropped_;
};

struct StoredFrame {
    std::int64_t pts_ms = 0;
    bool key = false;
    Bytes payload;
};

struct StoredStream {
    std::vector<std::int64_t> fragment_producer_ms;  // ListFragments, in producer-timestamp order
    std::vector<StoredFrame> frames;                 // GetMediaForFragmentList, in the same order
};

// Everything the server stored for `stream`: every fragment ListFragments lists, read back in producer
// timestamp order. A duplicate fragment in storage shows up twice in both lists.
inline StoredStream read_stored(std::uint16_t port, const std::string& stream) {
    StoredStream out;
    kinema::test::HttpClient client(port);
    const auto listed = client.post_json("/listFragments", {{"StreamName", stream}});
    EXPECT_EQ(listed.status, 200u) << listed.body;
    // Held by name: a range-for over listed.json()["Fragments"] would iterate a destroyed temporary.
    const nlohmann::json body = listed.json();
    std::vector<std::pair<std::int64_t, std::string>> fragments;
    for (const auto& f : body["Fragments"])
        fragments.emplace_back(std::llround(f["ProducerTimestamp"].get<double>() * 1000),
                               f["FragmentNumber"].get<std::string>());
    EXPECT_TRUE(!body.contains("NextToken") || body["NextToken"].is_null()) << "more than one page";
    std::sort(fragments.begin(), fragments.end());
    if (fragments.empty()) return out;
    nlohmann::json numbers = nlohmann::json::array();
    for (const auto& [ms, number] : fragments) {
        out.fragment_producer_ms.push_back(ms);
        numbers.push_back(number);
    }
    const auto media =
        client.post_json("/getMediaForFragmentList", {{"StreamName", stream}, {"Fragments", numbers}});
    EXPECT_EQ(media.status, 200u) << media.body;
    struct Collect : media::MkvReaderHandler {
        void on_frame(const media::Frame& frame) override {
            frames->push_back(
                {frame.pts.milliseconds(), frame.key, Bytes(frame.payload.begin(), frame.payload.end())});
        }
        std::vector<StoredFrame>* frames = nullptr;
    } collect;
    collect.frames = &out.frames;
    media::MkvReader reader(collect);
    const Bytes bytes(media.body.begin(), media.body.end());
    auto error = reader.feed(bytes);
    EXPECT_FALSE(error) << error.code.message();
    error = reader.finish();
    EXPECT_FALSE(error) << error.code.message();
    return out;
}

// Frames in == frames stored: every source fragment stored exactly once, every frame in order with its
// timestamp, key flag and AVCC payload bit-exact.
inline void expect_stored_exactly(const StoredStream& stored, const std::vector<SourceFrame>& source) {
    EXPECT_EQ(stored.fragment_producer_ms, fragment_timecodes(source));
    ASSERT_EQ(stored.frames.size(), source.size());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < source.size() && mismatches < 5; ++i) {
        const bool same = stored.frames[i].pts_ms == source[i].pts_ms &&
                          stored.frames[i].key == source[i].key && stored.frames[i].payload == source[i].avcc;
        if (!same) {
            ++mismatches;
            ADD_FAILURE() << "frame " << i << ": stored pts " << stored.frames[i].pts_ms << " key "
                          << stored.frames[i].key << " " << stored.frames[i].payload.size()
                          << " bytes, put pts " << source[i].pts_ms << " key " << source[i].key << " "
                          << source[i].avcc.size() << " bytes";
        }
    }
}

}  // namespace kinema::producer::testing
