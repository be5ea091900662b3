#include "record.h"

#include <bit>
#include <cstring>

#include "crc32c.h"
#include "kinema/storage/error.h"

namespace kinema::storage {
namespace {

// The format is little-endian; memcpy of native integers is only correct on such hosts.
static_assert(std::endian::native == std::endian::little,
              "the storage format codec assumes a little-endian host");

template <typename T>
void put(std::vector<std::uint8_t>& out, T value) {
    std::uint8_t raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    out.insert(out.end(), raw, raw + sizeof(T));
}

template <typename T>
void put_at(std::uint8_t* out, std::size_t at, T value) {
    std::memcpy(out + at, &value, sizeof(T));
}

template <typename T>
T get_at(const std::uint8_t* in, std::size_t at) {
    T value;
    std::memcpy(&value, in + at, sizeof(T));
    return value;
}

}  // namespace

FragmentInfo IndexEntry::info() const {
    FragmentInfo info;
    info.number = number;
    info.size = size;
    info.checksum = checksum;
    info.producer_timestamp = media::Timestamp::from_nanoseconds(producer_ns);
    info.server_timestamp = media::Timestamp::from_nanoseconds(server_ns);
    info.duration = media::Duration(duration_ns);
    info.frame_count = frame_count;
    info.header_id = header_id;
    return info;
}

std::error_code encode_record_prefix(FragmentNumber number, const FragmentMetadata& meta,
                                     std::uint32_t payload_len, std::uint32_t payload_crc,
                                     std::vector<std::uint8_t>& out) {
    if (meta.track_numbers.size() > kMaxTracks) return Errc::invalid_argument;
    const std::size_t meta_len =
        kMetaFixedSize + 8 * meta.track_numbers.size() + 4 * meta.key_frame_offsets.size();
    if (meta_len > kMaxMetaSize) return Errc::invalid_argument;
    out.clear();
    out.reserve(kRecordHeaderSize + meta_len);
    put<std::uint32_t>(out, kFragmentMagic);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(meta_len));
    put<std::uint32_t>(out, payload_len);
    put<std::uint32_t>(out, 0);  // CRC, filled in below
    put<std::uint64_t>(out, number);
    put<std::int64_t>(out, meta.producer_timestamp.nanoseconds());
    put<std::int64_t>(out, meta.server_timestamp.nanoseconds());
    put<std::int64_t>(out, meta.duration.count());
    put<std::uint32_t>(out, meta.frame_count);
    put<std::uint32_t>(out, meta.header_id);
    put<std::uint32_t>(out, payload_crc);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(meta.track_numbers.size()));
    put<std::uint16_t>(out, 0);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(meta.key_frame_offsets.size()));
    for (auto t : meta.track_numbers)
        put<std::uint64_t>(out, t);
    for (auto k : meta.key_frame_offsets)
        put<std::uint32_t>(out, k);
    std::uint32_t crc = crc32c(0, out.data(), 12);
    crc = crc32c(crc, out.data() + kRecordHeaderSize, meta_len);
    put_at<std::uint32_t>(out.data(), 12, crc);
    return {};
}

std::error_code decode_record_header(std::span<const std::uint8_t> bytes, std::uint32_t max_payload,
                                     RecordHeader& header) {
    if (bytes.size() < kRecordHeaderSize) return Errc::corrupt_record;
    if (get_at<std::uint32_t>(bytes.data(), 0) != kFragmentMagic) return Errc::corrupt_record;
    header.meta_len = get_at<std::uint32_t>(bytes.data(), 4);
    header.payload_len = get_at<std::uint32_t>(bytes.data(), 8);
    header.crc = get_at<std::uint32_t>(bytes.data(), 12);
    if (header.meta_len < kMetaFixedSize || header.meta_len > kMaxMetaSize) return Errc::corrupt_record;
    if (header.payload_len > max_payload) return Errc::corrupt_record;
    return {};
}

