// The Matroska layer over the generic EBML push parser: which elements to descend into, read or skip, and
// how Clusters, blocks and the segment headers become MkvReaderHandler events.
#include "kinema/media/mkv_reader.h"

#include <algorithm>
#include <limits>
#include <string>

#include "ebml_reader.h"
#include "kinema/media/ebml_ids.h"
#include "mkv_block.h"
#include "mkv_headers.h"

namespace kinema::media {
namespace {

namespace id = ebml_id;
using ebml::Action;
using ebml::ElementHeader;
using ebml::make_error;

// Key-frame offsets kept per Cluster; beyond this (far more than any real fragment holds) they are still
// counted in key_frames but no longer recorded, so a hostile endless cluster cannot grow memory.
constexpr std::size_t kMaxKeyFrameOffsets = 1 << 16;

bool is_top_level(std::uint32_t element) noexcept {
    switch (element) {
        case id::kSeekHead:
        case id::kInfo:
        case id::kTracks:
        case id::kCluster:
        case id::kCues:
        case id::kChapters:
        case id::kTags:
        case id::kAttachments:
            return true;
        default:
            return false;
    }
}

// Signed-overflow-free arithmetic on timestamps from the wire.
bool sub_ok(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
    return !__builtin_sub_overflow(a, b, &out);
}
bool mul_ok(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
    return !__builtin_mul_overflow(a, b, &out);
}
bool add_ok(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
    return !__builtin_add_overflow(a, b, &out);
}
std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t out = 0;
    return add_ok(a, b, out) ? out : std::numeric_limits<std::int64_t>::max();
}

}  // namespace

struct MkvReader::Impl final : ebml::EbmlHandler {
    Impl(MkvReaderHandler& handler, MkvReaderLimits limits)
        : out_(handler),
          limits_(limits),
          reader_(*this, {limits.max_element_size, limits.max_depth}),
          headers_(limits_) {}

    ParseError on_element(const ElementHeader& e, const ElementHeader* parent, Action& action) override;
    ParseError on_value(const ElementHeader& e, std::span<const std::uint8_t> value) override;
    ParseError on_master_end(const ElementHeader& e) override;
    bool ends_unknown_size(std::uint32_t open_id, std::uint32_t next_id) const override {
        // An unknown-size Segment ends where the next stream's EBML header begins; an unknown-size Cluster
        // also where any other top-level element begins.
        if (next_id == id::kEbml || next_id == id::kSegment) return true;
        return open_id == id::kCluster && is_top_level(next_id);
    }

    ParseError start_root_child(const ElementHeader& e, Action& action);
    ParseError start_segment_child(const ElementHeader& e, Action& action);
    ParseError start_cluster_child(const ElementHeader& e, Action& action);
    ParseError start_group_child(const ElementHeader& e, Action& action);
    ParseError check_size(const ElementHeader& e, std::uint64_t limit, Errc code) const {
        if (e.size <= limit) return {};
        return make_error(code, e, std::to_string(e.size) + " bytes, limit " + std::to_string(limit));
    }
    void begin_cluster(const ElementHeader& e);
    ParseError read_cluster_timecode(const ElementHeader& e, std::span<const std::uint8_t> value);
    ParseError keep_group_block(const ElementHeader& e, std::span<const std::uint8_t> value);
    // Turns one SimpleBlock or Block into frames. `block_element` is the SimpleBlock/Block (for errors),
    // `frame_offset` the offset of the SimpleBlock/BlockGroup (for Frame and FragmentInfo offsets).
    ParseError emit_block(const ElementHeader& block_element, std::uint64_t frame_offset,
                          std::span<const std::uint8_t> value, bool simple);
    void end_cluster(const ElementHeader& e);
    void announce_segment() {
        if (announced_ || !have_tracks_) return;
        announced_ = true;
        out_.on_segment(headers_.header(), segment_offset_);
    }

    MkvReaderHandler& out_;
    const MkvReaderLimits limits_;
    ebml::EbmlReader reader_;
    mkv::HeaderReader headers_;

