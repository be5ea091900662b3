// Errors of the storage engine. The names of the first group are KVS's exception names without the
// "Exception" suffix, so the server maps them one to one.
#pragma once

#include <system_error>

namespace kinema::storage {

enum class Errc {
    ok = 0,
    // KVS API errors
    resource_not_found = 1,      // ResourceNotFoundException: no such stream (or fragment)
    resource_in_use,             // ResourceInUseException: the stream exists, or is being deleted
    invalid_argument,            // InvalidArgumentException
    version_mismatch,            // VersionMismatchException: CurrentVersion is stale
    tags_per_resource_exceeded,  // TagsPerResourceExceededLimitException: more than 50 tags
    client_limit_exceeded,       // ClientLimitExceededException
    // Storage faults
    fragment_not_found,  // no fragment with that number or in that range (deleted by retention, or never)
    disk_full,           // ENOSPC / EDQUOT: the append failed, nothing committed was touched
    io_error,            // EIO and other system errors; the append failed
    corrupt_record,      // a record failed its checksum or bounds (never served)
    closed,              // the store is shutting down
    commit_backlog,      // too many appended bytes wait for their sync (disk too slow): retry later
};

const std::error_category& storage_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), storage_category()};
}

// KVS's exception name for an error of this category ("ResourceNotFoundException"), or
// "InternalFailure" for storage faults.
const char* kvs_error_name(std::error_code ec) noexcept;

}  // namespace kinema::storage

template <>
struct std::is_error_code_enum<kinema::storage::Errc> : std::true_type {};
