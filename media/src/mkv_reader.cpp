// The Matroska layer over the generic EBML push parser: which elements to descend into, read or skip, and
// how Clusters, blocks and the segment headers become MkvReaderHandler events.
#include "kinema/media/mkv_reader.h"

#include <algorithm>
#include <limits>
#include <string>

#include "ebml_reader.h"
#include "kinema/media/ebml_ids.h"
#include "mkv_block.h"

namespace kinema::media {
namespace {

namespace id = ebml_id;
using ebml::Action;
using ebml::ElementHeader;

// Key-frame offsets kept per Cluster; beyond this (far more than any real fragment holds) they are still
// counted in key_frames but no longer recorded, so a hostile endless cluster cannot grow memory.
constexpr std::size_t kMaxKeyFrameOffsets = 1 << 16;
// SimpleTags kept per Tags element (KVS allows 10 per fragment; muxers write a few per track).
constexpr std::size_t kMaxSimpleTags = 4096;

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

// Integer leaves (uint, int, float, date) are at most 8 bytes; checked before their value is buffered.
bool is_numeric(std::uint32_t element) noexcept {
    switch (element) {
        case id::kEbmlReadVersion:
        case id::kEbmlMaxIdLength:
        case id::kEbmlMaxSizeLength:
        case id::kTimecodeScale:
        case id::kDuration:
        case id::kTrackNumber:
        case id::kTrackUid:
        case id::kTrackType:
        case id::kDefaultDuration:
        case id::kPixelWidth:
        case id::kPixelHeight:
        case id::kSamplingFrequency:
        case id::kChannels:
        case id::kTimecode:
        case id::kBlockDuration:
            return true;
        default:
            return false;
    }
}

ParseError make_error(Errc code, const ElementHeader& element, std::string detail) {
    return {make_error_code(code), element.offset, element.id, std::move(detail)};
}

ParseError make_error(std::error_code code, const ElementHeader& element, std::string detail) {
    return {code, element.offset, element.id, std::move(detail)};
}

// Signed-overflow-free arithmetic on timestamps from the wire.
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
        : out_(handler), limits_(limits), reader_(*this, {limits.max_element_size, limits.max_depth}) {}

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
    ParseError check_header_size(const ElementHeader& e) const;
    ParseError read_header_value(const ElementHeader& e, std::span<const std::uint8_t> value);
    ParseError read_cluster_timecode(const ElementHeader& e, std::span<const std::uint8_t> value);
    ParseError keep_group_block(const ElementHeader& e, std::span<const std::uint8_t> value);
    ParseError end_ebml_header(const ElementHeader& e);
    ParseError end_track_entry(const ElementHeader& e);
    // Turns one SimpleBlock or Block into frames. `block_element` is the SimpleBlock/Block (for errors),
    // `frame_element` the SimpleBlock/BlockGroup (for offsets).
    ParseError emit_block(const ElementHeader& block_element, std::uint64_t frame_offset,
                          std::span<const std::uint8_t> value, bool simple);
    void end_cluster(const ElementHeader& e);
    void announce_segment() {
        if (announced_ || !have_tracks_) return;
        announced_ = true;
        out_.on_segment(header_, segment_offset_);
    }

    MkvReaderHandler& out_;
    MkvReaderLimits limits_;
    ebml::EbmlReader reader_;

    // EBML header
    bool have_ebml_header_ = false;     // a valid one was read: Segments may follow
    bool ebml_header_pending_ = false;  // read and not yet followed by its Segment
    std::uint64_t ebml_offset_ = 0;
    std::string doc_type_;
    std::uint64_t ebml_read_version_ = 1;
    std::uint64_t max_id_length_ = 4;
    std::uint64_t max_size_length_ = 8;

    // Segment headers
    std::uint64_t segment_offset_ = 0;
    SegmentHeader header_;
    bool have_info_ = false;
    bool have_tracks_ = false;
    bool announced_ = false;
    TrackInfo track_;  // the TrackEntry being read

    // Tags
    std::vector<SimpleTag> tags_;
    std::vector<std::size_t> open_simple_tags_;  // nested SimpleTags, flattened in document order

