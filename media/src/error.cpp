#include "kinema/media/error.h"

#include <cstdio>

#include "kinema/media/ebml_ids.h"

namespace kinema::media {
namespace {

class MediaCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "kinema.media"; }
    std::string message(int value) const override {
        switch (static_cast<Errc>(value)) {
            case Errc::ok:
                return "success";
            case Errc::invalid_vint:
                return "invalid EBML variable-length integer";
            case Errc::invalid_element_size:
                return "element size does not fit its type";
            case Errc::element_too_large:
                return "element larger than the limit";
            case Errc::nesting_too_deep:
                return "elements nested deeper than the limit";
            case Errc::header_too_large:
                return "headers larger than the limit";
            case Errc::unknown_size_not_allowed:
                return "unknown size on an element that needs a known size";
            case Errc::child_overflows_parent:
                return "child element extends past its parent";
            case Errc::truncated:
                return "input ends inside an element";
            case Errc::invalid_ebml_header:
                return "invalid EBML header";
            case Errc::invalid_block:
                return "invalid block";
            case Errc::invalid_lacing:
                return "invalid block lacing";
            case Errc::unknown_track:
                return "block for a track not declared in Tracks";
            case Errc::missing_tracks:
                return "cluster before any Tracks element";
            case Errc::timecode_out_of_range:
                return "block timecode does not fit int16 relative to its cluster";
            case Errc::timecode_went_backwards:
                return "timecode lower than the previous one";
            case Errc::invalid_argument:
                return "invalid argument";
            case Errc::invalid_nal:
                return "invalid NAL unit";
            case Errc::invalid_sps:
                return "invalid H.264 SPS";
            case Errc::invalid_avcc:
                return "invalid avcC record";
            case Errc::missing_parameter_sets:
                return "missing H.264 SPS/PPS";
            case Errc::crc_mismatch:
                return "CRC-32 element does not match its master's data";
        }
        return "unknown media error";
    }
};

}  // namespace

const std::error_category& media_category() noexcept {
    static const MediaCategory category;
    return category;
}

std::string ParseError::message() const {
    std::string text = code.message();
    text += " at byte " + std::to_string(offset);
    if (element_id != 0) {
        char id[16];
        std::snprintf(id, sizeof id, "0x%X", element_id);
        text += " (element ";
        text += id;
        if (auto name = ebml_id::element_name(element_id); !name.empty()) {
            text += ' ';
            text += name;
        }
        text += ')';
    }
    if (!detail.empty()) text += ": " + detail;
    return text;
}

}  // namespace kinema::media