    // Stream and Segment state
    bool have_ebml_header_ = false;     // a valid one was read: Segments may follow
    bool ebml_header_pending_ = false;  // read and not yet followed by its Segment
    std::uint64_t ebml_offset_ = 0;
    std::uint64_t segment_offset_ = 0;  // what on_segment reports: its EBML header's offset
    bool have_info_ = false;
    bool have_tracks_ = false;
    // Key frames a fragment counts: those of its video tracks when it has any (audio frames are all key
    // frames, and a live joiner or an HLS segment must start at a video key frame), else of every track.
    bool video_keys_only_ = false;
    bool announced_ = false;

    // Cluster
    bool have_timecode_ = false;
    FragmentInfo fragment_;
    std::int64_t cluster_start_ns_ = 0;
    // For the fragment duration: the latest pts, the last frame and per-track frame intervals.
    struct TrackTiming {
        bool seen = false;
        std::int64_t last_pts = 0;
        std::int64_t interval = 0;
    };
    std::vector<TrackTiming> timing_;  // parallel to the tracks
    std::int64_t max_pts_ = 0;
    std::size_t last_track_index_ = 0;
    std::uint64_t last_frame_duration_ = 0;

    // BlockGroup being read: its Block is kept until the group ends (ReferenceBlock and BlockDuration
    // usually follow it).
    ElementHeader group_;
    ElementHeader group_block_;
    bool group_has_block_ = false;
    bool group_has_reference_ = false;
    bool group_has_duration_ = false;
    std::uint64_t group_duration_ticks_ = 0;
    std::span<const std::uint8_t> group_block_value_;
    std::vector<std::uint8_t> group_buf_;

    mkv::Block block_;
    std::string detail_;
};

ParseError MkvReader::Impl::on_element(const ElementHeader& e, const ElementHeader* parent, Action& action) {
    action = Action::skip;
    // RFC 9559: only Segment and Cluster may have an unknown size.
    if (e.unknown_size && e.id != id::kSegment && e.id != id::kCluster) {
        return make_error(Errc::unknown_size_not_allowed, e,
                          "only Segment and Cluster may have an unknown size");
    }
    const std::uint32_t parent_id = parent != nullptr ? parent->id : 0;
    switch (parent_id) {
        case 0:
            return start_root_child(e, action);
        case id::kSegment:
            return start_segment_child(e, action);
        case id::kCluster:
            return start_cluster_child(e, action);
        case id::kBlockGroup:
            return start_group_child(e, action);
        default:
            return mkv::HeaderReader::owns(parent_id) ? headers_.on_element(e, parent_id, action)
                                                      : ParseError{};
    }
}

ParseError MkvReader::Impl::start_root_child(const ElementHeader& e, Action& action) {
    switch (e.id) {
        case id::kEbml:
            if (auto err = check_size(e, limits_.max_header_size, Errc::header_too_large)) return err;
            headers_.begin_ebml_header();
            ebml_offset_ = e.offset;
            action = Action::descend;
            return {};
        case id::kSegment:
            if (!have_ebml_header_) {
                return make_error(Errc::invalid_ebml_header, e, "Segment without an EBML header");
            }
            segment_offset_ = ebml_header_pending_ ? ebml_offset_ : e.offset;
            ebml_header_pending_ = false;
            headers_.begin_segment();
            have_info_ = have_tracks_ = announced_ = false;
            action = Action::descend;
            return {};
        case id::kVoid:
        case id::kCrc32:
            return {};
        default:
            return make_error(Errc::invalid_ebml_header, e, "expected an EBML header or a Segment");
    }
}

