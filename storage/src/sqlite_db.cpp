#include "sqlite_db.h"

namespace kinema::storage {

SqliteQuery::~SqliteQuery() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

SqliteQuery& SqliteQuery::bind(int index, std::string_view text) {
    // SQLITE_TRANSIENT: SQLite copies the text, so temporaries are safe to bind.
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
}

SqliteQuery& SqliteQuery::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

int SqliteQuery::step() noexcept {
    return sqlite3_step(stmt_);
}

std::string SqliteQuery::text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::int64_t SqliteQuery::integer(int column) const noexcept {
    return sqlite3_column_int64(stmt_, column);
}

std::unique_ptr<SqliteDb> SqliteDb::open(const std::filesystem::path& path, std::string& error_message) {
    sqlite3* db = nullptr;
    // NOMUTEX: the owner serialises every call, so SQLite's own locking would only cost time.
    const int rc = sqlite3_open_v2(path.c_str(), &db,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        error_message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close_v2(db);
        return nullptr;
    }
    sqlite3_busy_timeout(db, 5000);
    return std::unique_ptr<SqliteDb>(new SqliteDb(db));
}

SqliteDb::~SqliteDb() {
    for (auto& [sql, stmt] : statements_)
        sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
}

int SqliteDb::exec(const char* sql) {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
}

sqlite3_stmt* SqliteDb::statement(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
        return nullptr;
    statements_.emplace(sql, stmt);
    return stmt;
}

std::string SqliteDb::last_error() const {
    return sqlite3_errmsg(db_);
}

int SqliteDb::last_error_code() const noexcept {
    return sqlite3_errcode(db_);
}

SqliteTransaction::SqliteTransaction(SqliteDb& db) : db_(db) {
    begun_ = db_.exec("BEGIN IMMEDIATE") == SQLITE_OK;
}

SqliteTransaction::~SqliteTransaction() {
    if (begun_ && !done_) db_.exec("ROLLBACK");
}

bool SqliteTransaction::commit() {
    if (!begun_ || done_) return false;
    done_ = db_.exec("COMMIT") == SQLITE_OK;
    return done_;
}

}  // namespace kinema::storage
