// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Optional: the SQLite store. Not part of <parley/parley.hpp>; including it needs
// SQLite 3 (3.27 or newer, built with FTS5, as Debian's libsqlite3-dev is) and
// linking with -lsqlite3 (CMake: SQLite::SQLite3) and threads.
#pragma once

#include <parley/detail/random.hpp>
#include <parley/detail/search.hpp>
#include <parley/message.hpp>
#include <parley/store.hpp>
#include <parley/store/sqlite/connection.hpp>
#include <parley/store/sqlite/schema.hpp>
#include <parley/version.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// How a SqliteStore runs. Every field has a working default.
struct SqliteStoreOptions {
    /// The longest an accepted write waits before it is committed: what a crash
    /// of the process (kill -9) can lose. At most 100 ms; 0 commits as soon as
    /// the writer thread wakes.
    std::chrono::milliseconds flush_interval{50};
    /// A batch this large is committed at once, without waiting for the interval.
    std::size_t max_batch = 1000;
    /// Writes kept in memory while the disk refuses them (full, read-only, I/O
    /// error). Past this the oldest messages and tombstones are dropped and
    /// counted; room changes are never dropped.
    std::size_t max_pending = 100000;
    /// Pause between retries of a failed commit (`flush()` retries at once).
    std::chrono::milliseconds retry_interval{1000};

    /// Retention: messages kept per room, newest first (0: all)...
    std::size_t max_messages_per_room = 0;
    /// ...and the oldest kept, by the message's `ts` (0: forever).
    std::chrono::milliseconds max_age{0};
    /// How often the age limit is applied while no writes arrive.
    std::chrono::milliseconds retention_interval{60 * 1000};

    /// A quota on the database file in bytes (0: none). Writes past it fail
    /// like a full disk, and are kept and retried. See `set_max_file_bytes`.
    std::uint64_t max_file_bytes = 0;
    /// Run `PRAGMA quick_check` when opening, so a damaged file fails at start-up
    /// rather than later. Reads the whole file: turn off for very large ones.
    bool check_on_open = true;
    /// How long a connection waits for a lock held by another process (a backup).
    std::chrono::milliseconds busy_timeout{5000};

    /// Told about write failures, dropped writes and recoveries, from the writer
    /// thread. Keep it short; it may call `stats()`.
    std::function<void(std::string_view)> log;
    /// Wall clock in milliseconds since the Unix epoch (for `max_age` and room
    /// creation times); empty: the system clock. Tests set it.
    std::function<std::int64_t()> now_ms;
};

/// Counters of a SqliteStore, copied out by `stats()`.
struct SqliteStoreStats {
    std::uint64_t commits = 0;       ///< transactions committed
    std::uint64_t writes = 0;        ///< appends, deletes and room changes committed
    std::uint64_t write_errors = 0;  ///< failed commits (each is retried)
    std::uint64_t read_errors = 0;   ///< failed reads and searches
    std::uint64_t dropped = 0;       ///< writes given up because `max_pending` was reached
    std::uint64_t trimmed = 0;       ///< messages removed by retention
    std::size_t pending = 0;         ///< writes accepted and not yet committed
    bool failing = false;            ///< the last commit failed
    std::string last_error;          ///< the latest error, kept after a recovery
    /// The previous process using the file did not close it (killed, crashed):
    /// its last uncommitted messages may be lost, so `load_rooms` gave every room
    /// a new epoch.
    bool unclean_start = false;
};

namespace detail {

/// The FTS5 query for a person's words: each word becomes a quoted string (`"`
/// doubled inside), a trailing `*` a prefix search, and all of them must match.
/// Whatever the words hold, the result is valid FTS5 syntax with no operators.
inline std::string fts5_query(const std::vector<std::string>& terms) {
    std::string query;
    for (const auto& term : terms) {
        bool prefix = false;
        const auto stem = search_stem(term, prefix);
        if (stem.empty()) continue;
        if (!query.empty()) query += ' ';
        query += '"';
        for (char c : stem) {
            if (c == '"') query += '"';
            query += c;
        }
        query += '"';
        if (prefix) query += '*';
    }
    return query;
}

}  // namespace detail

