#include "kinema/storage/catalog.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include "sqlite_db.h"

namespace kinema::storage {
namespace {

// Each statement is a named constant: SqliteDb caches prepared statements by the text's address.
constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    arn TEXT NOT NULL UNIQUE,
    device_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    kms_key_id TEXT NOT NULL,
    retention_hours INTEGER NOT NULL,
    creation_ms INTEGER NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (stream_id, key)
);
)sql";

#define KINEMA_STREAM_COLUMNS \
    "id, name, arn, device_name, media_type, kms_key_id, retention_hours, creation_ms, version, status"
constexpr const char* select_by_name_sql = "SELECT " KINEMA_STREAM_COLUMNS " FROM streams WHERE name = ?1";
constexpr const char* select_by_arn_sql = "SELECT " KINEMA_STREAM_COLUMNS " FROM streams WHERE arn = ?1";
// Valid names use only characters below 0x7F, so [prefix, prefix + "\x7F") holds exactly the names that begin
// with prefix, and the UNIQUE index on name answers it without a scan.
constexpr const char* list_sql = "SELECT " KINEMA_STREAM_COLUMNS
                                 " FROM streams WHERE name >= ?1 AND name < ?2 AND name > ?3"
                                 " ORDER BY name LIMIT ?4";
constexpr const char* deleting_sql =
    "SELECT " KINEMA_STREAM_COLUMNS " FROM streams WHERE status = 'DELETING'";
#undef KINEMA_STREAM_COLUMNS
constexpr const char* insert_stream_sql =
    "INSERT INTO streams (name, arn, device_name, media_type, kms_key_id, retention_hours, creation_ms, "
    "version,"
    " status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'ACTIVE')";
constexpr const char* update_stream_sql =
    "UPDATE streams SET device_name = ?2, media_type = ?3, version = ?4 WHERE id = ?1";
constexpr const char* update_retention_sql =
    "UPDATE streams SET retention_hours = ?2, version = ?3 WHERE id = ?1";
constexpr const char* set_status_sql = "UPDATE streams SET status = ?2 WHERE id = ?1";
constexpr const char* delete_stream_sql = "DELETE FROM streams WHERE id = ?1";
constexpr const char* delete_tags_sql = "DELETE FROM tags WHERE stream_id = ?1";
constexpr const char* upsert_tag_sql =
    "INSERT INTO tags (stream_id, key, value) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (stream_id, key) DO UPDATE SET value = excluded.value";
constexpr const char* delete_tag_sql = "DELETE FROM tags WHERE stream_id = ?1 AND key = ?2";
constexpr const char* count_tags_sql = "SELECT COUNT(*) FROM tags WHERE stream_id = ?1";
constexpr const char* list_tags_sql =
    "SELECT key, value FROM tags WHERE stream_id = ?1 AND key > ?2 ORDER BY key LIMIT ?3";

CatalogError fail(Errc code, std::string message) {
    return {make_error_code(code), std::move(message)};
}

bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

bool is_name(std::string_view s, std::size_t max_length) noexcept {
    return !s.empty() && s.size() <= max_length && std::all_of(s.begin(), s.end(), is_name_char);
}

// KVS's MediaType pattern: [\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*
bool is_media_type(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_media_type_length) return false;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = std::min(s.find(',', start), s.size());
        const std::string_view item = s.substr(start, end - start);
        const std::size_t slash = item.find('/');
        if (slash == std::string_view::npos || slash == 0 || slash + 1 == item.size()) return false;
        for (std::size_t i = 0; i < item.size(); ++i) {
            const char c = item[i];
            if (i != slash && !is_name_char(c) && c != '+') return false;
        }
        if (end == s.size()) return true;
        start = end + 1;
    }
}

// Characters, not bytes: KVS counts tag lengths in Unicode characters.
std::size_t utf8_length(std::string_view s) noexcept {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool has_control_chars(std::string_view s) noexcept {
    return std::any_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F;
    });
}

CatalogError validate_tag(const std::string& key, const std::string& value) {
    const std::size_t key_length = utf8_length(key);
    if (key_length < 1 || key_length > max_tag_key_length || has_control_chars(key))
        return fail(Errc::invalid_argument, "tag key must be 1-128 printable characters");
    if (utf8_length(value) > max_tag_value_length || has_control_chars(value))
        return fail(Errc::invalid_argument,
                    "tag value for key " + key + " must be 0-256 printable characters");
    return {};
}

