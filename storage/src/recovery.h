// Opening a stream's directory after a clean shutdown or a crash: loads the persisted index files, checks
// them against the data files, indexes (by scanning) only the records past the last valid index entry,
// and cuts a torn tail. The common case reads index files and no fragment data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>
#include <vector>

#include "file.h"
#include "segment_file.h"
#include "time_index.h"

namespace kinema::storage {

struct RecoveryReport {
    std::size_t entries_loaded = 0;   // from index files
    std::size_t records_scanned = 0;  // read from data files because the index did not cover them
    std::uint64_t bytes_cut = 0;      // torn or damaged tail bytes truncated from data files
    std::size_t index_entries_dropped = 0;
};

struct RecoveredStream {
    std::vector<std::shared_ptr<Segment>> segments;  // by first number
    TimeIndex index;
    std::map<HeaderId, std::shared_ptr<const std::vector<std::uint8_t>>> headers;
    File headers_file;
    std::uint64_t headers_end = 0;
    RecoveryReport report;
};

inline constexpr const char* kHeadersFileName = "headers.log";

struct RecoveryOptions {
    std::uint32_t max_payload = 64u << 20;  // bound of a record's payload length
    const WriteFault* fault = nullptr;      // write hook of the files it opens
    // Index files at least this big are read in place through a mapping, smaller ones are copied.
    std::uint64_t map_index_min_bytes = 1u << 20;
};

std::error_code recover_stream(const std::filesystem::path& dir, const RecoveryOptions& options,
                               RecoveredStream& out);

}  // namespace kinema::storage