    // Cluster
    bool in_cluster_ = false;
    bool have_timecode_ = false;
    FragmentInfo fragment_;
    std::int64_t cluster_start_ns_ = 0;
    // For the fragment duration: the latest pts, the last frame and per-track frame intervals.
    struct TrackTiming {
        bool seen = false;
        std::int64_t last_pts = 0;
        std::int64_t interval = 0;
    };
    std::vector<TrackTiming> timing_;  // parallel to header_.tracks
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
    if (is_numeric(e.id) && e.size > 8) {
        return make_error(Errc::invalid_element_size, e, std::to_string(e.size) + "-byte number");
    }
    const std::uint32_t parent_id = parent != nullptr ? parent->id : 0;
    switch (parent_id) {
        case 0:
            return start_root_child(e, action);
        case id::kEbml:
            if (e.id == id::kDocType || e.id == id::kEbmlReadVersion || e.id == id::kEbmlMaxIdLength ||
                e.id == id::kEbmlMaxSizeLength) {
                action = Action::read;
            }
            return {};
        case id::kSegment:
            return start_segment_child(e, action);
        case id::kInfo:
            if (e.id == id::kTimecodeScale || e.id == id::kMuxingApp || e.id == id::kWritingApp ||
                e.id == id::kDuration) {
                action = Action::read;
            }
            return {};
        case id::kTracks:
            if (e.id == id::kTrackEntry) {
                if (header_.tracks.size() >= limits_.max_tracks) {
                    return make_error(Errc::header_too_large, e,
                                      "more than " + std::to_string(limits_.max_tracks) + " tracks");
                }
                track_ = TrackInfo{};
                track_.number = 0;  // TrackNumber is mandatory: 0 marks it missing
                action = Action::descend;
            }
            return {};
        case id::kTrackEntry:
            switch (e.id) {
                case id::kTrackNumber:
                case id::kTrackUid:
                case id::kTrackType:
                case id::kName:
                case id::kCodecId:
                case id::kCodecPrivate:
                case id::kDefaultDuration:
                    action = Action::read;
                    break;
                case id::kVideo:
                case id::kAudio:
                    action = Action::descend;
                    break;
                default:
                    break;
            }
            return {};
        case id::kVideo:
            if (e.id == id::kPixelWidth || e.id == id::kPixelHeight) action = Action::read;
            return {};
        case id::kAudio:
            if (e.id == id::kSamplingFrequency || e.id == id::kChannels) action = Action::read;
            return {};
        case id::kCluster:
            return start_cluster_child(e, action);
        case id::kBlockGroup:
            if (e.id == id::kBlock) {
                if (e.size > limits_.max_block_size) {
                    return make_error(
                        Errc::element_too_large, e,
                        std::to_string(e.size) + " bytes, limit " + std::to_string(limits_.max_block_size));
                }
                action = Action::read;
            } else if (e.id == id::kBlockDuration) {
                action = Action::read;
            } else if (e.id == id::kReferenceBlock) {
                group_has_reference_ = true;  // its presence alone says "not a key frame"
            }
            return {};
        case id::kTags:
            if (e.id == id::kTag) action = Action::descend;
            return {};
        case id::kTag:
        case id::kSimpleTag:
            if (e.id == id::kSimpleTag) {
                if (tags_.size() >= kMaxSimpleTags) {
                    return make_error(Errc::header_too_large, e,
                                      "more than " + std::to_string(kMaxSimpleTags) + " SimpleTags");
                }
                open_simple_tags_.push_back(tags_.size());
                tags_.emplace_back();
                action = Action::descend;
            } else if (parent_id == id::kSimpleTag && (e.id == id::kTagName || e.id == id::kTagString)) {
                action = Action::read;
            }
            return {};
        default:
            return {};
    }
}

ParseError MkvReader::Impl::start_root_child(const ElementHeader& e, Action& action) {
    switch (e.id) {
        case id::kEbml:
            if (auto err = check_header_size(e)) return err;
            doc_type_.clear();
            ebml_read_version_ = 1;
            max_id_length_ = 4;
            max_size_length_ = 8;
            ebml_offset_ = e.offset;
            action = Action::descend;
            return {};
        case id::kSegment:
            if (!have_ebml_header_)
                return make_error(Errc::invalid_ebml_header, e, "Segment without an EBML header");
            segment_offset_ = ebml_header_pending_ ? ebml_offset_ : e.offset;
            ebml_header_pending_ = false;
            header_ = SegmentHeader{};
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
            if (have_info_ || announced_) return {};  // a repeated Info cannot change what was announced
            if (auto err = check_header_size(e)) return err;
            action = Action::descend;
            return {};
        case id::kTracks:
            if (have_tracks_) return {};
            if (auto err = check_header_size(e)) return err;
            header_.tracks.clear();
            action = Action::descend;
            return {};
        case id::kTags:
            if (auto err = check_header_size(e)) return err;
            tags_.clear();
            open_simple_tags_.clear();
            action = Action::descend;
            return {};
        case id::kCluster:
            if (!have_tracks_)
                return make_error(Errc::missing_tracks, e, "Cluster before the Segment's Tracks");
            announce_segment();
            in_cluster_ = true;
            have_timecode_ = false;
            fragment_.offset = e.offset;
            fragment_.size = 0;
            fragment_.timecode = 0;
            fragment_.start = {};
            fragment_.duration = Duration{0};
            fragment_.frames = 0;
            fragment_.key_frames = 0;
            fragment_.key_frame_offsets.clear();
            timing_.assign(header_.tracks.size(), TrackTiming{});
            max_pts_ = std::numeric_limits<std::int64_t>::min();
            action = Action::descend;
            return {};
        default:
            return {};  // SeekHead, Cues, Chapters, Attachments, Void, CRC-32 and unknown elements
    }
}

ParseError MkvReader::Impl::start_cluster_child(const ElementHeader& e, Action& action) {
    switch (e.id) {
        case id::kTimecode:
            action = Action::read;
            return {};
        case id::kSimpleBlock:
        case id::kBlockGroup:
            if (!have_timecode_)
                return make_error(Errc::invalid_block, e, "block before the Cluster's Timestamp");
            if (e.id == id::kSimpleBlock) {
                if (e.size > limits_.max_block_size) {
                    return make_error(
                        Errc::element_too_large, e,
                        std::to_string(e.size) + " bytes, limit " + std::to_string(limits_.max_block_size));
                }
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

ParseError MkvReader::Impl::check_header_size(const ElementHeader& e) const {
    if (e.size > limits_.max_header_size) {
        return make_error(
            Errc::header_too_large, e,
            std::to_string(e.size) + " bytes, limit " + std::to_string(limits_.max_header_size));
    }
    return {};
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
            return read_header_value(e, value);
    }
}

ParseError MkvReader::Impl::read_header_value(const ElementHeader& e, std::span<const std::uint8_t> value) {
    std::uint64_t number = 0;
    auto uint_value = [&]() -> ParseError {
        if (auto ec = ebml::decode_uint(value, number)) return make_error(ec, e, {});
        return {};
    };
    auto uint32_value = [&](std::uint32_t& out) -> ParseError {
        if (auto err = uint_value()) return err;
        if (number > std::numeric_limits<std::uint32_t>::max()) {
            return make_error(Errc::invalid_argument, e, std::to_string(number) + " is out of range");
        }
        out = static_cast<std::uint32_t>(number);
        return {};
    };
    switch (e.id) {
        case id::kDocType:
            doc_type_ = ebml::decode_string(value);
            return {};
        case id::kEbmlReadVersion:
            if (auto err = uint_value()) return err;
            ebml_read_version_ = number;
            return {};
        case id::kEbmlMaxIdLength:
            if (auto err = uint_value()) return err;
            max_id_length_ = number;
            return {};
        case id::kEbmlMaxSizeLength:
            if (auto err = uint_value()) return err;
            max_size_length_ = number;
            return {};
        case id::kTimecodeScale:
            if (auto err = uint_value()) return err;
            if (number == 0 ||
                number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return make_error(Errc::invalid_argument, e, "TimestampScale " + std::to_string(number));
            }
            header_.timecode_scale_ns = number;
            return {};
        case id::kDuration: {
            double duration = 0;
            if (auto ec = ebml::decode_float(value, duration)) return make_error(ec, e, {});
            return {};
        }
        case id::kMuxingApp:
            header_.muxing_app = ebml::decode_string(value);
            return {};
        case id::kWritingApp:
            header_.writing_app = ebml::decode_string(value);
            return {};
        case id::kTrackNumber:
            if (auto err = uint_value()) return err;
            track_.number = number;
            return {};
        case id::kTrackUid:
            if (auto err = uint_value()) return err;
            track_.uid = number;
            return {};
        case id::kTrackType:
            if (auto err = uint_value()) return err;
            if (number == 0 || number > 0xFF) {
                return make_error(Errc::invalid_argument, e, "TrackType " + std::to_string(number));
            }
            track_.type = static_cast<TrackType>(static_cast<std::uint8_t>(number));
            return {};
        case id::kName:
            track_.name = ebml::decode_string(value);
            return {};
        case id::kCodecId:
            track_.codec_id = ebml::decode_string(value);
            return {};
        case id::kCodecPrivate:
            track_.codec_private.assign(value.begin(), value.end());
            return {};
        case id::kDefaultDuration:
            if (auto err = uint_value()) return err;
            track_.default_duration_ns = number;
            return {};
        case id::kPixelWidth:
            return uint32_value(track_.pixel_width);
        case id::kPixelHeight:
            return uint32_value(track_.pixel_height);
        case id::kChannels:
            return uint32_value(track_.channels);
        case id::kSamplingFrequency:
            if (auto ec = ebml::decode_float(value, track_.sampling_frequency)) return make_error(ec, e, {});
            return {};
        case id::kTagName:
            tags_[open_simple_tags_.back()].name = ebml::decode_string(value);
            return {};
        case id::kTagString:
            tags_[open_simple_tags_.back()].value = ebml::decode_string(value);
            return {};
        default:
            return {};
    }
}

ParseError MkvReader::Impl::read_cluster_timecode(const ElementHeader& e,
                                                  std::span<const std::uint8_t> value) {
    std::uint64_t ticks = 0;
    if (auto ec = ebml::decode_uint(value, ticks)) return make_error(ec, e, {});
    if (have_timecode_) return {};  // only the first Timestamp of a Cluster counts
    std::int64_t start_ns = 0;
    if (ticks > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        !mul_ok(static_cast<std::int64_t>(ticks), static_cast<std::int64_t>(header_.timecode_scale_ns),
                start_ns)) {
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
    const TrackInfo* track = header_.find_track(block_.track);
    if (track == nullptr) {
        return make_error(Errc::unknown_track, block_element,
                          "track " + std::to_string(block_.track) + " is not in Tracks");
    }
    const auto scale = static_cast<std::int64_t>(header_.timecode_scale_ns);
    std::int64_t relative_ns = 0;
    std::int64_t block_pts = 0;
    std::uint64_t duration_ns = 0;
    if (!mul_ok(block_.timecode, scale, relative_ns) || !add_ok(cluster_start_ns_, relative_ns, block_pts) ||
        (group_has_duration_ && !simple &&
         __builtin_mul_overflow(group_duration_ticks_, header_.timecode_scale_ns, &duration_ns))) {
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

    const auto track_index = static_cast<std::size_t>(track - header_.tracks.data());
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
        if (timing.seen) timing.interval = pts - timing.last_pts;
        timing.seen = true;
        timing.last_pts = pts;
        max_pts_ = std::max(max_pts_, pts);
        if (fragment_.frames != std::numeric_limits<std::uint32_t>::max()) ++fragment_.frames;
        if (frame.key && fragment_.key_frames != std::numeric_limits<std::uint32_t>::max())
            ++fragment_.key_frames;
        out_.on_frame(frame);
    }
    last_track_index_ = track_index;
    last_frame_duration_ = frame.duration_ns;
    if (frame.key) {
        const std::uint64_t relative = frame_offset - fragment_.offset;
        if (relative <= std::numeric_limits<std::uint32_t>::max() &&
            fragment_.key_frame_offsets.size() < kMaxKeyFrameOffsets) {
            fragment_.key_frame_offsets.push_back(static_cast<std::uint32_t>(relative));
        }
    }
    return {};
}

void MkvReader::Impl::end_cluster(const ElementHeader& e) {
    in_cluster_ = false;
    if (!have_timecode_) return;  // an empty Cluster without a Timestamp: nothing began, nothing ends
    fragment_.size = e.total_size();
    std::int64_t duration = 0;
    if (fragment_.frames > 0) {
        // Up to the end of the last frame: its BlockDuration, else its track's DefaultDuration, else the
        // interval between its track's last two frames.
        std::int64_t interval = 0;
        const TrackInfo& track = header_.tracks[last_track_index_];
        if (last_frame_duration_ > 0) {
            interval = static_cast<std::int64_t>(
                std::min<std::uint64_t>(last_frame_duration_, std::numeric_limits<std::int64_t>::max()));
        } else if (track.default_duration_ns > 0) {
            interval = static_cast<std::int64_t>(
                std::min<std::uint64_t>(track.default_duration_ns, std::numeric_limits<std::int64_t>::max()));
        } else {
            interval = std::max<std::int64_t>(0, timing_[last_track_index_].interval);
        }
        // max_pts_ >= -2^15 * scale and cluster_start_ns_ >= 0, so the difference cannot overflow.
        const std::int64_t span = max_pts_ > cluster_start_ns_ ? max_pts_ - cluster_start_ns_ : 0;
        duration = saturating_add(span, interval);
    }
    fragment_.duration = Duration{duration};
    out_.on_fragment_end(fragment_);
}

ParseError MkvReader::Impl::on_master_end(const ElementHeader& e) {
    switch (e.id) {
        case id::kEbml:
            return end_ebml_header(e);
        case id::kSegment:
            announce_segment();  // a Segment with Tracks but no Cluster
            return {};
        case id::kInfo:
            have_info_ = true;
            if (have_tracks_) announce_segment();
            return {};
        case id::kTracks:
            have_tracks_ = true;
            if (have_info_) announce_segment();
            return {};
        case id::kTrackEntry:
            return end_track_entry(e);
        case id::kCluster:
            end_cluster(e);
            return {};
        case id::kBlockGroup:
            if (!group_has_block_) return make_error(Errc::invalid_block, e, "BlockGroup without a Block");
            return emit_block(group_block_, e.offset, group_block_value_, false);
        case id::kSimpleTag:
            if (!open_simple_tags_.empty()) open_simple_tags_.pop_back();
            return {};
        case id::kTags:
            out_.on_tags(tags_, e.offset);
            return {};
        default:
            return {};
    }
}

ParseError MkvReader::Impl::end_ebml_header(const ElementHeader& e) {
    if (doc_type_ != "matroska" && doc_type_ != "webm") {
        return make_error(Errc::invalid_ebml_header, e,
                          "DocType \"" + doc_type_ + "\" is not matroska or webm");
    }
    if (ebml_read_version_ > 1 || max_id_length_ > 4 || max_size_length_ > 8) {
        return make_error(Errc::invalid_ebml_header, e,
                          "unsupported EBMLReadVersion " + std::to_string(ebml_read_version_) +
                              ", EBMLMaxIDLength " + std::to_string(max_id_length_) +
                              " or EBMLMaxSizeLength " + std::to_string(max_size_length_));
    }
    have_ebml_header_ = true;
    ebml_header_pending_ = true;
    return {};
}

ParseError MkvReader::Impl::end_track_entry(const ElementHeader& e) {
    if (track_.number == 0) return make_error(Errc::invalid_argument, e, "TrackEntry without a TrackNumber");
    if (header_.find_track(track_.number) != nullptr) {
        return make_error(Errc::invalid_argument, e,
                          "TrackNumber " + std::to_string(track_.number) + " repeated");
    }
    header_.tracks.push_back(std::move(track_));
    return {};
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
    return impl_->have_tracks_ ? &impl_->header_ : nullptr;
}

}  // namespace kinema::media