/// The SQLite Store: rooms and messages (with tombstones) in one file, kept
/// across restarts, with full-text search.
///
/// Writes (`append`, `update`, `save_room`, `remove_room`) are queued and
/// return at once; a writer thread commits them in one transaction per batch,
/// at the latest `flush_interval` after they arrived. Reads and searches run on a
/// reader thread with its own connection (WAL lets it read while the writer
/// writes) and answer from that thread; they see every write queued before them,
/// committed or not. A search finds messages once they are committed.
///
/// Durability: WAL mode with `synchronous=NORMAL`. A committed batch survives a
/// crash of the process (kill -9) because it is in the operating system's hands;
/// a power loss or kernel crash may roll back the last batches (never corrupt the
/// file). `synchronous=FULL` would close that gap with an fsync per batch.
///
/// When a commit fails (disk full, read-only, I/O error) nothing in memory is
/// lost: the batch is kept (up to `max_pending` writes), retried every
/// `retry_interval`, counted in `stats()` and reported to `options.log`; reads
/// still see it. Opening a file that is not a parley database, is damaged, is
/// from a newer parley or cannot be written throws StoreError.
///
/// Destroy the store after the Lobby that uses it; reads still queued then are
/// dropped unanswered, writes are committed first (one attempt).
class SqliteStore final : public Store {
public:
    explicit SqliteStore(std::string path, SqliteStoreOptions options = {})
        : path_(std::move(path)), options_(std::move(options)) {
        check_options();
        open_writer();
        open_reader();
        writer_thread_ = std::thread([this] { writer_loop(); });
        reader_thread_ = std::thread([this] { reader_loop(); });
    }

    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    ~SqliteStore() override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_writer_.notify_all();
        writer_thread_.join();
        // Everything accepted is committed: the next start is a clean one.
        if (queue_.empty() && !failing_)
            writer_db_.exec("UPDATE store_state SET value = '0' WHERE key = 'open'");
        {
            std::lock_guard<std::mutex> lock(reader_mutex_);
            reader_stopping_ = true;
            reader_jobs_.clear();
        }
        reader_wake_.notify_all();
        reader_thread_.join();
    }

    const std::string& path() const noexcept { return path_; }

    /// Commits everything queued before the call and waits until reads and
    /// searches queued before it have answered. Returns false when a commit
    /// failed (the writes stay queued and are retried). Blocks: not for a lane.
    bool flush() {
        bool ok = true;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            const std::uint64_t target = next_ticket_ - 1;
            const std::uint64_t request = ++flush_requests_;
            flush_target_ = std::max(flush_target_, target);
            wake_writer_.notify_all();
            progress_.wait(lock, [&] {
                if (writer_done_) return true;
                if (flush_served_ < request) return false;
                return !last_cycle_ok_ || oldest_pending_ticket() > target;
            });
            ok = oldest_pending_ticket() > target;
        }
        std::unique_lock<std::mutex> lock(reader_mutex_);
        reader_idle_.wait(lock, [&] { return reader_stopping_ || (reader_jobs_.empty() && !reader_busy_); });
        return ok;
    }

    SqliteStoreStats stats() const {
        std::lock_guard<std::mutex> lock(mutex_);
        SqliteStoreStats s = stats_;
        s.pending = queue_.size() + inflight_;
        s.failing = failing_;
        return s;
    }

    /// Changes the quota (`SqliteStoreOptions::max_file_bytes`, 0: none) before the
    /// next commit, and retries a failed batch at once.
    void set_max_file_bytes(std::uint64_t bytes) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            new_quota_ = bytes;
            retry_at_ = std::chrono::steady_clock::now();
        }
        wake_writer_.notify_all();
    }

    // ---- Store ---------------------------------------------------------------------

    /// Commits what is queued, then lists the rooms with their epoch and the
    /// highest `seq` ever stored in each.
    ///
    /// After an unclean stop (see `SqliteStoreStats::unclean_start`) the first
    /// call gives every room a new epoch (and saves it): `seq` continues from the
    /// last stored message, so the seqs of messages that were broadcast but never
    /// committed come again, and the new lineage tells every resuming client to
    /// rebuild its view instead of trusting its `since`.
    std::vector<RoomRecord> load_rooms() override {
        auto rooms = read_rooms();
        bool renew = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            renew = std::exchange(renew_epochs_, false);
        }
        if (renew) {
            for (auto& room : rooms) {
                room.epoch = detail::RandomSource(0).hex(1);
                save_room(room);
            }
            log("parley sqlite store " + path_ +
                ": the last run did not stop cleanly; messages it had not yet committed (at most "
                "the flush interval's worth) are lost, and every room starts a new history epoch");
        }
        return rooms;
    }

private:
    std::vector<RoomRecord> read_rooms() {
        flush();
        std::lock_guard<std::mutex> lock(reader_db_mutex_);
        auto& stmt = reader_.load_rooms.reset();
        std::vector<RoomRecord> rooms;
        int rc;
        while ((rc = stmt.step()) == SQLITE_ROW) {
            RoomRecord r;
            r.id = stmt.text(0);
            r.name = stmt.text(1);
            r.permanent = stmt.int64(2) != 0;
            r.epoch = stmt.text(3);
            r.last_seq = static_cast<std::uint64_t>(stmt.int64(4));
            rooms.push_back(std::move(r));
        }
        stmt.reset();
        if (rc != SQLITE_DONE) throw StoreError(path_, "cannot read the rooms: " + reader_db_.error());
        return rooms;
    }