std::error_code decode_record_meta(std::span<const std::uint8_t> bytes, const RecordHeader& header,
                                   FragmentNumber& number, std::uint32_t& payload_crc,
                                   FragmentMetadata& meta) {
    if (bytes.size() != kRecordHeaderSize + header.meta_len) return Errc::corrupt_record;
    std::uint32_t crc = crc32c(0, bytes.data(), 12);
    crc = crc32c(crc, bytes.data() + kRecordHeaderSize, header.meta_len);
    if (crc != header.crc) return Errc::corrupt_record;
    const std::uint8_t* m = bytes.data() + kRecordHeaderSize;
    number = get_at<std::uint64_t>(m, 0);
    meta.producer_timestamp = media::Timestamp::from_nanoseconds(get_at<std::int64_t>(m, 8));
    meta.server_timestamp = media::Timestamp::from_nanoseconds(get_at<std::int64_t>(m, 16));
    meta.duration = media::Duration(get_at<std::int64_t>(m, 24));
    meta.frame_count = get_at<std::uint32_t>(m, 32);
    meta.header_id = get_at<std::uint32_t>(m, 36);
    payload_crc = get_at<std::uint32_t>(m, 40);
    const std::size_t tracks = get_at<std::uint16_t>(m, 44);
    const std::size_t keys = get_at<std::uint32_t>(m, 48);
    // The counts must account for the metadata length exactly; anything else is damage.
    if (tracks > kMaxTracks || kMetaFixedSize + 8 * tracks + 4 * keys != header.meta_len) {
        return Errc::corrupt_record;
    }
    meta.track_numbers.resize(tracks);
    meta.key_frame_offsets.resize(keys);
    std::size_t at = kMetaFixedSize;
    for (auto& t : meta.track_numbers) {
        t = get_at<std::uint64_t>(m, at);
        at += 8;
    }
    for (auto& k : meta.key_frame_offsets) {
        k = get_at<std::uint32_t>(m, at);
        at += 4;
    }
    return {};
}

void encode_index_entry(const IndexEntry& e, std::uint8_t* out) {
    put_at<std::uint64_t>(out, 0, e.number);
    put_at<std::int64_t>(out, 8, e.producer_ns);
    put_at<std::int64_t>(out, 16, e.server_ns);
    put_at<std::int64_t>(out, 24, e.duration_ns);
    put_at<std::uint64_t>(out, 32, e.offset);
    put_at<std::uint32_t>(out, 40, e.record_len);
    put_at<std::uint32_t>(out, 44, e.size);
    put_at<std::uint32_t>(out, 48, e.checksum);
    put_at<std::uint32_t>(out, 52, e.header_id);
    put_at<std::uint32_t>(out, 56, e.frame_count);
    put_at<std::uint32_t>(out, 60, crc32c(0, out, 60));
}

std::error_code decode_index_entry(const std::uint8_t* in, IndexEntry& e) {
    if (get_at<std::uint32_t>(in, 60) != crc32c(0, in, 60)) return Errc::corrupt_record;
    e.number = get_at<std::uint64_t>(in, 0);
    e.producer_ns = get_at<std::int64_t>(in, 8);
    e.server_ns = get_at<std::int64_t>(in, 16);
    e.duration_ns = get_at<std::int64_t>(in, 24);
    e.offset = get_at<std::uint64_t>(in, 32);
    e.record_len = get_at<std::uint32_t>(in, 40);
    e.size = get_at<std::uint32_t>(in, 44);
    e.checksum = get_at<std::uint32_t>(in, 48);
    e.header_id = get_at<std::uint32_t>(in, 52);
    e.frame_count = get_at<std::uint32_t>(in, 56);
    return {};
}

std::vector<std::uint8_t> encode_header_record(HeaderId id, std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> out;
    out.reserve(kRecordHeaderSize + payload.size());
    put<std::uint32_t>(out, kHeaderMagic);
    put<std::uint32_t>(out, id);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(payload.size()));
    put<std::uint32_t>(out, crc32c(crc32c(0, out.data(), 12), payload.data(), payload.size()));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

std::error_code decode_header_record(std::span<const std::uint8_t> bytes, HeaderId& id,
                                     std::span<const std::uint8_t>& payload, std::size_t& consumed) {
    if (bytes.size() < kRecordHeaderSize) return Errc::corrupt_record;
    if (get_at<std::uint32_t>(bytes.data(), 0) != kHeaderMagic) return Errc::corrupt_record;
    id = get_at<std::uint32_t>(bytes.data(), 4);
    const std::uint32_t len = get_at<std::uint32_t>(bytes.data(), 8);
    if (len > kMaxHeaderBytes || bytes.size() - kRecordHeaderSize < len) return Errc::corrupt_record;
    const std::uint32_t crc = crc32c(crc32c(0, bytes.data(), 12), bytes.data() + kRecordHeaderSize, len);
    if (crc != get_at<std::uint32_t>(bytes.data(), 12) || id == 0) return Errc::corrupt_record;
    payload = bytes.subspan(kRecordHeaderSize, len);
    consumed = kRecordHeaderSize + len;
    return {};
}

}  // namespace kinema::storage
