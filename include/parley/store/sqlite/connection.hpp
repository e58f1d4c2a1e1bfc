// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/store.hpp>
#include <parley/version.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// A prepared statement: bound, stepped and reset by one thread at a time.
/// Binding indexes start at 1, as in SQL (`?1`).
class SqliteStatement {
public:
    SqliteStatement() = default;
    SqliteStatement(sqlite3* db, std::string_view sql) : db_(db) {
        const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
        if (rc != SQLITE_OK) {
            error_ = sqlite3_errmsg(db);
            sqlite3_finalize(stmt_);
            stmt_ = nullptr;
        }
    }
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;
    SqliteStatement(SqliteStatement&& other) noexcept { swap(other); }
    SqliteStatement& operator=(SqliteStatement&& other) noexcept {
        SqliteStatement(std::move(other)).swap(*this);
        return *this;
    }
    ~SqliteStatement() { sqlite3_finalize(stmt_); }

    bool ok() const noexcept { return stmt_ != nullptr; }
    /// Why preparing failed (empty when it did not).
    const std::string& error() const noexcept { return error_; }

    /// Clears the previous run's bindings and state; call before binding anew.
    SqliteStatement& reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        return *this;
    }
    SqliteStatement& bind(int index, std::int64_t value) {
        sqlite3_bind_int64(stmt_, index, value);
        return *this;
    }
    /// Unsigned values above INT64_MAX are clamped (seq and offsets never get there).
    SqliteStatement& bind_u64(int index, std::uint64_t value) {
        constexpr auto top = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        return bind(index, static_cast<std::int64_t>(value > top ? top : value));
    }
    /// The text is copied by SQLite (SQLITE_TRANSIENT), so `value` may die first.
    SqliteStatement& bind(int index, std::string_view value) {
        sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
        return *this;
    }

    /// SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return sqlite3_step(stmt_); }
    /// Runs a statement that returns no rows; SQLITE_OK or the error code. Resets it after.
    int run() {
        const int rc = sqlite3_step(stmt_);
        sqlite3_reset(stmt_);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
    }

    std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
    std::string text(int column) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
                 : std::string();
    }

private:
    void swap(SqliteStatement& other) noexcept {
        std::swap(db_, other.db_);
        std::swap(stmt_, other.stmt_);
        std::swap(error_, other.error_);
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
    std::string error_;
};

/// One SQLite connection, closed on destruction. Used by one thread at a time
/// (the store serialises), so it is opened without SQLite's own mutexes.
class SqliteConnection {
public:
    SqliteConnection() = default;
    /// Opens `path` read-write; `create` also creates a missing file. Throws
    /// StoreError (path and SQLite's message) when that fails.
    SqliteConnection(const std::string& path, bool create) : path_(path) {
        const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                          SQLITE_OPEN_NOMUTEX;
        const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
        if (rc != SQLITE_OK) {
            std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            sqlite3_close_v2(db_);
            db_ = nullptr;
            throw StoreError(path, "cannot open the database: " + message);
        }
        sqlite3_extended_result_codes(db_, 1);
    }
    SqliteConnection(const SqliteConnection&) = delete;
    SqliteConnection& operator=(const SqliteConnection&) = delete;
    SqliteConnection(SqliteConnection&& other) noexcept { swap(other); }
    SqliteConnection& operator=(SqliteConnection&& other) noexcept {
        SqliteConnection(std::move(other)).swap(*this);
        return *this;
    }
    /// Statements must be finalised first (the store destroys them before this).
    ~SqliteConnection() { sqlite3_close_v2(db_); }

    sqlite3* get() const noexcept { return db_; }
    const std::string& path() const noexcept { return path_; }
    std::string error() const { return db_ ? sqlite3_errmsg(db_) : std::string("not open"); }

    /// Runs SQL without results; SQLITE_OK or the error code.
    int exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

    /// Runs SQL at start-up; throws StoreError naming `what` on failure.
    void exec_or_throw(const char* sql, std::string_view what) {
        if (exec(sql) != SQLITE_OK) throw StoreError(path_, std::string(what) + ": " + error());
    }

    /// The first column of the first row of `sql` as text; throws StoreError.
    std::string query_text(const char* sql, std::string_view what) {
        SqliteStatement stmt(db_, sql);
        if (!stmt.ok()) throw StoreError(path_, std::string(what) + ": " + stmt.error());
        const int rc = stmt.step();
        if (rc == SQLITE_ROW) return stmt.text(0);
        if (rc == SQLITE_DONE) return {};
        throw StoreError(path_, std::string(what) + ": " + error());
    }

    SqliteStatement prepare(std::string_view sql) {
        SqliteStatement stmt(db_, sql);
        if (!stmt.ok()) throw StoreError(path_, "cannot prepare a statement: " + stmt.error());
        return stmt;
    }

    bool in_transaction() const noexcept { return db_ && sqlite3_get_autocommit(db_) == 0; }

private:
    void swap(SqliteConnection& other) noexcept {
        std::swap(db_, other.db_);
        std::swap(path_, other.path_);
    }

    sqlite3* db_ = nullptr;
    std::string path_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