// Page tokens are the hex of the last key returned: opaque to clients, and checkable.
std::string encode_token(std::string_view last) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string token;
    token.reserve(last.size() * 2);
    for (const char c : last) {
        const auto u = static_cast<unsigned char>(c);
        token.push_back(digits[u >> 4]);
        token.push_back(digits[u & 0xF]);
    }
    return token;
}

bool decode_token(std::string_view token, std::string& last) {
    if (token.size() % 2 != 0 || token.size() > 1024) return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    last.clear();
    for (std::size_t i = 0; i < token.size(); i += 2) {
        const int hi = nibble(token[i]);
        const int lo = nibble(token[i + 1]);
        if (hi < 0 || lo < 0) return false;
        last.push_back(static_cast<char>(hi << 4 | lo));
    }
    return !last.empty();
}

StreamStatus parse_status(std::string_view s) noexcept {
    if (s == "CREATING") return StreamStatus::creating;
    if (s == "UPDATING") return StreamStatus::updating;
    if (s == "DELETING") return StreamStatus::deleting;
    return StreamStatus::active;
}

StreamInfo read_stream(const SqliteQuery& q) {
    StreamInfo info;
    info.id = q.integer(0);
    info.name = q.text(1);
    info.arn = q.text(2);
    info.device_name = q.text(3);
    info.media_type = q.text(4);
    info.kms_key_id = q.text(5);
    info.data_retention_hours = q.integer(6);
    info.creation_time_ms = q.integer(7);
    info.version = q.text(8);
    info.status = parse_status(q.text(9));
    return info;
}

}  // namespace

const char* to_string(StreamStatus status) noexcept {
    switch (status) {
        case StreamStatus::creating:
            return "CREATING";
        case StreamStatus::active:
            return "ACTIVE";
        case StreamStatus::updating:
            return "UPDATING";
        case StreamStatus::deleting:
            return "DELETING";
    }
    return "ACTIVE";
}

bool Catalog::is_valid_stream_name(std::string_view name) noexcept {
    return is_name(name, max_stream_name_length);
}

class Catalog::Impl {
public:
    Impl(std::unique_ptr<SqliteDb> db, CatalogOptions options)
        : db_(std::move(db)), options_(std::move(options)), random_(std::random_device{}()) {}

    std::mutex mutex_;
    std::unique_ptr<SqliteDb> db_;
    CatalogOptions options_;
    std::mt19937_64 random_;
    std::int64_t last_creation_ms_ = 0;
    std::set<std::int64_t> deletes_in_progress_;

    CatalogError db_error(const std::string& what) const {
        const int code = db_->last_error_code();
        const Errc errc = (code == SQLITE_FULL) ? Errc::disk_full : Errc::io_error;
        return fail(errc, "catalog: " + what + ": " + db_->last_error());
    }

    // Every query goes through here so a statement that fails to compile is reported, not dereferenced.
    CatalogError prepare(const char* sql, sqlite3_stmt*& stmt) {
        stmt = db_->statement(sql);
        if (stmt == nullptr) return db_error("prepare");
        return {};
    }

    std::string new_version() {
        static constexpr char digits[] = "0123456789abcdef";
        std::string v(16, '0');
        std::uint64_t r = random_();
        for (char& c : v) {
            c = digits[r & 0xF];
            r >>= 4;
        }
        return v;
    }

    std::int64_t next_creation_ms() {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        // Strictly increasing so a stream re-created within the same millisecond still gets a new ARN.
        last_creation_ms_ = std::max<std::int64_t>(now, last_creation_ms_ + 1);
        return last_creation_ms_;
    }