ParseError MkvReader::Impl::start_segment_child(const ElementHeader& e, Action& action) {
    switch (e.id) {
        case id::kInfo:
        case id::kTracks:
            // The first of each counts: a repeated one cannot change what was announced.
            if (e.id == id::kInfo ? (have_info_ || announced_) : have_tracks_) return {};
            if (auto err = check_size(e, limits_.max_header_size, Errc::header_too_large)) return err;
            if (e.id == id::kTracks) headers_.begin_tracks();
            action = Action::descend;
            return {};
        case id::kTags:
            if (auto err = check_size(e, limits_.max_header_size, Errc::header_too_large)) return err;
            headers_.begin_tags();
            action = Action::descend;
            return {};
        case id::kCluster:
            if (!have_tracks_)
                return make_error(Errc::missing_tracks, e, "Cluster before the Segment's Tracks");
            announce_segment();
            begin_cluster(e);
            action = Action::descend;
            return {};
        default:
            return {};  // SeekHead, Cues, Chapters, Attachments, Void, CRC-32 and unknown elements
    }
}

void MkvReader::Impl::begin_cluster(const ElementHeader& e) {
    have_timecode_ = false;
    fragment_.offset = e.offset;
    fragment_.size = 0;
    fragment_.timecode = 0;
    fragment_.start = {};
    fragment_.duration = Duration{0};
    fragment_.frames = 0;
    fragment_.key_frames = 0;
    fragment_.key_frame_offsets.clear();
    timing_.assign(headers_.header().tracks.size(), TrackTiming{});
    max_pts_ = std::numeric_limits<std::int64_t>::min();
}

ParseError MkvReader::Impl::start_cluster_child(const ElementHeader& e, Action& action) {
    switch (e.id) {
        case id::kTimecode:
            if (e.size > 8)
                return make_error(Errc::invalid_element_size, e, std::to_string(e.size) + "-byte number");
            action = Action::read;
            return {};
        case id::kSimpleBlock:
        case id::kBlockGroup:
            if (!have_timecode_)
                return make_error(Errc::invalid_block, e, "block before the Cluster's Timestamp");
            if (e.id == id::kSimpleBlock) {
                if (auto err = check_size(e, limits_.max_block_size, Errc::element_too_large)) return err;
                action = Action::read;
            } else {
                group_ = e;
                group_has_block_ = group_has_reference_ = group_has_duration_ = false;
                group_duration_ticks_ = 0;
                action = Action::descend;
            }
            return {};
        default:
            return {};  // Position, PrevSize, Void, CRC-32, ...
    }
}

ParseError MkvReader::Impl::start_group_child(const ElementHeader& e, Action& action) {
    switch (e.id) {
        case id::kBlock:
            if (auto err = check_size(e, limits_.max_block_size, Errc::element_too_large)) return err;
            action = Action::read;
            return {};
        case id::kBlockDuration:
            if (e.size > 8)
                return make_error(Errc::invalid_element_size, e, std::to_string(e.size) + "-byte number");
            action = Action::read;
            return {};
        case id::kReferenceBlock:
            group_has_reference_ = true;  // its presence alone says "not a key frame"
            return {};
        default:
            return {};
    }
}

ParseError MkvReader::Impl::on_value(const ElementHeader& e, std::span<const std::uint8_t> value) {
    switch (e.id) {
        case id::kSimpleBlock:
            return emit_block(e, e.offset, value, true);
        case id::kBlock:
            return keep_group_block(e, value);
        case id::kTimecode:
            return read_cluster_timecode(e, value);
        case id::kBlockDuration:
            if (auto ec = ebml::decode_uint(value, group_duration_ticks_)) return make_error(ec, e, {});
            group_has_duration_ = true;
            return {};
        default:
            return headers_.on_value(e, value);
    }
}

ParseError MkvReader::Impl::read_cluster_timecode(const ElementHeader& e,
                                                  std::span<const std::uint8_t> value) {
    std::uint64_t ticks = 0;
    if (auto ec = ebml::decode_uint(value, ticks)) return make_error(ec, e, {});
    if (have_timecode_) return {};  // only the first Timestamp of a Cluster counts
    std::int64_t start_ns = 0;
    if (ticks > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        !mul_ok(static_cast<std::int64_t>(ticks),
                static_cast<std::int64_t>(headers_.header().timecode_scale_ns), start_ns)) {
        return make_error(Errc::timecode_out_of_range, e,
                          "Cluster Timestamp " + std::to_string(ticks) + " overflows 64-bit nanoseconds");
    }
    have_timecode_ = true;
    fragment_.timecode = static_cast<std::int64_t>(ticks);
    fragment_.start = Timestamp::from_nanoseconds(start_ns);
    cluster_start_ns_ = start_ns;
    out_.on_fragment_begin(fragment_.offset, fragment_.timecode);
    return {};
}

