// Byte layouts of the data directory (docs/storage-format.md): fragment records in segment files, header
// records in headers.log, and fixed-size index entries in .idx files. Pure encoding and decoding with
// bounds checks; no I/O here.
#pragma once

#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "kinema/storage/fragment_store.h"

namespace kinema::storage {

inline constexpr std::uint32_t kFragmentMagic = 0x3152464Bu;  // "KFR1" on disk
inline constexpr std::uint32_t kHeaderMagic = 0x3144484Bu;    // "KHD1" on disk
inline constexpr std::size_t kRecordHeaderSize = 16;
inline constexpr std::size_t kMetaFixedSize = 52;
inline constexpr std::uint32_t kMaxMetaSize = 1u << 20;
inline constexpr std::uint32_t kMaxHeaderBytes = 1u << 20;  // an MKV header is a few hundred bytes
inline constexpr std::size_t kMaxTracks = 255;
inline constexpr std::size_t kIndexEntrySize = 64;

// One fragment as the index knows it: where its record is and what ListFragments needs.
struct IndexEntry {
    FragmentNumber number = 0;
    std::int64_t producer_ns = 0;
    std::int64_t server_ns = 0;
    std::int64_t duration_ns = 0;
    std::uint64_t offset = 0;      // of the record in its segment file
    std::uint32_t record_len = 0;  // header + metadata + payload
    std::uint32_t size = 0;        // payload (fragment bytes)
    std::uint32_t checksum = 0;    // CRC32C of the payload
    HeaderId header_id = 0;
    std::uint32_t frame_count = 0;

    FragmentInfo info() const;
    std::int64_t timestamp(TimestampKind kind) const {
        return kind == TimestampKind::server ? server_ns : producer_ns;
    }
};

// The fixed 16 bytes that start every fragment record.
struct RecordHeader {
    std::uint32_t meta_len = 0;
    std::uint32_t payload_len = 0;
    std::uint32_t crc = 0;  // CRC32C of the first 12 header bytes followed by the metadata
};

// Appends header + metadata (not the payload) of a fragment record to `out`. `payload_crc` is the CRC32C
// of the payload. Returns invalid_argument when the metadata exceeds the format's bounds.
std::error_code encode_record_prefix(FragmentNumber number, const FragmentMetadata& meta,
                                     std::uint32_t payload_len, std::uint32_t payload_crc,
                                     std::vector<std::uint8_t>& out);

// Parses the 16-byte record header; corrupt_record on a bad magic or a length past the bounds.
std::error_code decode_record_header(std::span<const std::uint8_t> bytes, std::uint32_t max_payload,
                                     RecordHeader& header);
// Checks the header CRC over header + metadata and parses the metadata. `bytes` holds the 16 header bytes
// followed by exactly header.meta_len metadata bytes.
std::error_code decode_record_meta(std::span<const std::uint8_t> bytes, const RecordHeader& header,
                                   FragmentNumber& number, std::uint32_t& payload_crc,
                                   FragmentMetadata& meta);

void encode_index_entry(const IndexEntry& entry, std::uint8_t* out);  // kIndexEntrySize bytes
// corrupt_record when the entry's CRC does not match (a torn or never-written entry).
std::error_code decode_index_entry(const std::uint8_t* in, IndexEntry& entry);

// headers.log records: magic, id, length, CRC32C(first 12 bytes ++ payload), payload.
std::vector<std::uint8_t> encode_header_record(HeaderId id, std::span<const std::uint8_t> payload);
// Parses the header record at the start of `bytes`. Sets `consumed` to its total size on success;
// returns corrupt_record for a torn or damaged record (including one cut short by the end of `bytes`).
std::error_code decode_header_record(std::span<const std::uint8_t> bytes, HeaderId& id,
                                     std::span<const std::uint8_t>& payload, std::size_t& consumed);

}  // namespace kinema::storage