    CatalogError find(const StreamRef& ref, StreamInfo& info) {
        if (ref.name.empty() && ref.arn.empty())
            return fail(Errc::invalid_argument, "either StreamName or StreamARN must be specified");
        if (!ref.name.empty() && !Catalog::is_valid_stream_name(ref.name))
            return fail(Errc::invalid_argument, "invalid StreamName: 1-256 characters of [a-zA-Z0-9_.-]");
        if (!ref.arn.empty() && (ref.arn.size() > 1024 || ref.arn.rfind("arn:", 0) != 0))
            return fail(Errc::invalid_argument, "invalid StreamARN");
        sqlite3_stmt* stmt = nullptr;
        if (auto e = prepare(ref.arn.empty() ? select_by_name_sql : select_by_arn_sql, stmt)) return e;
        SqliteQuery q(stmt);
        q.bind(1, ref.arn.empty() ? ref.name : ref.arn);
        const int rc = q.step();
        if (rc == SQLITE_DONE) {
            return fail(Errc::resource_not_found, ref.arn.empty() ? "stream " + ref.name + " not found"
                                                                  : "stream " + ref.arn + " not found");
        }
        if (rc != SQLITE_ROW) return db_error("find stream");
        info = read_stream(q);
        if (!ref.name.empty() && !ref.arn.empty() && info.name != ref.name)
            return fail(Errc::invalid_argument, "StreamName and StreamARN name different streams");
        return {};
    }

    // find() plus the checks every update shares: the stream is ACTIVE and CurrentVersion matches.
    CatalogError find_for_update(const StreamRef& ref, const std::string& current_version, StreamInfo& info) {
        if (auto e = find(ref, info)) return e;
        if (info.status != StreamStatus::active)
            return fail(Errc::resource_in_use, "stream " + info.name + " is " + to_string(info.status));
        if (current_version != info.version)
            return fail(Errc::version_mismatch, "stream " + info.name + " is at version " + info.version +
                                                    ", not " + current_version);
        return {};
    }

    CatalogError step_done(const char* sql, const std::function<void(SqliteQuery&)>& bind, const char* what) {
        sqlite3_stmt* stmt = nullptr;
        if (auto e = prepare(sql, stmt)) return e;
        SqliteQuery q(stmt);
        bind(q);
        if (q.step() != SQLITE_DONE) return db_error(what);
        return {};
    }

    CatalogError count_tags(std::int64_t stream_id, std::int64_t& count) {
        sqlite3_stmt* stmt = nullptr;
        if (auto e = prepare(count_tags_sql, stmt)) return e;
        SqliteQuery q(stmt);
        q.bind(1, stream_id);
        if (q.step() != SQLITE_ROW) return db_error("count tags");
        count = q.integer(0);
        return {};
    }

    CatalogError upsert_tags(std::int64_t stream_id, const Tags& tags) {
        // Named references, not a structured binding: clang 14 cannot capture bindings in a lambda.
        for (const auto& tag : tags) {
            const auto& key = tag.first;
            const auto& value = tag.second;
            auto e = step_done(
                upsert_tag_sql, [&](SqliteQuery& q) { q.bind(1, stream_id).bind(2, key).bind(3, value); },
                "tag");
            if (e) return e;
        }
        return {};
    }
};

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::~Catalog() = default;

const CatalogOptions& Catalog::options() const noexcept {
    return impl_->options_;
}

std::unique_ptr<Catalog> Catalog::open(const std::filesystem::path& data_dir, CatalogOptions options,
                                       CatalogError& error) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        error = {ec, "catalog: cannot create " + data_dir.string() + ": " + ec.message()};
        return nullptr;
    }
    const auto path = data_dir / "catalog.db";
    std::string message;
    auto db = SqliteDb::open(path, message);
    if (!db) {
        error = fail(Errc::io_error, "catalog: cannot open " + path.string() + ": " + message);
        return nullptr;
    }
    // FULL: catalog changes are rare, and a created stream must survive a power cut like a PERSISTED
    // fragment.
    if (db->exec("PRAGMA journal_mode=WAL") != SQLITE_OK ||
        db->exec("PRAGMA synchronous=FULL") != SQLITE_OK || db->exec("PRAGMA foreign_keys=ON") != SQLITE_OK ||
        db->exec(schema_sql) != SQLITE_OK) {
        error = fail(Errc::io_error, "catalog: cannot initialise " + path.string() + ": " + db->last_error());
        return nullptr;
    }
    error = {};
    return std::unique_ptr<Catalog>(new Catalog(std::make_unique<Impl>(std::move(db), std::move(options))));
}

