// The header-level masters of a Matroska stream, read in memory element by element: the EBML header (whose
// DocType must be matroska or webm), Info, Tracks and Tags. Private to kinema::media: MkvReader decides when
// such a master begins (and checks its size against max_header_size) and routes its children here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ebml_reader.h"
#include "kinema/media/mkv_reader.h"
#include "kinema/media/mkv_types.h"

namespace kinema::media::mkv {

class HeaderReader {
public:
    explicit HeaderReader(const MkvReaderLimits& limits) : limits_(limits) {}

    // Whether the children of `parent_id` are read here: EBML, Info, Tracks, TrackEntry, Video, Audio, Tags,
    // Tag, SimpleTag.
    static bool owns(std::uint32_t parent_id) noexcept;

    void begin_ebml_header();
    void begin_segment() { header_ = SegmentHeader{}; }
    void begin_tracks() { header_.tracks.clear(); }
    void begin_tags() {
        tags_.clear();
        open_simple_tags_.clear();
    }

    ParseError on_element(const ebml::ElementHeader& e, std::uint32_t parent_id, ebml::Action& action);
    ParseError on_value(const ebml::ElementHeader& e, std::span<const std::uint8_t> value);
    // The end of the EBML header (validated), a TrackEntry (added to the tracks) or a SimpleTag.
    ParseError on_master_end(const ebml::ElementHeader& e);

    const SegmentHeader& header() const noexcept { return header_; }
    const std::vector<SimpleTag>& tags() const noexcept { return tags_; }

private:
    ParseError end_ebml_header(const ebml::ElementHeader& e) const;
    ParseError end_track_entry(const ebml::ElementHeader& e);

    const MkvReaderLimits& limits_;
    // EBML header
    std::string doc_type_;
    std::uint64_t ebml_read_version_ = 1;
    std::uint64_t max_id_length_ = 4;
    std::uint64_t max_size_length_ = 8;
    // Info and Tracks
    SegmentHeader header_;
    TrackInfo track_;  // the TrackEntry being read
    // Tags
    std::vector<SimpleTag> tags_;
    std::vector<std::size_t> open_simple_tags_;  // nested SimpleTags, flattened in document order
};

}  // namespace kinema::media::mkv
