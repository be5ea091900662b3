#include "get_media_output.h"

#include <kinema/media/ebml_ids.h>
#include <kinema/media/ebml_writer.h>
#include <kinema/media/mkv_writer.h>
#include <kinema/storage/error.h>

#include "ebml_scan.h"

namespace kinema::server {

namespace id = media::ebml_id;

bool write_cluster_with_timecode(std::span<const std::uint8_t> cluster, std::int64_t timecode, Bytes& out) {
    if (timecode < 0) return false;
    auto element = ebml_scan::read_element_header(cluster);
    if (!element || element->id != id::kCluster) return false;
    std::size_t end = cluster.size();
    if (!element->unknown_size) {
        if (element->size > cluster.size() - element->header_length) return false;
        end = element->header_length + element->size;
    }
    // Find the Timecode among the children before the first block (where Matroska requires it).
    std::size_t pos = element->header_length;
    std::size_t timecode_pos = 0;
    std::size_t timecode_length = 0;
    // A CRC-32 (the cluster's first child, as ffmpeg writes it) would no longer match once the Timecode
    // is rewritten: it is dropped.
    std::size_t crc_pos = 0;
    std::size_t crc_length = 0;
    while (pos < end) {
        auto child = ebml_scan::read_element_header(cluster.subspan(pos, end - pos));
        if (!child || child->unknown_size || child->size > end - pos - child->header_length) return false;
        if (child->id == id::kCrc32 && pos == element->header_length) {
            crc_pos = pos;
            crc_length = child->header_length + child->size;
        }
        if (child->id == id::kTimecode) {
            timecode_pos = pos;
            timecode_length = child->header_length + child->size;
            break;
        }
        if (child->id == id::kSimpleBlock || child->id == id::kBlockGroup) return false;
        pos += child->header_length + child->size;
    }
    if (timecode_length == 0) return false;

    Bytes new_timecode;
    media::ebml::write_uint(id::kTimecode, static_cast<std::uint64_t>(timecode), new_timecode);
    media::ebml::write_id(id::kCluster, out);
    if (element->unknown_size) {
        media::ebml::write_unknown_size(out);
    } else {
        media::ebml::write_size(element->size - crc_length - timecode_length + new_timecode.size(), out);
    }
    auto begin = cluster.begin();
    const std::size_t before_timecode = crc_length != 0 ? crc_pos + crc_length : element->header_length;
    out.insert(out.end(), begin + static_cast<std::ptrdiff_t>(before_timecode),
               begin + static_cast<std::ptrdiff_t>(timecode_pos));
    out.insert(out.end(), new_timecode.begin(), new_timecode.end());
    out.insert(out.end(), begin + static_cast<std::ptrdiff_t>(timecode_pos + timecode_length),
               begin + static_cast<std::ptrdiff_t>(end));
    return true;
}

void GetMediaWriter::write_header_if_needed(std::span<const std::uint8_t> header, Bytes& out) {
    if (mode_ == OutputMode::continuous) {
        if (last_header_.size() == header.size() &&
            std::equal(header.begin(), header.end(), last_header_.begin())) {
            return;
        }
        last_header_.assign(header.begin(), header.end());
    }
    out.insert(out.end(), header.begin(), header.end());
}

bool GetMediaWriter::write_fragment(const StreamHeader& header, const storage::Fragment& fragment,
                                    media::Timestamp now, Bytes& out) {
    if (!fragment.bytes) return false;
    const std::size_t start = out.size();
    const std::string number = storage::format_fragment_number(fragment.info.number);
    write_header_if_needed(header.bytes, out);
    if (mode_ == OutputMode::kvs) {
        std::vector<media::SimpleTag> tags;
        if (style_ == TagStyle::get_media) {
            tags = {{kvs_tag::kFragmentNumber, number},
                    {kvs_tag::kServerTimestamp, fragment.info.server_timestamp.to_kvs_seconds()},
                    {kvs_tag::kProducerTimestamp, fragment.info.producer_timestamp.to_kvs_seconds()}};
        } else {
            tags = {{kvs_tag::kFragmentNumber, number},
                    {kvs_tag::kServerSideTimestamp, fragment.info.server_timestamp.to_kvs_seconds()},
                    {kvs_tag::kProducerSideTimestamp, fragment.info.producer_timestamp.to_kvs_seconds()}};
        }
        media::mkv::write_tags(tags, out);
    }
    const std::int64_t timecode = fragment.info.producer_timestamp.to_mkv_ticks(header.timecode_scale_ns);
    if (!write_cluster_with_timecode(*fragment.bytes, timecode, out)) {
        out.resize(start);
        if (mode_ == OutputMode::continuous) last_header_.clear();
        return false;
    }
    if (mode_ == OutputMode::kvs && style_ == TagStyle::get_media) {
        const std::int64_t behind = (now - fragment.info.server_timestamp).count() / 1'000'000;
        std::vector<media::SimpleTag> tags = {
            {kvs_tag::kMillisBehindNow, std::to_string(behind < 0 ? 0 : behind)},
            {kvs_tag::kContinuationToken, number}};
        media::mkv::write_tags(tags, out);
    }
    return true;
}

void GetMediaWriter::write_live_fragment_begin(const LiveFragmentStart& start, Bytes& out) {
    if (start.stream_header) write_header_if_needed(*start.stream_header, out);
    if (mode_ == OutputMode::kvs) {
        std::vector<media::SimpleTag> tags = {
            {kvs_tag::kServerTimestamp, start.server_timestamp.to_kvs_seconds()},
            {kvs_tag::kProducerTimestamp, start.producer_timestamp.to_kvs_seconds()}};
        media::mkv::write_tags(tags, out);
    }
    media::mkv::write_cluster_start(start.cluster_timecode < 0 ? 0 : start.cluster_timecode, out);
}

void GetMediaWriter::write_live_fragment_end(const std::string& fragment_number,
                                             media::Timestamp server_timestamp, media::Timestamp now,
                                             Bytes& out) {
    if (mode_ != OutputMode::kvs || fragment_number.empty()) return;
    const std::int64_t behind = (now - server_timestamp).count() / 1'000'000;
    std::vector<media::SimpleTag> tags = {
        {kvs_tag::kFragmentNumber, fragment_number},
        {kvs_tag::kMillisBehindNow, std::to_string(behind < 0 ? 0 : behind)},
        {kvs_tag::kContinuationToken, fragment_number}};
    media::mkv::write_tags(tags, out);
}

void GetMediaWriter::write_error(const std::string& code, int error_id, Bytes& out) {
    std::vector<media::SimpleTag> tags = {{kvs_tag::kErrorCode, code},
                                          {kvs_tag::kErrorId, std::to_string(error_id)}};
    media::mkv::write_tags(tags, out);
}

std::error_code StreamHeaderCache::get(const storage::FragmentStore& store, const std::string& stream,
                                       storage::HeaderId header_id,
                                       std::shared_ptr<const StreamHeader>& header) {
    if (auto it = headers_.find(header_id); it != headers_.end()) {
        header = it->second;
        return {};
    }
    std::shared_ptr<const std::vector<std::uint8_t>> raw;
    if (auto ec = store.get_header(stream, header_id, raw)) return ec;
    auto normalized = raw ? normalize_stream_header(*raw) : std::nullopt;
    if (!normalized) return storage::Errc::corrupt_record;
    header = std::make_shared<const StreamHeader>(std::move(*normalized));
    headers_[header_id] = header;
    return {};
}

}  // namespace kinema::server