CatalogError Catalog::create_stream(const NewStream& stream, StreamInfo* created) {
    if (!is_valid_stream_name(stream.name))
        return fail(Errc::invalid_argument, "invalid StreamName: 1-256 characters of [a-zA-Z0-9_.-]");
    if (!stream.device_name.empty() && !is_name(stream.device_name, max_device_name_length))
        return fail(Errc::invalid_argument, "invalid DeviceName: 1-128 characters of [a-zA-Z0-9_.-]");
    if (!stream.media_type.empty() && !is_media_type(stream.media_type))
        return fail(Errc::invalid_argument, "invalid MediaType: expected type/subtype, e.g. video/h264");
    if (stream.kms_key_id.size() > max_kms_key_id_length || has_control_chars(stream.kms_key_id))
        return fail(Errc::invalid_argument, "invalid KmsKeyId");
    if (stream.data_retention_hours < 0 || stream.data_retention_hours > max_retention_hours)
        return fail(Errc::invalid_argument, "DataRetentionInHours must be 0-87600");
    if (stream.tags.size() > max_tags_per_stream)
        return fail(Errc::tags_per_resource_exceeded, "a stream has at most 50 tags");
    for (const auto& [key, value] : stream.tags)
        if (auto e = validate_tag(key, value)) return e;

    std::lock_guard lock(impl_->mutex_);
    StreamInfo info;
    info.name = stream.name;
    info.device_name = stream.device_name;
    info.media_type = stream.media_type;
    info.kms_key_id = stream.kms_key_id;
    info.data_retention_hours = stream.data_retention_hours;
    info.creation_time_ms = impl_->next_creation_ms();
    info.arn = "arn:aws:kinesisvideo:" + impl_->options_.region + ":" + impl_->options_.account + ":stream/" +
               stream.name + "/" + std::to_string(info.creation_time_ms);
    info.version = impl_->new_version();
    info.status = StreamStatus::active;

    SqliteTransaction tx(*impl_->db_);
    if (!tx.begun()) return impl_->db_error("begin");
    StreamInfo existing;
    const auto found = impl_->find({stream.name, {}}, existing);
    if (!found) return fail(Errc::resource_in_use, "stream " + stream.name + " already exists");
    if (found.code != Errc::resource_not_found) return found;
    auto e = impl_->step_done(
        insert_stream_sql,
        [&](SqliteQuery& q) {
            q.bind(1, info.name).bind(2, info.arn).bind(3, info.device_name).bind(4, info.media_type);
            q.bind(5, info.kms_key_id).bind(6, info.data_retention_hours).bind(7, info.creation_time_ms);
            q.bind(8, info.version);
        },
        "insert stream");
    if (e) return e;
    // Read back so the caller sees the id SQLite assigned.
    if (auto f = impl_->find({stream.name, {}}, info)) return f;
    if (auto t = impl_->upsert_tags(info.id, stream.tags)) return t;
    if (!tx.commit()) return impl_->db_error("commit");
    if (created != nullptr) *created = info;
    return {};
}

CatalogError Catalog::describe_stream(const StreamRef& stream, StreamInfo& info) {
    std::lock_guard lock(impl_->mutex_);
    return impl_->find(stream, info);
}

