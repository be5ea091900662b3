// libFuzzer target for MkvReader, the parser that sees every producer's bytes. Besides "no crash, no leak, no
// sanitizer report", it checks what callers rely on, trapping when it breaks:
// - chunking never changes what is read: the events (payload bytes included) and the error of a run fed in
//   chunks are those of a run fed the whole input at once;
// - an error names an offset inside the input, and the reader stays failed;
// - fragment sizes, key-frame offsets and frame payloads stay inside the input.
// Input layout: byte 0 picks the limits (bit 0: small limits), bytes 1-4 the chunk sizes (cycled, 0 meaning
// 1024), the rest is the stream. Seeds: tests/fuzz/corpus/mkv_reader (ffmpeg, ffmpeg -live, GStreamer
// streamable, mkvmerge with laced audio, and KVS/GetMedia shapes; each behind a 5-byte prefix).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "kinema/media/mkv_reader.h"

namespace media = kinema::media;

namespace {

void check(bool condition) {
    if (!condition) __builtin_trap();
}

// Folds every event into a hash; reads every payload byte so a dangling span shows up under ASan.
class Digest final : public media::MkvReaderHandler {
public:
    explicit Digest(std::uint64_t input_size) : input_size_(input_size) {}

    void on_segment(const media::SegmentHeader& h, std::uint64_t offset) override {
        check(offset < input_size_);
        mix(1, offset, h.timecode_scale_ns, h.tracks.size());
        for (const auto& t : h.tracks) {
            mix(t.number, t.codec_private.size(), t.default_duration_ns, t.pixel_width);
            bytes(t.codec_id);
        }
    }
    void on_fragment_begin(std::uint64_t offset, std::int64_t timecode) override {
        check(offset < input_size_);
        mix(2, offset, static_cast<std::uint64_t>(timecode), 0);
    }
    void on_frame(const media::Frame& f) override {
        check(f.element_offset < input_size_);
        check(f.payload.size() <= input_size_);
        mix(3, f.track, static_cast<std::uint64_t>(f.pts.nanoseconds()), f.duration_ns);
        mix(f.key, f.invisible, f.discardable, static_cast<std::uint64_t>(f.relative_timecode));
        for (auto b : f.payload)
            state_ = (state_ ^ b) * 1099511628211ull;
    }
    void on_fragment_end(const media::FragmentInfo& f) override {
        check(f.offset + f.size <= input_size_);
        for (auto o : f.key_frame_offsets)
            check(o < f.size);
        check(f.key_frame_offsets.size() <= f.key_frames && f.key_frames <= f.frames);
        check(f.duration.count() >= 0);
        mix(4, f.offset, f.size, static_cast<std::uint64_t>(f.duration.count()));
        mix(f.frames, f.key_frames, f.key_frame_offsets.size(), static_cast<std::uint64_t>(f.timecode));
    }
    void on_tags(const std::vector<media::SimpleTag>& tags, std::uint64_t offset) override {
        check(offset < input_size_);
        mix(5, offset, tags.size(), 0);
        for (const auto& t : tags) {
            bytes(t.name);
            bytes(t.value);
        }
    }

    std::uint64_t value() const { return state_; }

private:
    void mix(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
        for (auto v : {a, b, c, d})
            state_ = (state_ ^ v) * 1099511628211ull;
    }
    void bytes(const std::string& s) {
        for (char c : s)
            state_ = (state_ ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
        mix(s.size(), 0, 0, 0);
    }

    std::uint64_t input_size_;
    std::uint64_t state_ = 14695981039346656037ull;
};

struct Outcome {
    std::uint64_t digest;
    media::ParseError error;
};

Outcome read(std::span<const std::uint8_t> stream, const media::MkvReaderLimits& limits,
             std::span<const std::uint8_t> chunk_sizes) {
    Digest digest(stream.size());
    media::MkvReader reader(digest, limits);
    media::ParseError error;
    std::size_t at = 0;
    for (std::size_t i = 0; at < stream.size(); ++i) {
        std::size_t n = stream.size() - at;
        if (!chunk_sizes.empty()) {
            const std::uint8_t code = chunk_sizes[i % chunk_sizes.size()];
            n = std::min<std::size_t>(n, code == 0 ? 1024 : code);
        }
        error = reader.feed(stream.subspan(at, n));
        at += n;
        if (error) break;
    }
    if (!error) error = reader.finish();
    if (error) {
        check(error.offset <= stream.size());
        check(!error.message().empty());
        // Failed stays failed.
        const auto again = reader.feed(stream.first(std::min<std::size_t>(stream.size(), 3)));
        check(again.code == error.code && again.offset == error.offset);
        check(reader.finish().code == error.code);
    } else {
        check(reader.offset() == stream.size());
    }
    return {digest.value(), error};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) return 0;
    media::MkvReaderLimits limits;
    if (data[0] & 1) {
        limits.max_block_size = 4096;
        limits.max_header_size = 2048;
        limits.max_element_size = 1 << 20;
        limits.max_depth = 6;
        limits.max_tracks = 3;
    }
    const std::span<const std::uint8_t> chunk_sizes(data + 1, 4);
    const std::span<const std::uint8_t> stream(data + 5, size - 5);
    const Outcome whole = read(stream, limits, {});
    const Outcome chunked = read(stream, limits, chunk_sizes);
    check(whole.digest == chunked.digest);
    check(whole.error.code == chunked.error.code);
    check(whole.error.offset == chunked.error.offset);
    check(whole.error.element_id == chunked.error.element_id);
    return 0;
}
