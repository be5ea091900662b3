#include "recovery.h"

#include <algorithm>
#include <memory>

#include "crc32c.h"
#include "kinema/storage/error.h"
#include "staged_writes.h"

namespace kinema::storage {
namespace {

// headers.log holds one small record per producer session; anything beyond this is not ours.
constexpr std::uint64_t kMaxHeadersFile = 256ull << 20;

std::error_code load_headers(const std::filesystem::path& dir, const WriteFault* fault,
                             RecoveredStream& out) {
    if (auto ec = File::open(dir / kHeadersFileName, true, fault, out.headers_file)) return ec;
    std::uint64_t size = 0;
    if (auto ec = out.headers_file.size(size)) return ec;
    if (size > kMaxHeadersFile) return Errc::corrupt_record;
    std::vector<std::uint8_t> bytes(size);
    if (auto ec = out.headers_file.read_at(0, bytes)) return ec;
    std::size_t at = 0;
    HeaderId last = 0;
    while (at < bytes.size()) {
        HeaderId id = 0;
        std::span<const std::uint8_t> payload;
        std::size_t consumed = 0;
        if (decode_header_record(std::span(bytes).subspan(at), id, payload, consumed) || id <= last) break;
        out.headers[id] = std::make_shared<const std::vector<std::uint8_t>>(payload.begin(), payload.end());
        last = id;
        at += consumed;
    }
    out.headers_end = at;
    if (at < bytes.size()) {
        // A torn header record: nothing committed can name it (its fragment's sync would have covered it).
        if (auto ec = out.headers_file.truncate(at)) return ec;
        if (auto ec = out.headers_file.sync_data()) return ec;
    }
    return {};
}

// Counts the valid prefix of a segment's index file: entries with good CRCs that chain record to record
// from offset 0, with increasing numbers, inside the data file.
std::size_t validate_index(const std::uint8_t* bytes, std::size_t total, const Segment& segment,
                           std::uint64_t data_size, FragmentNumber& last, std::uint64_t& indexed_end) {
    indexed_end = 0;
    for (std::size_t i = 0; i < total; ++i) {
        IndexEntry e;
        if (decode_index_entry(bytes + i * kIndexEntrySize, e)) return i;
        const std::uint64_t end = e.offset + e.record_len;
        // A record follows the one before it, or the zero padding after a commit round (staged_writes.h).
        if ((e.offset != indexed_end && e.offset != align_up(indexed_end)) || e.number <= last ||
            e.number < segment.first_number || end > data_size ||
            e.record_len < kRecordHeaderSize + kMetaFixedSize) {
            return i;
        }
        last = e.number;
        indexed_end = end;
    }
    return total;
}

// Sequential reads through a window, so a scan of many small records costs few system calls.
class ScanReader {
public:
    ScanReader(const File& file, std::uint64_t size) : file_(file), size_(size) {}
    // Bytes [offset, offset + len) of the file, or nullptr if they cannot be read.
    const std::uint8_t* get(std::uint64_t offset, std::size_t len) {
        if (offset < start_ || offset + len > start_ + buffer_.size()) {
            const std::uint64_t want = std::max<std::uint64_t>(len, kWindow);
            const std::uint64_t n = std::min<std::uint64_t>(want, size_ - offset);
            if (n < len) return nullptr;
            buffer_.resize(n);
            if (file_.read_at(offset, buffer_)) {
                buffer_.clear();
                return nullptr;
            }
            start_ = offset;
        }
        return buffer_.data() + (offset - start_);
    }

private:
    static constexpr std::uint64_t kWindow = 1u << 20;
    const File& file_;
    std::uint64_t size_;
    std::uint64_t start_ = 0;
    std::vector<std::uint8_t> buffer_;
};

// The zeros a commit round leaves after its last record, up to the alignment (staged_writes.h): returns
// where they end (the next record, or the end of the file) when they are all zero, else `offset`.
std::uint64_t skip_padding(ScanReader& reader, std::uint64_t offset, std::uint64_t data_size) {
    const std::uint64_t next = std::min(align_up(offset), data_size);
    if (next == offset) return offset;
    const std::uint8_t* pad = reader.get(offset, static_cast<std::size_t>(next - offset));
    if (!pad || std::any_of(pad, pad + (next - offset), [](std::uint8_t b) { return b != 0; })) return offset;
    return next;
}

// Reads the records from `offset` to the end of the data file, appending an entry for each valid one;
// returns the offset after the last valid record (and the padding after it).
std::uint64_t scan_records(const Segment& segment, std::uint64_t offset, std::uint64_t data_size,
                           std::uint32_t max_payload, FragmentNumber after,
                           std::vector<IndexEntry>& entries) {
    FragmentNumber last = after;
    ScanReader reader(segment.data, data_size);
    for (;;) {
        offset = skip_padding(reader, offset, data_size);
        if (data_size - offset < kRecordHeaderSize) break;
        const std::uint8_t* head = reader.get(offset, kRecordHeaderSize);
        RecordHeader header;
        if (!head || decode_record_header(std::span(head, kRecordHeaderSize), max_payload, header)) break;
        const std::uint64_t record_len =
            kRecordHeaderSize + std::uint64_t{header.meta_len} + header.payload_len;
        if (record_len > data_size - offset) break;
        const std::uint8_t* record = reader.get(offset, static_cast<std::size_t>(record_len));
        if (!record) break;
        FragmentMetadata meta;
        FragmentNumber number = 0;
        std::uint32_t payload_crc = 0;
        const std::span<const std::uint8_t> prefix(record, kRecordHeaderSize + header.meta_len);
        if (decode_record_meta(prefix, header, number, payload_crc, meta)) break;
        const std::span<const std::uint8_t> body(record + prefix.size(), header.payload_len);
        if (number <= last || number < segment.first_number || crc32c(body) != payload_crc) break;
        IndexEntry e;
        e.number = number;
        e.producer_ns = meta.producer_timestamp.nanoseconds();
        e.server_ns = meta.server_timestamp.nanoseconds();
        e.duration_ns = meta.duration.count();
        e.offset = offset;
        e.record_len = static_cast<std::uint32_t>(record_len);
        e.size = header.payload_len;
        e.checksum = payload_crc;
        e.header_id = meta.header_id;
        e.frame_count = meta.frame_count;
        entries.push_back(e);
        last = number;
        offset += record_len;
    }
    return offset;
}

std::error_code recover_segment(const std::filesystem::path& dir, Segment& segment,
                                const RecoveryOptions& options, FragmentNumber& last, TimeIndex& index,
                                RecoveryReport& report) {
    const std::uint32_t max_payload = options.max_payload;
    const WriteFault* fault = options.fault;
    if (auto ec = File::open(Segment::data_path(dir, segment.first_number), false, fault, segment.data))
        return ec;
    if (auto ec = File::open(Segment::index_path(dir, segment.first_number), true, fault, segment.index))
        return ec;
    std::uint64_t data_size = 0;
    std::uint64_t idx_size = 0;
    if (auto ec = segment.data.size(data_size)) return ec;
    if (auto ec = segment.index.size(idx_size)) return ec;

    std::uint64_t end = 0;
    std::size_t loaded = 0;
    const std::size_t on_disk = static_cast<std::size_t>(idx_size / kIndexEntrySize);
    if (on_disk > 0 && on_disk * kIndexEntrySize >= options.map_index_min_bytes) {
        std::shared_ptr<const MappedFile> map;
        if (auto ec = MappedFile::map(segment.index, on_disk * kIndexEntrySize, map)) return ec;
        loaded = validate_index(map->data(), on_disk, segment, data_size, last, end);
        // The index keeps reading the entries through the mapping (only the validated prefix).
        index.append_encoded(map, map->data(), loaded);
    } else if (on_disk > 0) {
        // Small index files are copied: one mapping per segment could exhaust vm.max_map_count.
        std::vector<std::uint8_t> bytes(on_disk * kIndexEntrySize);
        if (auto ec = segment.index.read_at(0, bytes)) return ec;
        loaded = validate_index(bytes.data(), on_disk, segment, data_size, last, end);
        for (std::size_t i = 0; i < loaded; ++i) {
            IndexEntry e;
            (void)decode_index_entry(bytes.data() + i * kIndexEntrySize, e);  // validated just above
            index.push_back(e);
        }
    }
    report.entries_loaded += loaded;
    bool changed = false;
    if (loaded * kIndexEntrySize != idx_size) {
        report.index_entries_dropped += on_disk - loaded;
        if (auto ec = segment.index.truncate(loaded * kIndexEntrySize)) return ec;
        changed = true;
    }
    segment.index_entries = loaded;
    if (end < data_size) {
        // Records past the index: appended but not yet indexed when the process died, or a torn tail.
        std::vector<IndexEntry> scanned;
        const std::uint64_t valid_end = scan_records(segment, end, data_size, max_payload, last, scanned);
        report.records_scanned += scanned.size();
        if (!scanned.empty()) {
            std::vector<std::uint8_t> encoded(scanned.size() * kIndexEntrySize);
            for (std::size_t i = 0; i < scanned.size(); ++i) {
                encode_index_entry(scanned[i], encoded.data() + i * kIndexEntrySize);
                index.push_back(scanned[i]);
            }
            last = scanned.back().number;
            if (auto ec = segment.append_index(encoded, scanned.size())) return ec;
        }
        if (valid_end < data_size) {
            report.bytes_cut += data_size - valid_end;
            if (auto ec = segment.data.truncate(valid_end)) return ec;
        }
        changed = changed || !scanned.empty() || valid_end < data_size;
        data_size = valid_end;
    }
    if (changed) {
        // What recovery keeps must be durable before it is served: it may come from the page cache only.
        if (auto ec = segment.data.sync_data()) return ec;
        if (auto ec = segment.index.sync_data()) return ec;
    }
    segment.write_end = data_size;
    segment.durable_end = data_size;
    std::lock_guard staged_lock(segment.staged.mutex);
    segment.staged.start_at(data_size);
    return {};
}

}  // namespace

std::error_code recover_stream(const std::filesystem::path& dir, const RecoveryOptions& options,
                               RecoveredStream& out) {
    std::vector<FragmentNumber> firsts;
    std::error_code ec;
    for (const auto& item : std::filesystem::directory_iterator(dir, ec)) {
        FragmentNumber first = 0;
        if (Segment::parse_data_name(item.path().filename().string(), first)) firsts.push_back(first);
    }
    if (ec) return Errc::io_error;
    std::sort(firsts.begin(), firsts.end());
    if (auto load_ec = load_headers(dir, options.fault, out)) return load_ec;

    FragmentNumber last = 0;
    for (FragmentNumber first : firsts) {
        auto segment = std::make_shared<Segment>();
        segment->first_number = first;
        if (auto seg_ec = recover_segment(dir, *segment, options, last, out.index, out.report)) {
            return seg_ec;
        }
        out.segments.push_back(std::move(segment));
    }
    return {};
}

}  // namespace kinema::storage