CatalogError Catalog::list_streams(const std::string& name_prefix, int max_results,
                                   const std::string& next_token, StreamPage& page) {
    page = {};
    if (max_results < 1 || max_results > max_list_streams_results)
        return fail(Errc::invalid_argument, "MaxResults must be 1-10000");
    if (!name_prefix.empty() && !is_valid_stream_name(name_prefix))
        return fail(Errc::invalid_argument, "ComparisonValue must be 1-256 characters of [a-zA-Z0-9_.-]");
    std::string after;
    if (!next_token.empty() && !decode_token(next_token, after))
        return fail(Errc::invalid_argument, "invalid NextToken");

    std::lock_guard lock(impl_->mutex_);
    sqlite3_stmt* stmt = nullptr;
    if (auto e = impl_->prepare(list_sql, stmt)) return e;
    SqliteQuery q(stmt);
    // One more row than asked tells whether another page follows.
    q.bind(1, name_prefix)
        .bind(2, name_prefix + "\x7F")
        .bind(3, after)
        .bind(4, std::int64_t{max_results} + 1);
    int rc = SQLITE_ROW;
    while ((rc = q.step()) == SQLITE_ROW) {
        if (page.streams.size() == static_cast<std::size_t>(max_results)) {
            page.next_token = encode_token(page.streams.back().name);
            break;
        }
        page.streams.push_back(read_stream(q));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return impl_->db_error("list streams");
    return {};
}

CatalogError Catalog::update_stream(const StreamUpdate& update) {
    if (update.device_name && !is_name(*update.device_name, max_device_name_length))
        return fail(Errc::invalid_argument, "invalid DeviceName: 1-128 characters of [a-zA-Z0-9_.-]");
    if (update.media_type && !is_media_type(*update.media_type))
        return fail(Errc::invalid_argument, "invalid MediaType: expected type/subtype, e.g. video/h264");
    std::lock_guard lock(impl_->mutex_);
    SqliteTransaction tx(*impl_->db_);
    if (!tx.begun()) return impl_->db_error("begin");
    StreamInfo info;
    if (auto e = impl_->find_for_update(update.stream, update.current_version, info)) return e;
    const std::string version = impl_->new_version();
    auto e = impl_->step_done(
        update_stream_sql,
        [&](SqliteQuery& q) {
            q.bind(1, info.id).bind(2, update.device_name.value_or(info.device_name));
            q.bind(3, update.media_type.value_or(info.media_type)).bind(4, version);
        },
        "update stream");
    if (e) return e;
    if (!tx.commit()) return impl_->db_error("commit");
    return {};
}

CatalogError Catalog::update_data_retention(const StreamRef& stream, const std::string& current_version,
                                            RetentionChange change, std::int64_t change_in_hours) {
    if (change_in_hours < 1 || change_in_hours > max_retention_hours)
        return fail(Errc::invalid_argument, "DataRetentionChangeInHours must be 1-87600");
    std::lock_guard lock(impl_->mutex_);
    SqliteTransaction tx(*impl_->db_);
    if (!tx.begun()) return impl_->db_error("begin");
    StreamInfo info;
    if (auto e = impl_->find_for_update(stream, current_version, info)) return e;
    const std::int64_t hours = change == RetentionChange::increase
                                   ? info.data_retention_hours + change_in_hours
                                   : info.data_retention_hours - change_in_hours;
    if (hours < 0)
        return fail(Errc::invalid_argument, "cannot decrease retention of " + info.name +
                                                " below 0 hours (it is " +
                                                std::to_string(info.data_retention_hours) + ")");
    if (hours > max_retention_hours)
        return fail(Errc::invalid_argument, "retention of " + info.name + " would exceed 87600 hours");
    const std::string version = impl_->new_version();
    auto e = impl_->step_done(
        update_retention_sql, [&](SqliteQuery& q) { q.bind(1, info.id).bind(2, hours).bind(3, version); },
        "update retention");
    if (e) return e;
    if (!tx.commit()) return impl_->db_error("commit");
    return {};
}

CatalogError Catalog::tag_stream(const StreamRef& stream, const Tags& tags) {
    if (tags.empty()) return fail(Errc::invalid_argument, "Tags must hold at least one tag");
    if (tags.size() > max_tags_per_stream)
        return fail(Errc::tags_per_resource_exceeded, "a stream has at most 50 tags");
    for (const auto& [key, value] : tags)
        if (auto e = validate_tag(key, value)) return e;
    std::lock_guard lock(impl_->mutex_);
    SqliteTransaction tx(*impl_->db_);
    if (!tx.begun()) return impl_->db_error("begin");
    StreamInfo info;
    if (auto e = impl_->find(stream, info)) return e;
    if (auto e = impl_->upsert_tags(info.id, tags)) return e;
    std::int64_t count = 0;
    if (auto e = impl_->count_tags(info.id, count)) return e;
    if (count > static_cast<std::int64_t>(max_tags_per_stream))
        return fail(Errc::tags_per_resource_exceeded, "stream " + info.name + " would have " +
                                                          std::to_string(count) + " tags; the limit is 50");
    if (!tx.commit()) return impl_->db_error("commit");
    return {};
}

CatalogError Catalog::untag_stream(const StreamRef& stream, const std::vector<std::string>& keys) {
    if (keys.empty() || keys.size() > max_tags_per_stream)
        return fail(Errc::invalid_argument, "TagKeyList must hold 1-50 keys");
    for (const auto& key : keys)
        if (auto e = validate_tag(key, {})) return e;
    std::lock_guard lock(impl_->mutex_);
    SqliteTransaction tx(*impl_->db_);
    if (!tx.begun()) return impl_->db_error("begin");
    StreamInfo info;
    if (auto e = impl_->find(stream, info)) return e;
    for (const auto& key : keys) {
        auto e = impl_->step_done(
            delete_tag_sql, [&](SqliteQuery& q) { q.bind(1, info.id).bind(2, key); }, "untag");
        if (e) return e;
    }
    if (!tx.commit()) return impl_->db_error("commit");
    return {};
}

CatalogError Catalog::list_tags(const StreamRef& stream, const std::string& next_token, TagPage& page) {
    page = {};
    std::string after;
    if (!next_token.empty() && !decode_token(next_token, after))
        return fail(Errc::invalid_argument, "invalid NextToken");
    std::lock_guard lock(impl_->mutex_);
    StreamInfo info;
    if (auto e = impl_->find(stream, info)) return e;
    sqlite3_stmt* stmt = nullptr;
    if (auto e = impl_->prepare(list_tags_sql, stmt)) return e;
    SqliteQuery q(stmt);
    q.bind(1, info.id).bind(2, after).bind(3, std::int64_t{max_list_tags_results} + 1);
    int rc = SQLITE_ROW;
    std::string last;
    while ((rc = q.step()) == SQLITE_ROW) {
        if (page.tags.size() == static_cast<std::size_t>(max_list_tags_results)) {
            page.next_token = encode_token(last);
            break;
        }
        last = q.text(0);
        page.tags.emplace(last, q.text(1));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return impl_->db_error("list tags");
    return {};
}

CatalogError Catalog::delete_stream(const StreamRef& stream, const std::string& current_version,
                                    const DeleteStreamData& delete_data) {
    StreamInfo info;
    {
        std::lock_guard lock(impl_->mutex_);
        if (auto e = impl_->find(stream, info)) return e;
        if (!current_version.empty() && current_version != info.version)
            return fail(Errc::version_mismatch, "stream " + info.name + " is at version " + info.version +
                                                    ", not " + current_version);
        // A stream left DELETING by a failed or interrupted delete may be deleted again; one being deleted
        // now may not.
        if (impl_->deletes_in_progress_.count(info.id) != 0)
            return fail(Errc::resource_in_use, "stream " + info.name + " is being deleted");
        auto e = impl_->step_done(
            set_status_sql, [&](SqliteQuery& q) { q.bind(1, info.id).bind(2, std::string_view("DELETING")); },
            "mark stream deleting");
        if (e) return e;
        info.status = StreamStatus::deleting;
        impl_->deletes_in_progress_.insert(info.id);
    }
    // Outside the lock: removing fragment data may take a while and must not stall other streams.
    std::error_code data_error;
    if (delete_data) data_error = delete_data(info);

    std::lock_guard lock(impl_->mutex_);
    impl_->deletes_in_progress_.erase(info.id);
    if (data_error) return {data_error, "delete data of stream " + info.name + ": " + data_error.message()};
    SqliteTransaction tx(*impl_->db_);
    if (!tx.begun()) return impl_->db_error("begin");
    auto e = impl_->step_done(
        delete_tags_sql, [&](SqliteQuery& q) { q.bind(1, info.id); }, "delete tags");
    if (e) return e;
    e = impl_->step_done(
        delete_stream_sql, [&](SqliteQuery& q) { q.bind(1, info.id); }, "delete stream");
    if (e) return e;
    if (!tx.commit()) return impl_->db_error("commit");
    return {};
}

CatalogError Catalog::streams_being_deleted(std::vector<StreamInfo>& streams) {
    streams.clear();
    std::lock_guard lock(impl_->mutex_);
    sqlite3_stmt* stmt = nullptr;
    if (auto e = impl_->prepare(deleting_sql, stmt)) return e;
    SqliteQuery q(stmt);
    int rc = SQLITE_ROW;
    while ((rc = q.step()) == SQLITE_ROW) {
        const auto info = read_stream(q);
        if (impl_->deletes_in_progress_.count(info.id) == 0) streams.push_back(info);
    }
    if (rc != SQLITE_DONE) return impl_->db_error("list deleting streams");
    return {};
}

}  // namespace kinema::storage