public:
    void save_room(const RoomRecord& room) override {
        Op op;
        op.kind = Op::Kind::save_room;
        op.room = room.id;
        op.record = room;
        enqueue(std::move(op));
    }

    void remove_room(const std::string& room_id) override {
        Op op;
        op.kind = Op::Kind::remove_room;
        op.room = room_id;
        enqueue(std::move(op));
    }

    void append(const std::string& room_id, StoredMessagePtr message) override {
        Op op;
        op.kind = Op::Kind::append;
        op.room = room_id;
        op.message = std::move(message);
        enqueue(std::move(op));
    }

    /// The row from `message`; a reaction is also added to or taken from the
    /// reactions table, and a tombstone drops the message's reactions.
    void update(const std::string& room_id, const MessagePatch& patch, StoredMessagePtr message) override {
        Op op;
        op.kind = Op::Kind::update;
        op.room = room_id;
        op.message = std::move(message);
        if (patch.kind == MessagePatch::Kind::reacted) op.reaction = patch;
        enqueue(std::move(op));
    }

    void read(const std::string& room_id, HistoryQuery query, ReadDone done) override {
        submit([this, room = room_id, query, done = std::move(done)] {
            done(read_now(room, query));
        });
    }

    bool can_search() const override { return true; }

    void search(const std::string& room_id, SearchQuery query, SearchDone done) override {
        submit([this, room = room_id, query = std::move(query), done = std::move(done)] {
            done(search_now(room, query));
        });
    }

