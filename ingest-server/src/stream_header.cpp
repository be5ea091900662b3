#include "stream_header.h"

#include <kinema/media/ebml_ids.h>
#include <kinema/media/ebml_writer.h>

#include "ebml_scan.h"

namespace kinema::server {

namespace id = media::ebml_id;

std::optional<StreamHeader> normalize_stream_header(std::span<const std::uint8_t> raw) {
    StreamHeader header;
    auto ebml = ebml_scan::read_element_header(raw);
    if (!ebml || ebml->id != id::kEbml || ebml->unknown_size ||
        ebml->size > raw.size() - ebml->header_length) {
        return std::nullopt;
    }
    std::size_t pos = ebml->header_length + ebml->size;
    header.bytes.assign(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(pos));

    auto segment = ebml_scan::read_element_header(raw.subspan(pos));
    if (!segment || segment->id != id::kSegment) return std::nullopt;
    media::ebml::write_id(id::kSegment, header.bytes);
    media::ebml::write_unknown_size(header.bytes);
    pos += segment->header_length;

    bool have_info = false;
    bool have_tracks = false;
    while (pos < raw.size()) {
        auto element = ebml_scan::read_element_header(raw.subspan(pos));
        if (!element || element->id == id::kCluster) break;
        if (element->unknown_size || element->size > raw.size() - pos - element->header_length) {
            return std::nullopt;
        }
        const std::size_t end = pos + element->header_length + element->size;
        auto payload = raw.subspan(pos + element->header_length, element->size);
        // A repeated Info or Tracks (each may occur once) is dropped: the MKV reader reads the first of each,
        // and so must every viewer, or the TimecodeScale used to rewrite cluster timecodes is not the one the
        // viewer reads.
        if ((element->id == id::kInfo && have_info) || (element->id == id::kTracks && have_tracks)) {
            pos = end;
            continue;
        }
        switch (element->id) {
            case id::kInfo:
                have_info = true;
                // TimecodeScale is needed to rewrite cluster timecodes in the stream's own ticks.
                for (std::size_t child = 0; child < payload.size();) {
                    auto c = ebml_scan::read_element_header(payload.subspan(child));
                    if (!c || c->unknown_size || c->size > payload.size() - child - c->header_length) {
                        return std::nullopt;
                    }
                    if (c->id == id::kTimecodeScale) {
                        auto scale = ebml_scan::read_uint(payload.subspan(child + c->header_length, c->size));
                        if (!scale || *scale == 0) return std::nullopt;
                        header.timecode_scale_ns = *scale;
                    }
                    child += c->header_length + c->size;
                }
                [[fallthrough]];
            case id::kTracks:
            case id::kTags:
                if (element->id == id::kTracks) have_tracks = true;
                header.bytes.insert(header.bytes.end(), raw.begin() + static_cast<std::ptrdiff_t>(pos),
                                    raw.begin() + static_cast<std::ptrdiff_t>(end));
                break;
            default:
                break;  // SeekHead, Cues, Chapters, Attachments, Void, CRC-32: dropped (see the header)
        }
        pos = end;
    }
    if (!have_info || !have_tracks) return std::nullopt;
    return header;
}

}  // namespace kinema::server
