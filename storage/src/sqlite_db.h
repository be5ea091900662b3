// Small RAII layer over the sqlite3 C API: a connection with a cache of prepared statements, a statement
// cursor that resets itself, and a transaction guard. Not thread-safe; the owner serialises access.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace kinema::storage {

// A prepared statement in use: bind, step, read columns; reset and unbound when it goes out of scope so the
// cached statement is ready for the next caller.
class SqliteQuery {
public:
    explicit SqliteQuery(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
    ~SqliteQuery();
    SqliteQuery(const SqliteQuery&) = delete;
    SqliteQuery& operator=(const SqliteQuery&) = delete;

    // Parameters are 1-based, as in SQL.
    SqliteQuery& bind(int index, std::string_view text);
    SqliteQuery& bind(int index, std::int64_t value);
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() noexcept;

    std::string text(int column) const;
    std::int64_t integer(int column) const noexcept;

private:
    sqlite3_stmt* stmt_;
};

class SqliteDb {
public:
    // Opens or creates the file; on failure returns null and sets error_message.
    static std::unique_ptr<SqliteDb> open(const std::filesystem::path& path, std::string& error_message);
    ~SqliteDb();
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;

    // Runs one or more statements without results; returns the SQLite result code.
    int exec(const char* sql);
    // The cached prepared statement for sql (prepared on first use). sql must be a string literal: the cache
    // is keyed by its address. Returns null (with last_error()) when it does not compile.
    sqlite3_stmt* statement(const char* sql);
    std::string last_error() const;
    int last_error_code() const noexcept;

private:
    explicit SqliteDb(sqlite3* db) noexcept : db_(db) {}
    sqlite3* db_;
    std::map<const char*, sqlite3_stmt*> statements_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() succeeded.
class SqliteTransaction {
public:
    explicit SqliteTransaction(SqliteDb& db);
    ~SqliteTransaction();
    SqliteTransaction(const SqliteTransaction&) = delete;
    SqliteTransaction& operator=(const SqliteTransaction&) = delete;

    bool begun() const noexcept { return begun_; }
    bool commit();

private:
    SqliteDb& db_;
    bool begun_ = false;
    bool done_ = false;
};

}  // namespace kinema::storage