private:
    using clock = std::chrono::steady_clock;

    /// One queued write. `ticket` orders them; `queued` starts the flush clock.
    struct Op {
        enum class Kind : unsigned char { append, update, save_room, remove_room };
        Kind kind = Kind::append;
        std::string room;
        StoredMessagePtr message;
        std::optional<MessagePatch> reaction;  // an update that adds or removes a reaction
        RoomRecord record;
        std::uint64_t ticket = 0;
        clock::time_point queued{};
    };

    struct WriterStatements {
        detail::SqliteStatement stage_message, insert_staged, clear_staged, update_message, add_reaction,
            remove_reaction, clear_reactions, upsert_room,
            delete_room_messages, delete_room, raise_last_seq, trim_count, trim_age;
    };
    struct ReaderStatements {
        detail::SqliteStatement read_range, read_reactions, search, load_rooms;
    };

    // ---- opening --------------------------------------------------------------------

    void check_options() const {
        if (path_.empty() || path_ == ":memory:" || path_.rfind("file::memory:", 0) == 0)
            throw StoreError(path_.empty() ? std::string("(empty path)") : path_,
                             "SqliteStore needs a file; use MemoryStore to run without persistence");
        if (options_.flush_interval < std::chrono::milliseconds(0) ||
            options_.flush_interval > std::chrono::milliseconds(100))
            throw std::invalid_argument("parley::SqliteStore: flush_interval must be 0 to 100 ms");
        if (options_.max_batch == 0 || options_.max_pending < options_.max_batch)
            throw std::invalid_argument(
                "parley::SqliteStore: max_batch must be at least 1 and max_pending at least max_batch");
    }

    void configure(detail::SqliteConnection& db) const {
        sqlite3_busy_timeout(db.get(), static_cast<int>(options_.busy_timeout.count()));
    }

    void open_writer() {
        writer_db_ = detail::SqliteConnection(path_, true);
        configure(writer_db_);
        if (sqlite3_db_readonly(writer_db_.get(), "main") == 1)
            throw StoreError(path_, "the database file is read-only");
        // The first statement reads the file: a file that is not a database fails here.
        const auto mode = writer_db_.query_text("PRAGMA journal_mode = WAL", "not a usable SQLite database");
        if (mode != "wal")
            throw StoreError(path_, "cannot use WAL journal mode (got \"" + mode +
                                        "\"); is the file on a network filesystem?");
        writer_db_.exec_or_throw("PRAGMA synchronous = NORMAL", "cannot set synchronous mode");
        if (options_.check_on_open) {
            const auto verdict = writer_db_.query_text("PRAGMA quick_check", "integrity check failed");
            if (verdict != "ok") throw StoreError(path_, "the database is damaged: " + verdict);
        }
        detail::sqlite_migrate(writer_db_);
        // Found open: the last process died without closing the file.
        const bool unclean =
            writer_db_.query_text("SELECT value FROM store_state WHERE key = 'open'",
                                  "cannot read the store state") != "0";
        writer_db_.exec_or_throw("UPDATE store_state SET value = '1' WHERE key = 'open'",
                                 "cannot mark the database open");
        stats_.unclean_start = unclean;
        renew_epochs_ = unclean;
        if (options_.max_file_bytes != 0 && !apply_quota(options_.max_file_bytes))
            throw StoreError(path_, "cannot set the size quota: " + writer_db_.error());
        // Appends are staged in a temporary table and moved into `messages` by one
        // statement per run of appends: the full-text index then takes them in one
        // go. (FTS5 writes its pending terms out at every statement that changes it,
        // so one INSERT per message would cost a tiny index segment each.)
        writer_db_.exec_or_throw("PRAGMA temp_store = MEMORY", "cannot configure temporary storage");
        writer_db_.exec_or_throw(
            "CREATE TEMP TABLE staged_messages (room TEXT NOT NULL, seq INTEGER NOT NULL, "
            "ts INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, client_id TEXT NOT NULL, "
            "deleted INTEGER NOT NULL, author TEXT NOT NULL, edited_at INTEGER NOT NULL)",
            "cannot create the staging table");
        auto& w = writer_;
        w.stage_message = writer_db_.prepare(
            "INSERT INTO temp.staged_messages (room, seq, ts, sender, text, client_id, deleted, author, edited_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        w.insert_staged = writer_db_.prepare(
            "INSERT INTO messages (room, seq, ts, sender, text, client_id, deleted, author, edited_at) "
            "SELECT room, seq, ts, sender, text, client_id, deleted, author, edited_at FROM temp.staged_messages "
            "WHERE true ORDER BY rowid ON CONFLICT (room, seq) DO NOTHING");
        w.clear_staged = writer_db_.prepare("DELETE FROM temp.staged_messages");
        // Every mutable column from the message, so any change (a delete, an
        // edit) is one statement; a tombstone is never changed back.
        w.update_message = writer_db_.prepare(
            "UPDATE messages SET sender = ?3, text = ?4, client_id = ?5, deleted = ?6, author = ?7, "
            "edited_at = ?8 WHERE room = ?1 AND seq = ?2 AND deleted = 0");
        w.add_reaction = writer_db_.prepare(
            "INSERT INTO reactions (room, seq, emoji, author) SELECT ?1, ?2, ?3, ?4 "
            "WHERE EXISTS (SELECT 1 FROM messages WHERE room = ?1 AND seq = ?2 AND deleted = 0) "
            "ON CONFLICT DO NOTHING");
        w.remove_reaction = writer_db_.prepare(
            "DELETE FROM reactions WHERE room = ?1 AND seq = ?2 AND emoji = ?3 AND author = ?4");
        w.clear_reactions = writer_db_.prepare("DELETE FROM reactions WHERE room = ?1 AND seq = ?2");
        w.upsert_room = writer_db_.prepare(
            "INSERT INTO rooms (id, name, permanent, epoch, created, last_seq) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
            "permanent = excluded.permanent, epoch = excluded.epoch, "
            "last_seq = max(rooms.last_seq, excluded.last_seq)");
        w.delete_room_messages = writer_db_.prepare("DELETE FROM messages WHERE room = ?1");
        w.delete_room = writer_db_.prepare("DELETE FROM rooms WHERE id = ?1");
        w.raise_last_seq = writer_db_.prepare(
            "UPDATE rooms SET last_seq = max(last_seq, ?2) WHERE id = ?1");
        w.trim_count = writer_db_.prepare(
            "DELETE FROM messages WHERE room = ?1 AND seq <= (SELECT seq FROM messages "
            "WHERE room = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)");
        w.trim_age = writer_db_.prepare("DELETE FROM messages WHERE ts < ?1");
    }

    void open_reader() {
        reader_db_ = detail::SqliteConnection(path_, false);
        configure(reader_db_);
        reader_db_.exec_or_throw("PRAGMA query_only = 1", "cannot open the read connection");
        auto& r = reader_;
        r.read_range = reader_db_.prepare(
            "SELECT seq, ts, sender, text, client_id, deleted, author, edited_at FROM messages "
            "WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4");
        r.read_reactions = reader_db_.prepare(
            "SELECT seq, emoji, author FROM reactions WHERE room = ?1 AND seq >= ?2 AND seq <= ?3 "
            "ORDER BY seq, rowid");
        r.search = reader_db_.prepare(
            "SELECT m.seq, m.ts, m.sender, m.text, m.client_id, 0, m.author, m.edited_at FROM messages_fts "
            "JOIN messages AS m ON m.id = messages_fts.rowid "
            "WHERE messages_fts MATCH ?1 AND m.room = ?2 AND m.deleted = 0 "
            "ORDER BY messages_fts.rank, m.seq DESC LIMIT ?3 OFFSET ?4");
        r.load_rooms = reader_db_.prepare(
            "SELECT id, name, permanent, epoch, max(last_seq, coalesce((SELECT max(seq) "
            "FROM messages WHERE room = rooms.id), 0)) FROM rooms ORDER BY created, id");
    }

    /// Writer thread (or the constructor): sets the file quota; false on error.
    bool apply_quota(std::uint64_t bytes) {
        std::int64_t pages = std::numeric_limits<std::int32_t>::max() - 1;  // SQLite's own maximum
        if (bytes != 0) {
            const auto page_size = std::stoll(writer_db_.query_text("PRAGMA page_size", "page size"));
            pages = std::max<std::int64_t>(1, static_cast<std::int64_t>(bytes) / page_size);
        }
        const std::string sql = "PRAGMA max_page_count = " + std::to_string(pages);
        return writer_db_.exec(sql.c_str()) == SQLITE_OK;
    }

    std::int64_t wall_ms() const {
        if (options_.now_ms) return options_.now_ms();
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    // ---- the write queue (any thread) -----------------------------------------------

    void enqueue(Op op) {
        bool wake = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            op.ticket = next_ticket_++;
            op.queued = clock::now();
            if (op.kind == Op::Kind::remove_room) overlay_.erase(op.room);
            else if (op.message) overlay_[op.room][op.message->message.seq] = op.message;
            queue_.push_back(std::move(op));
            // The writer sleeps until the oldest write is due; it needs a nudge only
            // for a first write or a full batch.
            wake = queue_.size() == 1 || queue_.size() == options_.max_batch;
            drop_over_bound();
        }
        if (wake) wake_writer_.notify_one();
    }

    /// Under `mutex_`: the ticket of the oldest write not yet committed (max when none).
    std::uint64_t oldest_pending_ticket() const {
        if (inflight_ != 0) return inflight_first_ticket_;
        return queue_.empty() ? std::numeric_limits<std::uint64_t>::max() : queue_.front().ticket;
    }

    /// Under `mutex_`: keeps at most `max_pending` writes by dropping the oldest
    /// messages and tombstones (never room changes).
    void drop_over_bound() {
        std::size_t dropped = 0;
        for (auto it = queue_.begin(); queue_.size() + inflight_ > options_.max_pending && it != queue_.end();) {
            if (it->kind == Op::Kind::append || it->kind == Op::Kind::update) {
                forget_overlay(*it);
                it = queue_.erase(it);
                ++dropped;
            } else {
                ++it;
            }
        }
        if (dropped == 0) return;
        if (stats_.dropped == dropped_reported_) pending_log_.push_back(
            "parley sqlite store " + path_ + ": more than " + std::to_string(options_.max_pending) +
            " writes pending; dropping the oldest messages");
        stats_.dropped += dropped;
    }

    /// Under `mutex_`: the overlay no longer needs `op` (committed or dropped),
    /// unless a newer write for the same message replaced it there.
    void forget_overlay(const Op& op) {
        if (!op.message) return;
        auto room = overlay_.find(op.room);
        if (room == overlay_.end()) return;
        auto entry = room->second.find(op.message->message.seq);
        if (entry != room->second.end() && entry->second == op.message) room->second.erase(entry);
        if (room->second.empty()) overlay_.erase(room);
    }

    // ---- the writer thread ------------------------------------------------------------

    void writer_loop() {
        std::unique_lock<std::mutex> lock(mutex_);
        const bool age_limit = options_.max_age.count() > 0;
        auto next_age_trim = clock::now();
        for (;;) {
            const auto now = clock::now();
            const bool flush_wanted = flush_requests_ != flush_served_;
            bool due = false;
            if (!queue_.empty()) {
                if (stopping_ || flush_wanted || queue_.front().ticket <= flush_target_) due = true;
                else if (failing_) due = now >= retry_at_;
                else
                    due = queue_.size() >= options_.max_batch ||
                          now >= queue_.front().queued + options_.flush_interval;
            } else if (flush_wanted) {
                due = true;
            } else if (stopping_) {
                break;
            } else if (age_limit && !failing_ && now >= next_age_trim) {
                due = true;
            }
            if (!due) {
                auto wake = clock::time_point::max();
                if (!queue_.empty())
                    wake = failing_ ? retry_at_ : queue_.front().queued + options_.flush_interval;
                if (age_limit) wake = std::min(wake, next_age_trim);
                if (wake == clock::time_point::max()) wake_writer_.wait(lock);
                else wake_writer_.wait_until(lock, wake);
                continue;
            }

            const auto serving = flush_requests_;
            const std::size_t n = std::min(queue_.size(), options_.max_batch);
            std::vector<Op> batch(std::make_move_iterator(queue_.begin()),
                                  std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
            queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
            inflight_ = n;
            inflight_first_ticket_ = n ? batch.front().ticket : 0;
            const auto quota = std::exchange(new_quota_, std::nullopt);
            std::vector<std::string> logs = std::move(pending_log_);
            pending_log_.clear();
            lock.unlock();

            for (const auto& line : logs) log(line);
            std::string error;
            std::uint64_t trimmed = 0;
            const bool ok = commit(batch, quota, age_limit, error, trimmed);
            if (age_limit) next_age_trim = clock::now() + options_.retention_interval;

            lock.lock();
            inflight_ = 0;
            std::string report;
            if (ok) {
                for (const auto& op : batch) forget_overlay(op);
                ++stats_.commits;
                stats_.writes += n;
                stats_.trimmed += trimmed;
                if (failing_)
                    report = "parley sqlite store " + path_ + ": writing works again after " +
                             std::to_string(failures_in_a_row_) + " failed commits";
                failing_ = false;
                failures_in_a_row_ = 0;
                dropped_reported_ = stats_.dropped;
            } else {
                ++stats_.write_errors;
                ++failures_in_a_row_;
                flush_target_ = 0;  // the flushes waiting now return false; retries wait
                stats_.last_error = error;
                failing_ = true;
                retry_at_ = clock::now() + options_.retry_interval;
                queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                              std::make_move_iterator(batch.end()));
                drop_over_bound();
                report = "parley sqlite store " + path_ + ": commit of " + std::to_string(n) +
                         " writes failed (" + error + "); " +
                         std::to_string(queue_.size()) + " writes kept, retrying";
                if (stopping_) {
                    report += "; stopping, so " + std::to_string(queue_.size()) + " writes are lost";
                    queue_.clear();
                    overlay_.clear();
                }
            }
            if (!report.empty()) {  // before the flushes waiting for this cycle return
                lock.unlock();
                log(report);
                lock.lock();
            }
            last_cycle_ok_ = ok;
            flush_served_ = serving;
            progress_.notify_all();
        }
        writer_done_ = true;
        progress_.notify_all();
    }

    void log(const std::string& line) const {
        if (options_.log) options_.log(line);
    }

    /// Writer thread: one transaction for the batch, the high-water marks and
    /// retention. On failure everything is rolled back and `error` says why.
    bool commit(const std::vector<Op>& batch, std::optional<std::uint64_t> quota, bool age_limit,
                std::string& error, std::uint64_t& trimmed) {
        auto fail = [&](const char* what) {
            error = std::string(what) + ": " + writer_db_.error();
            if (writer_db_.in_transaction()) writer_db_.exec("ROLLBACK");
            return false;
        };
        if (quota && !apply_quota(*quota)) return fail("cannot set the size quota");
        if (writer_db_.exec("BEGIN IMMEDIATE") != SQLITE_OK) return fail("cannot begin");
        auto& w = writer_;
        std::unordered_map<std::string, std::uint64_t> appended;  // room -> highest seq in batch
        bool staged = false;
        // Moves the staged appends into `messages`, before anything that must see them.
        auto insert_staged = [&] {
            if (!staged) return SQLITE_OK;
            staged = false;
            int rc = w.insert_staged.reset().run();
            if (rc == SQLITE_OK) rc = w.clear_staged.reset().run();
            return rc;
        };
        for (const auto& op : batch) {
            int rc = SQLITE_OK;
            if (op.kind != Op::Kind::append) rc = insert_staged();
            if (rc != SQLITE_OK) return fail("cannot write");
            switch (op.kind) {
                case Op::Kind::append: {
                    const auto& m = op.message->message;
                    staged = true;
                    rc = w.stage_message.reset()
                             .bind(1, op.room)
                             .bind_u64(2, m.seq)
                             .bind(3, m.ts)
                             .bind(4, m.deleted ? std::string_view("") : std::string_view(m.from))
                             .bind(5, m.deleted ? std::string_view("") : std::string_view(m.text))
                             .bind(6, m.deleted ? std::string_view("") : std::string_view(m.client_id))
                             .bind(7, std::int64_t{m.deleted ? 1 : 0})
                             .bind(8, m.deleted ? std::string_view("") : std::string_view(m.author))
                             .bind(9, m.deleted ? std::int64_t{0} : m.edited_at)
                             .run();
                    auto& high = appended[op.room];
                    high = std::max(high, m.seq);
                    break;
                }
                case Op::Kind::update: {
                    const auto& m = op.message->message;
                    const auto kept = [&m](const std::string& field) {
                        return m.deleted ? std::string_view("") : std::string_view(field);
                    };
                    rc = w.update_message.reset()
                             .bind(1, op.room)
                             .bind_u64(2, m.seq)
                             .bind(3, kept(m.from))
                             .bind(4, kept(m.text))
                             .bind(5, kept(m.client_id))
                             .bind(6, std::int64_t{m.deleted ? 1 : 0})
                             .bind(7, kept(m.author))
                             .bind(8, m.deleted ? std::int64_t{0} : m.edited_at)
                             .run();
                    if (rc == SQLITE_OK && m.deleted)
                        rc = w.clear_reactions.reset().bind(1, op.room).bind_u64(2, m.seq).run();
                    if (rc == SQLITE_OK && op.reaction) {
                        auto& statement = op.reaction->on ? w.add_reaction : w.remove_reaction;
                        rc = statement.reset()
                                 .bind(1, op.room)
                                 .bind_u64(2, m.seq)
                                 .bind(3, std::string_view(op.reaction->emoji))
                                 .bind(4, std::string_view(op.reaction->author))
                                 .run();
                    }
                    break;
                }
                case Op::Kind::save_room: {
                    const auto& r = op.record;
                    rc = w.upsert_room.reset()
                             .bind(1, r.id)
                             .bind(2, r.name)
                             .bind(3, std::int64_t{r.permanent ? 1 : 0})
                             .bind(4, r.epoch)
                             .bind(5, wall_ms())
                             .bind_u64(6, r.last_seq)
                             .run();
                    break;
                }
                case Op::Kind::remove_room:
                    rc = w.delete_room_messages.reset().bind(1, op.room).run();
                    if (rc == SQLITE_OK) rc = w.delete_room.reset().bind(1, op.room).run();
                    appended.erase(op.room);
                    break;
            }
            if (rc != SQLITE_OK) return fail("cannot write");
        }
        if (insert_staged() != SQLITE_OK) return fail("cannot write");
        for (const auto& [room, seq] : appended) {
            if (w.raise_last_seq.reset().bind(1, room).bind_u64(2, seq).run() != SQLITE_OK)
                return fail("cannot record the last seq");
            if (options_.max_messages_per_room != 0) {
                if (w.trim_count.reset().bind(1, room).bind_u64(2, options_.max_messages_per_room).run() !=
                    SQLITE_OK)
                    return fail("cannot apply retention");
                trimmed += static_cast<std::uint64_t>(sqlite3_changes(writer_db_.get()));
            }
        }
        if (age_limit) {
            if (w.trim_age.reset().bind(1, wall_ms() - options_.max_age.count()).run() != SQLITE_OK)
                return fail("cannot apply retention");
            trimmed += static_cast<std::uint64_t>(sqlite3_changes(writer_db_.get()));
        }
        if (writer_db_.exec("COMMIT") != SQLITE_OK) return fail("cannot commit");
        return true;
    }

    // ---- the reader thread ------------------------------------------------------------

    void submit(std::function<void()> job) {
        {
            std::lock_guard<std::mutex> lock(reader_mutex_);
            if (reader_stopping_) return;
            reader_jobs_.push_back(std::move(job));
        }
        reader_wake_.notify_one();
    }

    void reader_loop() {
        std::unique_lock<std::mutex> lock(reader_mutex_);
        for (;;) {
            reader_wake_.wait(lock, [&] { return reader_stopping_ || !reader_jobs_.empty(); });
            if (reader_stopping_) break;
            auto job = std::move(reader_jobs_.front());
            reader_jobs_.pop_front();
            reader_busy_ = true;
            lock.unlock();
            job();
            job = nullptr;  // the callback's captures die here, off the lock
            lock.lock();
            reader_busy_ = false;
            if (reader_jobs_.empty()) reader_idle_.notify_all();
        }
        reader_busy_ = false;
        reader_idle_.notify_all();
    }

    void count_read_error(const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.read_errors;
        stats_.last_error = what;
    }

    static StoredMessagePtr row_message(const detail::SqliteStatement& stmt, bool with_deleted) {
        return make_stored(row_chat_message(stmt, with_deleted));
    }

    static ChatMessage row_chat_message(const detail::SqliteStatement& stmt, bool with_deleted) {
        ChatMessage m;
        m.seq = static_cast<std::uint64_t>(stmt.int64(0));
        m.ts = stmt.int64(1);
        m.deleted = with_deleted && stmt.int64(5) != 0;
        if (!m.deleted) {
            m.from = stmt.text(2);
            m.text = stmt.text(3);
            m.client_id = stmt.text(4);
            m.author = stmt.text(6);
            m.edited_at = stmt.int64(7);
        }
        return m;
    }

    /// Under reader_db_mutex_: the reactions of `rows` (not tombstones), read for
    /// the span of their seqs in one query.
    void attach_reactions(const std::string& room, std::map<std::uint64_t, ChatMessage>& rows) {
        if (rows.empty()) return;
        auto& stmt = reader_.read_reactions.reset();
        stmt.bind(1, room).bind_u64(2, rows.begin()->first).bind_u64(3, rows.rbegin()->first);
        int rc;
        while ((rc = stmt.step()) == SQLITE_ROW) {
            auto it = rows.find(static_cast<std::uint64_t>(stmt.int64(0)));
            if (it == rows.end() || it->second.deleted) continue;
            MessagePatch add;
            add.kind = MessagePatch::Kind::reacted;
            add.emoji = stmt.text(1);
            add.author = stmt.text(2);
            add.apply_reaction(it->second);
        }
        stmt.reset();
        if (rc != SQLITE_DONE) count_read_error("reading reactions failed: " + reader_db_.error());
    }

    /// Reader thread: the newest `limit` messages in the range, from the file and
    /// from writes not yet committed. The pending ones are copied first, so a
    /// write committed in between is found in the file (the newer version wins).
    HistoryPage read_now(const std::string& room, const HistoryQuery& query) {
        const std::uint64_t before = query.before == 0 ? std::numeric_limits<std::uint64_t>::max() : query.before;
        std::vector<StoredMessagePtr> pending;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = overlay_.find(room);
            if (it != overlay_.end())
                for (auto m = it->second.upper_bound(query.after);
                     m != it->second.end() && m->first < before; ++m)
                    pending.push_back(m->second);
        }
        std::map<std::uint64_t, StoredMessagePtr> merged;
        {
            std::lock_guard<std::mutex> lock(reader_db_mutex_);
            auto& stmt = reader_.read_range.reset();
            stmt.bind(1, room).bind_u64(2, query.after).bind_u64(3, before).bind_u64(4, query.limit);
            int rc;
            std::map<std::uint64_t, ChatMessage> rows;
            while ((rc = stmt.step()) == SQLITE_ROW) {
                auto m = row_chat_message(stmt, true);
                rows.emplace(m.seq, std::move(m));
            }
            stmt.reset();
            if (rc != SQLITE_DONE) count_read_error("read failed: " + reader_db_.error());
            attach_reactions(room, rows);
            for (auto& [seq, m] : rows) merged.emplace(seq, make_stored(std::move(m)));
        }
        for (auto& m : pending) {
            auto& slot = merged[m->message.seq];
            // The newer version wins: a tombstone always, else the later edit (a
            // pending copy may predate an edit committed since it was taken).
            if (!slot || (!slot->message.deleted && m->message.edited_at >= slot->message.edited_at))
                slot = std::move(m);
        }
        HistoryPage page;
        auto first = merged.begin();
        if (merged.size() > query.limit)
            std::advance(first, static_cast<std::ptrdiff_t>(merged.size() - query.limit));
        for (auto it = first; it != merged.end(); ++it) page.messages.push_back(std::move(it->second));
        return page;
    }

    /// Reader thread: ranked (bm25) matches of every word, newest first among
    /// equals, without tombstones, including ones not yet committed.
    SearchPage search_now(const std::string& room, const SearchQuery& query) {
        SearchPage page;
        const auto fts = detail::fts5_query(detail::search_terms(query.text, query.text.size()));
        if (fts.empty() || query.limit == 0) return page;
        // Uncommitted deletes and edits: a deleted match is left out, an edited
        // one shown as edited (its new words are found once committed).
        std::unordered_map<std::uint64_t, StoredMessagePtr> changed;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = overlay_.find(room);
            if (it != overlay_.end())
                for (const auto& [seq, m] : it->second)
                    if (m->message.deleted || m->message.edited_at != 0) changed.emplace(seq, m);
        }
        std::lock_guard<std::mutex> lock(reader_db_mutex_);
        auto& stmt = reader_.search.reset();
        stmt.bind(1, fts).bind(2, room).bind_u64(3, query.limit + 1).bind_u64(4, query.offset);
        int rc;
        std::size_t rows = 0;
        while ((rc = stmt.step()) == SQLITE_ROW) {
            if (++rows > query.limit) {
                page.more = true;
                continue;
            }
            auto m = row_message(stmt, false);
            auto pending = changed.find(m->message.seq);
            if (pending != changed.end()) {
                if (pending->second->message.deleted) continue;
                if (pending->second->message.edited_at >= m->message.edited_at) m = pending->second;
            }
            page.messages.push_back(std::move(m));
        }
        stmt.reset();
        if (rc != SQLITE_DONE) {
            count_read_error("search failed: " + reader_db_.error());
            page = SearchPage{};
            page.failed = true;
        }
        return page;
    }

    const std::string path_;
    const SqliteStoreOptions options_;

    // Connections and their statements (declared after them: finalised first).
    detail::SqliteConnection writer_db_;  // writer thread (and the constructor)
    WriterStatements writer_;
    detail::SqliteConnection reader_db_;  // under reader_db_mutex_
    ReaderStatements reader_;
    std::mutex reader_db_mutex_;

    // The write queue, the overlay of uncommitted writes and the counters.
    mutable std::mutex mutex_;
    std::condition_variable wake_writer_;
    std::condition_variable progress_;  // a writer cycle ended
    std::deque<Op> queue_;
    std::size_t inflight_ = 0;  // writes being committed (taken from the queue's front)
    std::uint64_t inflight_first_ticket_ = 0;
    std::unordered_map<std::string, std::map<std::uint64_t, StoredMessagePtr>> overlay_;
    std::uint64_t next_ticket_ = 1;
    std::uint64_t flush_target_ = 0;
    std::uint64_t flush_requests_ = 0;
    std::uint64_t flush_served_ = 0;
    bool last_cycle_ok_ = true;
    bool failing_ = false;
    bool renew_epochs_ = false;  // load_rooms gives rooms new epochs (after an unclean stop)
    std::uint64_t failures_in_a_row_ = 0;
    std::uint64_t dropped_reported_ = 0;
    clock::time_point retry_at_{};
    std::optional<std::uint64_t> new_quota_;
    std::vector<std::string> pending_log_;
    bool stopping_ = false;
    bool writer_done_ = false;
    SqliteStoreStats stats_;

    // The reader's job queue.
    std::mutex reader_mutex_;
    std::condition_variable reader_wake_;
    std::condition_variable reader_idle_;
    std::deque<std::function<void()>> reader_jobs_;
    bool reader_busy_ = false;
    bool reader_stopping_ = false;

    std::thread writer_thread_;  // last: started after everything above exists
    std::thread reader_thread_;
};

PARLEY_NAMESPACE_END