ParseError MkvReader::Impl::keep_group_block(const ElementHeader& e, std::span<const std::uint8_t> value) {
    if (group_has_block_) return make_error(Errc::invalid_block, e, "BlockGroup with a second Block");
    group_has_block_ = true;
    group_block_ = e;
    if (!reader_.value_is_buffered() && group_.end() <= reader_.chunk_end()) {
        // The whole group lies in the caller's chunk: the Block stays valid until the group ends.
        group_block_value_ = value;
    } else if (reader_.value_is_buffered()) {
        reader_.swap_value_buffer(group_buf_);
        group_block_value_ = group_buf_;
    } else {
        group_buf_.assign(value.begin(), value.end());
        group_block_value_ = group_buf_;
    }
    return {};
}

ParseError MkvReader::Impl::emit_block(const ElementHeader& block_element, std::uint64_t frame_offset,
                                       std::span<const std::uint8_t> value, bool simple) {
    if (auto ec = mkv::parse_block(value, block_, detail_)) return make_error(ec, block_element, detail_);
    const TrackInfo* track = headers_.header().find_track(block_.track);
    if (track == nullptr) {
        return make_error(Errc::unknown_track, block_element,
                          "track " + std::to_string(block_.track) + " is not in Tracks");
    }
    const auto scale = static_cast<std::int64_t>(headers_.header().timecode_scale_ns);
    std::int64_t relative_ns = 0;
    std::int64_t block_pts = 0;
    std::uint64_t duration_ns = 0;
    if (!mul_ok(block_.timecode, scale, relative_ns) || !add_ok(cluster_start_ns_, relative_ns, block_pts) ||
        (group_has_duration_ && !simple &&
         __builtin_mul_overflow(group_duration_ticks_, headers_.header().timecode_scale_ns, &duration_ns))) {
        return make_error(Errc::timecode_out_of_range, block_element,
                          "block time overflows 64-bit nanoseconds");
    }

    Frame frame;
    frame.track = block_.track;
    frame.relative_timecode = block_.timecode;
    frame.key = simple ? (block_.flags & mkv::kFlagKey) != 0 : !group_has_reference_;
    frame.invisible = (block_.flags & mkv::kFlagInvisible) != 0;
    frame.discardable = simple && (block_.flags & mkv::kFlagDiscardable) != 0;
    // A laced block's duration covers all its frames.
    frame.duration_ns = duration_ns / block_.frame_count;
    frame.element_offset = frame_offset;

    const auto track_index = static_cast<std::size_t>(track - headers_.header().tracks.data());
    const bool counts_as_key = frame.key && (!video_keys_only_ || track->type == TrackType::video);
    const auto step = static_cast<std::int64_t>(std::min<std::uint64_t>(
        track->default_duration_ns, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
    std::size_t position = 0;
    std::int64_t pts = block_pts;
    for (std::size_t i = 0; i < block_.frame_count; ++i) {
        // Laced frames after the first follow at the track's DefaultDuration (or share the block's time).
        if (i > 0 && !add_ok(pts, step, pts)) {
            return make_error(Errc::timecode_out_of_range, block_element, "laced frame time overflows");
        }
        const auto size = static_cast<std::size_t>(block_.frame_sizes[i]);
        frame.pts = Timestamp::from_nanoseconds(pts);
        frame.payload = block_.frames.subspan(position, size);
        position += size;

        auto& timing = timing_[track_index];
        std::int64_t interval = 0;
        if (timing.seen && sub_ok(pts, timing.last_pts, interval)) timing.interval = interval;
        timing.seen = true;
        timing.last_pts = pts;
        max_pts_ = std::max(max_pts_, pts);
        if (fragment_.frames != std::numeric_limits<std::uint32_t>::max()) ++fragment_.frames;
        if (counts_as_key && fragment_.key_frames != std::numeric_limits<std::uint32_t>::max())
            ++fragment_.key_frames;
        out_.on_frame(frame);
    }
    last_track_index_ = track_index;
    last_frame_duration_ = frame.duration_ns;
    if (counts_as_key) {
        const std::uint64_t relative = frame_offset - fragment_.offset;
        if (relative <= std::numeric_limits<std::uint32_t>::max() &&
            fragment_.key_frame_offsets.size() < kMaxKeyFrameOffsets) {
            fragment_.key_frame_offsets.push_back(static_cast<std::uint32_t>(relative));
        }
    }
    return {};
}

void MkvReader::Impl::end_cluster(const ElementHeader& e) {
    if (!have_timecode_) return;  // an empty Cluster without a Timestamp: nothing began, nothing ends
    fragment_.size = e.total_size();
    std::int64_t duration = 0;
    if (fragment_.frames > 0) {
        // Up to the end of the last frame: its BlockDuration, else its track's DefaultDuration, else the
        // interval between its track's last two frames.
        std::int64_t interval = 0;
        const TrackInfo& track = headers_.header().tracks[last_track_index_];
        if (last_frame_duration_ > 0) {
            interval = static_cast<std::int64_t>(
                std::min<std::uint64_t>(last_frame_duration_, std::numeric_limits<std::int64_t>::max()));
        } else if (track.default_duration_ns > 0) {
            interval = static_cast<std::int64_t>(
                std::min<std::uint64_t>(track.default_duration_ns, std::numeric_limits<std::int64_t>::max()));
        } else {
            interval = std::max<std::int64_t>(0, timing_[last_track_index_].interval);
        }
        // cluster_start_ns_ >= 0, so a positive difference cannot overflow.
        const std::int64_t span = max_pts_ > cluster_start_ns_ ? max_pts_ - cluster_start_ns_ : 0;
        duration = saturating_add(span, interval);
    }
    fragment_.duration = Duration{duration};
    out_.on_fragment_end(fragment_);
}

ParseError MkvReader::Impl::on_master_end(const ElementHeader& e) {
    switch (e.id) {
        case id::kEbml:
            if (auto err = headers_.on_master_end(e)) return err;
            have_ebml_header_ = true;
            ebml_header_pending_ = true;
            return {};
        case id::kSegment:
            announce_segment();  // a Segment with Tracks but no Cluster
            return {};
        case id::kInfo:
            have_info_ = true;
            if (have_tracks_) announce_segment();
            return {};
        case id::kTracks:
            have_tracks_ = true;
            video_keys_only_ = false;
            for (const auto& t : headers_.header().tracks)
                video_keys_only_ |= t.type == TrackType::video;
            if (have_info_) announce_segment();
            return {};
        case id::kCluster:
            end_cluster(e);
            return {};
        case id::kBlockGroup:
            if (!group_has_block_) return make_error(Errc::invalid_block, e, "BlockGroup without a Block");
            return emit_block(group_block_, e.offset, group_block_value_, false);
        case id::kTags:
            out_.on_tags(headers_.tags(), e.offset);
            return {};
        default:
            return headers_.on_master_end(e);
    }
}

MkvReader::MkvReader(MkvReaderHandler& handler, MkvReaderLimits limits)
    : impl_(std::make_unique<Impl>(handler, limits)) {}

MkvReader::~MkvReader() = default;

ParseError MkvReader::feed(std::span<const std::uint8_t> bytes) {
    return impl_->reader_.feed(bytes);
}

ParseError MkvReader::finish() {
    return impl_->reader_.finish();
}

std::uint64_t MkvReader::offset() const noexcept {
    return impl_->reader_.offset();
}

const SegmentHeader* MkvReader::header() const noexcept {
    return impl_->have_tracks_ ? &impl_->headers_.header() : nullptr;
}

}  // namespace kinema::media
