#include "record.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "crc32c.h"
#include "kinema/storage/error.h"

namespace kinema::storage {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValues) {
    const std::string check = "123456789";
    EXPECT_EQ(crc32c(0, check.data(), check.size()), 0xE3069283u);
    EXPECT_EQ(crc32c(0, nullptr, 0), 0u);
    // 32 zero bytes: the iSCSI test vector of RFC 3720.
    const std::vector<std::uint8_t> zeros(32, 0);
    EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
}

TEST(Crc32c, PortableVersionMatchesAtEveryLengthAndAlignment) {
    std::vector<std::uint8_t> data(300);
    std::uint32_t x = 12345;
    for (auto& b : data)
        b = static_cast<std::uint8_t>((x = x * 1103515245u + 12345u) >> 24);
    EXPECT_EQ(crc32c_portable(0, "123456789", 9), 0xE3069283u);
    for (std::size_t offset = 0; offset < 9; ++offset) {
        for (std::size_t length = 0; length + offset <= data.size(); length += 7) {
            EXPECT_EQ(crc32c_portable(0, data.data() + offset, length),
                      crc32c(0, data.data() + offset, length))
                << offset << "+" << length;
        }
    }
    EXPECT_EQ(crc32c_portable(crc32c_portable(0, data.data(), 100), data.data() + 100, 200), crc32c(data));
}

TEST(Crc32c, HardwareLanesMatchThePortableVersionOnLargeBuffers) {
    // Past 3 x 256 and 3 x 8192 bytes the hardware path checksums three lanes at once and joins them.
    std::vector<std::uint8_t> data(3 * 8192 * 2 + 3 * 256 + 40);
    std::uint32_t x = 777;
    for (auto& b : data)
        b = static_cast<std::uint8_t>((x = x * 1103515245u + 12345u) >> 24);
    for (std::size_t length : {767, 768, 769, 1000, 24575, 24576, 24577, 24576 + 768 + 5, 49152,
                               static_cast<int>(data.size()) - 3}) {
        for (std::size_t offset : {0, 1, 3}) {
            EXPECT_EQ(crc32c(0, data.data() + offset, length),
                      crc32c_portable(0, data.data() + offset, length))
                << offset << "+" << length;
        }
    }
    EXPECT_EQ(crc32c(crc32c(0, data.data(), 30000), data.data() + 30000, data.size() - 30000), crc32c(data));
}

TEST(Crc32c, ContinuesAcrossSplits) {
    std::vector<std::uint8_t> data(1000);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 7);
    const auto whole = crc32c(data);
    for (std::size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
        EXPECT_EQ(crc32c(crc32c(0, data.data(), split), data.data() + split, data.size() - split), whole)
            << split;
    }
}

FragmentMetadata sample_meta() {
    FragmentMetadata meta;
    meta.producer_timestamp = media::Timestamp::from_milliseconds(1'700'000'000'123);
    meta.server_timestamp = media::Timestamp::from_milliseconds(1'700'000'000'456);
    meta.duration = std::chrono::milliseconds(2000);
    meta.frame_count = 60;
    meta.track_numbers = {1, 2};
    meta.key_frame_offsets = {0, 4096};
    meta.header_id = 3;
    return meta;
}

TEST(Record, PrefixRoundTrips) {
    std::vector<std::uint8_t> prefix;
    ASSERT_FALSE(encode_record_prefix(42, sample_meta(), 1234, 0xDEADBEEF, prefix));
    RecordHeader header;
    ASSERT_FALSE(decode_record_header(prefix, 1 << 20, header));
    EXPECT_EQ(header.payload_len, 1234u);
    EXPECT_EQ(prefix.size(), kRecordHeaderSize + header.meta_len);
    FragmentNumber number = 0;
    std::uint32_t payload_crc = 0;
    FragmentMetadata meta;
    ASSERT_FALSE(decode_record_meta(prefix, header, number, payload_crc, meta));
    EXPECT_EQ(number, 42u);
    EXPECT_EQ(payload_crc, 0xDEADBEEFu);
    const auto want = sample_meta();
    EXPECT_EQ(meta.producer_timestamp, want.producer_timestamp);
    EXPECT_EQ(meta.server_timestamp, want.server_timestamp);
    EXPECT_EQ(meta.duration, want.duration);
    EXPECT_EQ(meta.frame_count, want.frame_count);
    EXPECT_EQ(meta.track_numbers, want.track_numbers);
    EXPECT_EQ(meta.key_frame_offsets, want.key_frame_offsets);
    EXPECT_EQ(meta.header_id, want.header_id);
}

