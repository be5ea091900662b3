#include "segment_file.h"

#include <cstdio>

#include "crc32c.h"
#include "kinema/storage/error.h"

namespace kinema::storage {

std::filesystem::path Segment::data_path(const std::filesystem::path& dir, FragmentNumber first) {
    return dir / (format_fragment_number(first) + ".seg");
}

std::filesystem::path Segment::index_path(const std::filesystem::path& dir, FragmentNumber first) {
    return dir / (format_fragment_number(first) + ".idx");
}

bool Segment::parse_data_name(const std::string& file_name, FragmentNumber& first) {
    if (file_name.size() != 24 || file_name.compare(20, 4, ".seg") != 0) return false;
    auto parsed = parse_fragment_number(std::string_view(file_name).substr(0, 20));
    if (!parsed) return false;
    first = *parsed;
    return true;
}

std::error_code Segment::create(const std::filesystem::path& dir, FragmentNumber first,
                                const WriteFault* fault, Segment& segment) {
    segment.first_number = first;
    if (auto ec = File::open(data_path(dir, first), true, fault, segment.data)) return ec;
    if (auto ec = File::open(index_path(dir, first), true, fault, segment.index)) return ec;
    segment.needs_dir_sync = true;
    return {};
}

std::error_code Segment::append_index(std::span<const std::uint8_t> encoded, std::size_t count) {
    const std::span<const std::uint8_t> buffers[] = {encoded};
    if (auto ec = index.write_at(index_entries * kIndexEntrySize, buffers)) return ec;
    index_entries += count;
    return {};
}

std::error_code Segment::read_record(const IndexEntry& entry, std::uint32_t max_payload,
                                     FragmentMetadata& meta, std::vector<std::uint8_t>& payload) const {
    if (entry.record_len < kRecordHeaderSize + kMetaFixedSize || entry.size > max_payload ||
        entry.record_len > kRecordHeaderSize + kMaxMetaSize + static_cast<std::uint64_t>(entry.size)) {
        return Errc::corrupt_record;
    }
    std::vector<std::uint8_t> record(entry.record_len);
    if (auto ec = data.read_at(entry.offset, record)) return ec;
    RecordHeader header;
    if (auto ec = decode_record_header(record, max_payload, header)) return ec;
    if (kRecordHeaderSize + static_cast<std::uint64_t>(header.meta_len) + header.payload_len !=
        entry.record_len) {
        return Errc::corrupt_record;
    }
    FragmentNumber number = 0;
    std::uint32_t payload_crc = 0;
    const std::span<const std::uint8_t> prefix(record.data(), kRecordHeaderSize + header.meta_len);
    if (auto ec = decode_record_meta(prefix, header, number, payload_crc, meta)) return ec;
    const std::span<const std::uint8_t> body(record.data() + prefix.size(), header.payload_len);
    if (number != entry.number || payload_crc != entry.checksum || crc32c(body) != payload_crc) {
        return Errc::corrupt_record;
    }
    payload.assign(body.begin(), body.end());
    return {};
}

}  // namespace kinema::storage
