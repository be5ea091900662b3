#include "mkv_headers.h"

#include <limits>

#include "kinema/media/ebml_ids.h"

namespace kinema::media::mkv {
namespace {

namespace id = ebml_id;
using ebml::Action;
using ebml::ElementHeader;
using ebml::make_error;

// SimpleTags kept per Tags element (KVS allows 10 per fragment; muxers write a few per track): bounds the
// memory a Tags element can take well below what its bytes could otherwise claim.
constexpr std::size_t kMaxSimpleTags = 4096;

// Number leaves (uint, float) are at most 8 bytes; checked before their value is buffered.
bool is_number(std::uint32_t element) noexcept {
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
            return true;
        default:
            return false;
    }
}

Action action_for(std::uint32_t parent_id, std::uint32_t element) noexcept {
    switch (parent_id) {
        case id::kEbml:
            switch (element) {
                case id::kDocType:
                case id::kEbmlReadVersion:
                case id::kEbmlMaxIdLength:
                case id::kEbmlMaxSizeLength:
                    return Action::read;
                default:
                    return Action::skip;
            }
        case id::kInfo:
            switch (element) {
                case id::kTimecodeScale:
                case id::kMuxingApp:
                case id::kWritingApp:
                case id::kDuration:
                    return Action::read;
                default:
                    return Action::skip;
            }
        case id::kTracks:
            return element == id::kTrackEntry ? Action::descend : Action::skip;
        case id::kTrackEntry:
            switch (element) {
                case id::kTrackNumber:
                case id::kTrackUid:
                case id::kTrackType:
                case id::kName:
                case id::kCodecId:
                case id::kCodecPrivate:
                case id::kDefaultDuration:
                    return Action::read;
                case id::kVideo:
                case id::kAudio:
                    return Action::descend;
                default:
                    return Action::skip;
            }
        case id::kVideo:
            return element == id::kPixelWidth || element == id::kPixelHeight ? Action::read : Action::skip;
        case id::kAudio:
            return element == id::kSamplingFrequency || element == id::kChannels ? Action::read
                                                                                 : Action::skip;
        case id::kTags:
            return element == id::kTag ? Action::descend : Action::skip;
        case id::kTag:
            return element == id::kSimpleTag ? Action::descend : Action::skip;
        case id::kSimpleTag:
            if (element == id::kSimpleTag) return Action::descend;
            return element == id::kTagName || element == id::kTagString ? Action::read : Action::skip;
        default:
            return Action::skip;
    }
}

}  // namespace

bool HeaderReader::owns(std::uint32_t parent_id) noexcept {
    switch (parent_id) {
        case id::kEbml:
        case id::kInfo:
        case id::kTracks:
        case id::kTrackEntry:
        case id::kVideo:
        case id::kAudio:
        case id::kTags:
        case id::kTag:
        case id::kSimpleTag:
            return true;
        default:
            return false;
    }
}

void HeaderReader::begin_ebml_header() {
    doc_type_.clear();
    ebml_read_version_ = 1;
    max_id_length_ = 4;
    max_size_length_ = 8;
}

ParseError HeaderReader::on_element(const ElementHeader& e, std::uint32_t parent_id, Action& action) {
    action = action_for(parent_id, e.id);
    if (action == Action::read && is_number(e.id) && e.size > 8) {
        return make_error(Errc::invalid_element_size, e, std::to_string(e.size) + "-byte number");
    }
    if (action != Action::descend) return {};
    switch (e.id) {
        case id::kTrackEntry:
            if (header_.tracks.size() >= limits_.max_tracks) {
                return make_error(Errc::header_too_large, e,
                                  "more than " + std::to_string(limits_.max_tracks) + " tracks");
            }
            track_ = TrackInfo{};
            track_.number = 0;  // TrackNumber is mandatory: 0 marks it missing
            return {};
        case id::kAudio:
            // RFC 9559 defaults, which mkvmerge relies on (it omits an 8 kHz SamplingFrequency).
            track_.sampling_frequency = 8000.0;
            track_.channels = 1;
            return {};
        case id::kSimpleTag:
            if (tags_.size() >= kMaxSimpleTags) {
                return make_error(Errc::header_too_large, e,
                                  "more than " + std::to_string(kMaxSimpleTags) + " SimpleTags");
            }
            open_simple_tags_.push_back(tags_.size());
            tags_.emplace_back();
            return {};
        default:
            return {};
    }
}

ParseError HeaderReader::on_value(const ElementHeader& e, std::span<const std::uint8_t> value) {
    std::uint64_t number = 0;
    if (is_number(e.id) && e.id != id::kDuration && e.id != id::kSamplingFrequency) {
        if (auto ec = ebml::decode_uint(value, number)) return make_error(ec, e, {});
    }
    auto to_uint32 = [&](std::uint32_t& out) -> ParseError {
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
            ebml_read_version_ = number;
            return {};
        case id::kEbmlMaxIdLength:
            max_id_length_ = number;
            return {};
        case id::kEbmlMaxSizeLength:
            max_size_length_ = number;
            return {};
        case id::kTimecodeScale:
            if (number == 0 ||
                number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return make_error(Errc::invalid_argument, e, "TimestampScale " + std::to_string(number));
            }
            header_.timecode_scale_ns = number;
            return {};
        case id::kDuration: {
            double duration = 0;  // checked, not kept: SegmentHeader has no use for it
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
            track_.number = number;
            return {};
        case id::kTrackUid:
            track_.uid = number;
            return {};
        case id::kTrackType:
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
            track_.default_duration_ns = number;
            return {};
        case id::kPixelWidth:
            return to_uint32(track_.pixel_width);
        case id::kPixelHeight:
            return to_uint32(track_.pixel_height);
        case id::kChannels:
            return to_uint32(track_.channels);
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

ParseError HeaderReader::on_master_end(const ElementHeader& e) {
    switch (e.id) {
        case id::kEbml:
            return end_ebml_header(e);
        case id::kTrackEntry:
            return end_track_entry(e);
        case id::kSimpleTag:
            if (!open_simple_tags_.empty()) open_simple_tags_.pop_back();
            return {};
        default:
            return {};
    }
}

ParseError HeaderReader::end_ebml_header(const ElementHeader& e) const {
    if (doc_type_ != "matroska" && doc_type_ != "webm") {
        // Quoted at most 32 bytes long: the message must stay short whatever the input.
        return make_error(Errc::invalid_ebml_header, e,
                          "DocType \"" + doc_type_.substr(0, 32) + "\" is not matroska or webm");
    }
    if (ebml_read_version_ > 1 || max_id_length_ > 4 || max_size_length_ > 8) {
        return make_error(Errc::invalid_ebml_header, e,
                          "unsupported EBMLReadVersion " + std::to_string(ebml_read_version_) +
                              ", EBMLMaxIDLength " + std::to_string(max_id_length_) +
                              " or EBMLMaxSizeLength " + std::to_string(max_size_length_));
    }
    return {};
}

ParseError HeaderReader::end_track_entry(const ElementHeader& e) {
    if (track_.number == 0) return make_error(Errc::invalid_argument, e, "TrackEntry without a TrackNumber");
    if (header_.find_track(track_.number) != nullptr) {
        return make_error(Errc::invalid_argument, e,
                          "TrackNumber " + std::to_string(track_.number) + " repeated");
    }
    header_.tracks.push_back(std::move(track_));
    return {};
}

}  // namespace kinema::media::mkv