TEST(Record, EveryFlippedByteOfThePrefixIsDetected) {
    std::vector<std::uint8_t> prefix;
    ASSERT_FALSE(encode_record_prefix(42, sample_meta(), 1234, 0xDEADBEEF, prefix));
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        auto damaged = prefix;
        damaged[i] ^= 0x5A;
        RecordHeader header;
        FragmentNumber number = 0;
        std::uint32_t payload_crc = 0;
        FragmentMetadata meta;
        std::error_code ec = decode_record_header(damaged, 1 << 20, header);
        if (!ec) {
            if (damaged.size() != kRecordHeaderSize + header.meta_len) {
                ec = Errc::corrupt_record;
            } else {
                ec = decode_record_meta(damaged, header, number, payload_crc, meta);
            }
        }
        EXPECT_EQ(ec, make_error_code(Errc::corrupt_record)) << "byte " << i;
    }
}

TEST(Record, BoundsAreEnforced) {
    struct Case {
        const char* what;
        std::uint32_t meta_len;
        std::uint32_t payload_len;
    };
    const Case cases[] = {
        {"metadata shorter than its fixed part", kMetaFixedSize - 1, 10},
        {"metadata over the limit", kMaxMetaSize + 1, 10},
        {"payload over the limit", kMetaFixedSize, 1001},
        {"payload of 4 GiB", kMetaFixedSize, 0xFFFFFFFFu},
    };
    for (const auto& c : cases) {
        std::uint8_t head[kRecordHeaderSize] = {};
        std::memcpy(head, &kFragmentMagic, 4);
        std::memcpy(head + 4, &c.meta_len, 4);
        std::memcpy(head + 8, &c.payload_len, 4);
        RecordHeader header;
        EXPECT_EQ(decode_record_header(head, 1000, header), make_error_code(Errc::corrupt_record)) << c.what;
    }
    std::uint8_t short_head[kRecordHeaderSize - 1] = {};
    RecordHeader header;
    EXPECT_EQ(decode_record_header(short_head, 1000, header), make_error_code(Errc::corrupt_record));
}

TEST(Record, TooManyTracksIsRejectedAtEncode) {
    auto meta = sample_meta();
    meta.track_numbers.assign(kMaxTracks + 1, 1);
    std::vector<std::uint8_t> prefix;
    EXPECT_EQ(encode_record_prefix(1, meta, 10, 0, prefix), make_error_code(Errc::invalid_argument));
}

TEST(IndexEntry, RoundTripsAndDetectsDamage) {
    IndexEntry e;
    e.number = 1'700'000'000'000'000;
    e.producer_ns = -5;
    e.server_ns = 123456789;
    e.duration_ns = 2'000'000'000;
    e.offset = 1ull << 33;
    e.record_len = 300;
    e.size = 200;
    e.checksum = 0xCAFEBABE;
    e.header_id = 7;
    e.frame_count = 30;
    std::uint8_t raw[kIndexEntrySize];
    encode_index_entry(e, raw);
    IndexEntry back;
    ASSERT_FALSE(decode_index_entry(raw, back));
    EXPECT_EQ(back.number, e.number);
    EXPECT_EQ(back.producer_ns, e.producer_ns);
    EXPECT_EQ(back.offset, e.offset);
    EXPECT_EQ(back.checksum, e.checksum);
    for (std::size_t i = 0; i < kIndexEntrySize; ++i) {
        auto copy = std::vector<std::uint8_t>(raw, raw + kIndexEntrySize);
        copy[i] ^= 1;
        EXPECT_EQ(decode_index_entry(copy.data(), back), make_error_code(Errc::corrupt_record)) << i;
    }
    const std::vector<std::uint8_t> zeros(kIndexEntrySize, 0);
    // A never-written (zero-filled) entry must not pass: its CRC field would have to be crc32c(zeros).
    EXPECT_EQ(decode_index_entry(zeros.data(), back), make_error_code(Errc::corrupt_record));
}

TEST(HeaderRecord, RoundTripsAndRejectsEveryTruncation) {
    const std::vector<std::uint8_t> payload = {0x1A, 0x45, 0xDF, 0xA3, 1, 2, 3, 4, 5};
    const auto record = encode_header_record(9, payload);
    HeaderId id = 0;
    std::span<const std::uint8_t> got;
    std::size_t consumed = 0;
    ASSERT_FALSE(decode_header_record(record, id, got, consumed));
    EXPECT_EQ(id, 9u);
    EXPECT_EQ(consumed, record.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), payload.begin(), payload.end()));
    for (std::size_t cut = 0; cut < record.size(); ++cut) {
        EXPECT_EQ(decode_header_record(std::span(record).first(cut), id, got, consumed),
                  make_error_code(Errc::corrupt_record))
            << cut;
    }
}

}  // namespace
}  // namespace kinema::storage
