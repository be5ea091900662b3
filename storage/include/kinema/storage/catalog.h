// The stream catalog: every stream's name, ARN, media type, retention, device name, tags, version and status,
// kept in SQLite (<data-dir>/catalog.db, WAL). Validation and error names follow KVS's control plane so the
// server maps a CatalogError straight onto a KVS error response.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "kinema/storage/error.h"

namespace kinema::storage {

enum class StreamStatus { creating, active, updating, deleting };

// KVS's spelling: "CREATING", "ACTIVE", "UPDATING", "DELETING".
const char* to_string(StreamStatus status) noexcept;

using Tags = std::map<std::string, std::string>;

// Limits as KVS documents them.
inline constexpr std::size_t max_stream_name_length = 256;
inline constexpr std::size_t max_device_name_length = 128;
inline constexpr std::size_t max_media_type_length = 128;
inline constexpr std::size_t max_kms_key_id_length = 2048;
inline constexpr std::size_t max_tag_key_length = 128;
inline constexpr std::size_t max_tag_value_length = 256;
inline constexpr std::size_t max_tags_per_stream = 50;
inline constexpr std::int64_t max_retention_hours = 87600;
inline constexpr int max_list_streams_results = 10000;
inline constexpr int max_list_tags_results = 50;

struct StreamInfo {
    // Stable, never reused, for naming on-disk data: unlike the name it can never be "." or "..".
    std::int64_t id = 0;
    std::string name;
    std::string arn;
    std::string device_name;  // empty when not set
    std::string media_type;   // empty when not set
    std::string kms_key_id;   // empty when not set
    std::int64_t data_retention_hours = 0;
    std::int64_t creation_time_ms = 0;  // epoch milliseconds; also the last part of the ARN
    std::string version;                // opaque, changes on every update
    StreamStatus status = StreamStatus::active;
};

// A stream named by StreamName or StreamARN (KVS accepts either; when both are given they must agree).
struct StreamRef {
    std::string name;
    std::string arn;
};

struct NewStream {
    std::string name;
    std::string device_name;
    std::string media_type;
    std::string kms_key_id;
    std::int64_t data_retention_hours = 0;
    Tags tags;
};

struct StreamUpdate {
    StreamRef stream;
    std::string current_version;
    std::optional<std::string> device_name;
    std::optional<std::string> media_type;
};

enum class RetentionChange { increase, decrease };

struct StreamPage {
    std::vector<StreamInfo> streams;
    std::string next_token;  // empty on the last page
};

struct TagPage {
    Tags tags;
    std::string next_token;  // empty on the last page
};

// An error with the sentence a client sees ("stream cam1 not found").
struct CatalogError {
    std::error_code code;
    std::string message;

    explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

struct CatalogOptions {
    std::string region = "us-west-2";
    std::string account = "000000000000";
};

// Called by delete_stream while the stream is marked DELETING, to remove its fragment data. The row is
// removed only when it succeeds; on failure the stream stays DELETING and streams_being_deleted() lists it.
using DeleteStreamData = std::function<std::error_code(const StreamInfo&)>;

// Thread-safe: every call may come from any thread (calls are serialised on one SQLite connection; they are
// short, and the server runs them on its blocking-work pool).
class Catalog {
public:
    // Opens or creates <data_dir>/catalog.db (creating data_dir when missing).
    static std::unique_ptr<Catalog> open(const std::filesystem::path& data_dir, CatalogOptions options,
                                         CatalogError& error);
    ~Catalog();
    Catalog(const Catalog&) = delete;
    Catalog& operator=(const Catalog&) = delete;

    CatalogError create_stream(const NewStream& stream, StreamInfo* created = nullptr);
    CatalogError describe_stream(const StreamRef& stream, StreamInfo& info);
    // Streams in name order whose names begin with name_prefix (all when empty). max_results 1..10000.
    CatalogError list_streams(const std::string& name_prefix, int max_results, const std::string& next_token,
                              StreamPage& page);
    CatalogError update_stream(const StreamUpdate& update);
    CatalogError update_data_retention(const StreamRef& stream, const std::string& current_version,
                                       RetentionChange change, std::int64_t change_in_hours);
    // Adds or overwrites tags; the result may hold at most 50.
    CatalogError tag_stream(const StreamRef& stream, const Tags& tags);
    CatalogError untag_stream(const StreamRef& stream, const std::vector<std::string>& keys);
    CatalogError list_tags(const StreamRef& stream, const std::string& next_token, TagPage& page);
    // current_version is optional (empty = any). Marks the stream DELETING, runs delete_data (when set), then
    // removes the row and its tags.
    CatalogError delete_stream(const StreamRef& stream, const std::string& current_version,
                               const DeleteStreamData& delete_data);
    // Streams left DELETING by a failed delete or a crash, so start-up can finish deleting them.
    CatalogError streams_being_deleted(std::vector<StreamInfo>& streams);

    const CatalogOptions& options() const noexcept;

    // Name rules shared with the server: 1-256 characters of [a-zA-Z0-9_.-].
    static bool is_valid_stream_name(std::string_view name) noexcept;

private:
    class Impl;
    explicit Catalog(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::storage
