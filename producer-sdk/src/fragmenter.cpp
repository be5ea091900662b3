#include "fragmenter.h"

#include "kinema/media/error.h"
#include "kinema/media/mkv_types.h"

namespace kinema::producer {
namespace h264 = media::h264;

namespace {

// True when `data` is exactly a sequence of NAL units with 4-byte big-endian lengths (AVCC), each with a
// valid header (forbidden_zero_bit clear). Checked before the start-code test because the two overlap: an
// AVCC NAL unit of 256-511 bytes begins 00 00 01 xx, and one of 1 byte begins 00 00 00 01.
bool is_avcc(std::span<const std::uint8_t> data) {
    std::size_t p = 0;
    while (p < data.size()) {
        if (data.size() - p < 5) return false;
        const std::size_t length = (std::size_t{data[p]} << 24) | (std::size_t{data[p + 1]} << 16) |
                                   (std::size_t{data[p + 2]} << 8) | data[p + 3];
        p += 4;
        if (length == 0 || length > data.size() - p || (data[p] & 0x80) != 0) return false;
        p += length;
    }
    return true;
}

}  // namespace

Fragmenter::Fragmenter(FragmenterConfig config) : config_(std::move(config)) {}

std::error_code Fragmenter::learn_codec_private(std::span<const std::uint8_t> access_unit, bool annexb) {
    std::vector<h264::ByteSpan> nals;
    if (annexb) {
        nals = h264::split_annexb(access_unit);
    } else if (h264::split_avcc(access_unit, 4, nals)) {
        return Errc::invalid_argument;
    }
    std::vector<Bytes> sps;
    std::vector<Bytes> pps;
    for (const auto nal : nals) {
        if (h264::nal_type(nal) == h264::NalType::sps) sps.emplace_back(nal.begin(), nal.end());
        if (h264::nal_type(nal) == h264::NalType::pps) pps.emplace_back(nal.begin(), nal.end());
    }
    if (sps.empty() || pps.empty()) return Errc::missing_codec_private;
    Bytes avcc;
    if (h264::build_avcc(sps, pps, avcc)) return Errc::missing_codec_private;
    config_.codec_private = std::move(avcc);
    return {};
}

void Fragmenter::build_header(const Timestamp& first_pts) {
    media::TrackInfo track;
    track.number = 1;
    track.uid = 1;
    track.type = media::TrackType::video;
    track.name = config_.track_name;
    track.codec_id = std::string(media::kCodecH264);
    track.codec_private = config_.codec_private;
    if (config_.frame_rate > 0) track.default_duration_ns = 1'000'000'000ull / config_.frame_rate;
    h264::AvcConfig avc;
    h264::Sps sps;
    if (!h264::parse_avcc(config_.codec_private, avc) && !avc.sps.empty() &&
        !h264::parse_sps(avc.sps[0], sps)) {
        track.pixel_width = sps.width;
        track.pixel_height = sps.height;
    }
    media::MkvWriterOptions options;
    options.header.tracks.push_back(std::move(track));
    options.key_frame_fragmentation = config_.key_frame_fragmentation;
    options.fragment_duration = config_.fragment_duration;
    options.absolute_timecodes = config_.absolute_timecodes;
    options.start = first_pts;
    start_ = first_pts;
    writer_ = std::make_unique<media::MkvWriter>(std::move(options));
    header_.clear();
    writer_->write_header(header_);
}

std::error_code Fragmenter::add_frame(const VideoFrame& frame, Bytes& out,
                                      std::optional<FragmentStart>& started) {
    out.clear();
    started.reset();
    if (frame.data.empty()) return Errc::invalid_argument;
    if (need_key_frame_ && !frame.key) return Errc::waiting_for_key_frame;
    const bool annexb = !is_avcc(frame.data) && h264::looks_like_annexb(frame.data);
    if (!writer_) {
        if (config_.codec_private.empty()) {
            if (auto ec = learn_codec_private(frame.data, annexb)) return ec;
        }
        build_header(frame.pts);
    }
    std::span<const std::uint8_t> payload = frame.data;
    if (annexb) {
        avcc_scratch_.clear();
        if (h264::annexb_to_avcc(frame.data, avcc_scratch_) || avcc_scratch_.empty())
            return Errc::invalid_argument;
        payload = avcc_scratch_;
    }

    media::FrameInput input{.track = 1, .pts = frame.pts, .key = frame.key, .payload = payload};
    bool new_cluster = false;
    std::error_code ec;
    if (force_new_fragment_) {
        writer_->reset_fragment();
        writer_->allow_leading_delta = true;
        ec = writer_->write_frame(input, out, &new_cluster);
        writer_->allow_leading_delta = false;
    } else {
        ec = writer_->write_frame(input, out, &new_cluster);
        if (ec == media::Errc::timecode_out_of_range && !frame.key) {
            // A delta frame more than 32.767 s after its cluster start cannot be a SimpleBlock of that
            // cluster (int16 ms offset): it starts a new cluster, which then begins with a delta frame.
            // Only a GOP longer than 32 s gets here.
            out.clear();
            writer_->reset_fragment();
            writer_->allow_leading_delta = true;
            ec = writer_->write_frame(input, out, &new_cluster);
            writer_->allow_leading_delta = false;
            if (ec) resync();  // the old cluster is gone; the next fragment needs a key frame
        }
    }
    if (ec) {
        out.clear();
        return ec;
    }
    force_new_fragment_ = false;
    need_key_frame_ = false;
    if (new_cluster) {
        const Timestamp stream_time = config_.absolute_timecodes
                                          ? frame.pts
                                          : Timestamp::from_nanoseconds((frame.pts - *start_).count());
        started = FragmentStart{stream_time.to_mkv_ticks(media::kDefaultTimecodeScaleNs), frame.pts};
    }
    return {};
}

void Fragmenter::end_fragment() noexcept {
    if (writer_) force_new_fragment_ = true;
}

void Fragmenter::resync() noexcept {
    need_key_frame_ = true;
    if (writer_) writer_->reset_fragment();
    force_new_fragment_ = false;
}

}  // namespace kinema::producer
