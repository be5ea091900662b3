// One segment of a stream's log: a data file of fragment records (<first-number>.seg) and its index file of
// fixed-size entries (<first-number>.idx). Appends stage their records in memory (staged_writes.h); the
// owning StreamLog serialises them, and the commit thread writes the staged records, syncs them and appends
// index entries once they are durable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <system_error>
#include <vector>

#include "file.h"
#include "record.h"
#include "staged_writes.h"

namespace kinema::storage {

struct Segment {
    FragmentNumber first_number = 0;  // from the file name: no fragment in it has a smaller number
    File data;                        // reads, recovery, truncation
    File index;
    File writer;  // the commit thread's direct-I/O writes of staged records; opened by the first append
    StagedWrites staged;
    std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();

    // Guarded by the stream's append mutex: the end of the last record appended (before any padding).
    std::uint64_t write_end = 0;
    // Written by the commit thread only.
    std::uint64_t durable_end = 0;
    std::uint64_t index_entries = 0;
    // Set when a sync of this segment failed: it is sealed, cut back to durable_end, and every pending
    // record in it fails. Appends move on to a new segment.
    std::atomic<bool> failed{false};
    // Set on creation; the commit thread syncs the directory so the new file names survive a power cut.
    std::atomic<bool> needs_dir_sync{false};

    static std::filesystem::path data_path(const std::filesystem::path& dir, FragmentNumber first);
    static std::filesystem::path index_path(const std::filesystem::path& dir, FragmentNumber first);
    // Parses "<20 digits>.seg"; false for any other name.
    static bool parse_data_name(const std::string& file_name, FragmentNumber& first);

    // Creates both (empty) files.
    static std::error_code create(const std::filesystem::path& dir, FragmentNumber first,
                                  const WriteFault* fault, Segment& segment);

    // Appends encoded index entries at the end of the index file.
    std::error_code append_index(std::span<const std::uint8_t> encoded, std::size_t count);

    // Reads and verifies one whole record (header and payload CRCs, number); never returns a partial or
    // damaged record.
    std::error_code read_record(const IndexEntry& entry, std::uint32_t max_payload, FragmentMetadata& meta,
                                std::vector<std::uint8_t>& payload) const;
};

}  // namespace kinema::storage
