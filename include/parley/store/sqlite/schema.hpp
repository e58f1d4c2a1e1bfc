// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/store.hpp>
#include <parley/store/sqlite/connection.hpp>
#include <parley/version.hpp>

#include <sqlite3.h>

#include <array>
#include <string>

PARLEY_NAMESPACE_BEGIN
namespace detail {

// The SQLite store's schema, as a list of migrations applied in order. A file
// records the last one applied in `PRAGMA user_version`; opening it applies the
// rest in one transaction, so a file is always at one known version. Never edit
// a shipped migration: append a new one.

struct SqliteMigration {
    int version;              ///< user_version after this step
    const char* description;  ///< for error messages
    const char* sql;
};

inline constexpr std::array<SqliteMigration, 6> sqlite_migrations{{
    {1, "rooms and messages",
     // `created` and `ts` are milliseconds since the Unix epoch. A tombstone is a
     // row with deleted = 1 whose sender, text and client_id are cleared.
     R"sql(
CREATE TABLE rooms (
    id        TEXT PRIMARY KEY NOT NULL,
    name      TEXT NOT NULL,
    permanent INTEGER NOT NULL DEFAULT 0,
    epoch     TEXT NOT NULL,
    created   INTEGER NOT NULL
);
CREATE TABLE messages (
    id        INTEGER PRIMARY KEY,
    room      TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    sender    TEXT NOT NULL,
    text      TEXT NOT NULL,
    client_id TEXT NOT NULL DEFAULT '',
    deleted   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (room, seq)
);
)sql"},
    {2, "seq high-water mark, age index and full-text search",
     // last_seq: the highest seq ever appended to the room (a high-water mark), so
     // seq continues after a restart even when retention removed the newest rows.
     //
     // The FTS5 index takes its content from a view of the visible (not deleted)
     // messages, so the index holds exactly those rows and the triggers keep it so:
     // a tombstone leaves the index the moment it is written. The integer `id`
     // exists for the index's rowid (FTS5 needs one); (room, seq) is the real key.
     R"sql(
ALTER TABLE rooms ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET last_seq = coalesce((SELECT max(seq) FROM messages WHERE room = rooms.id), 0);
CREATE INDEX messages_ts ON messages (ts);
CREATE VIEW messages_visible AS SELECT id, text FROM messages WHERE deleted = 0;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content = 'messages_visible', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.deleted = 0 BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.deleted = 0 BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- One trigger with both steps in order: the firing order of separate triggers is
-- not defined, and an insert before the delete would corrupt the index.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.deleted = 0;
    INSERT INTO messages_fts (rowid, text) SELECT new.id, new.text WHERE new.deleted = 0;
END;
)sql"},
    {3, "open marker for detecting an unclean stop",
     // `open` is '1' while a store has the file open and '0' after it closed
     // cleanly; finding '1' at start-up means the last process died (kill -9, a
     // crash) and may have lost its last uncommitted messages.
     R"sql(
CREATE TABLE store_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
INSERT INTO store_state (key, value) VALUES ('open', '0');
)sql"},
    {4, "message author identity",
     // `author`: a digest of the author's resume token (never the token), so only
     // the author may delete a message after a restart. Rows written before this
     // step have none and can be deleted by nobody: a nickname proves nothing.
     R"sql(
ALTER TABLE messages ADD COLUMN author TEXT NOT NULL DEFAULT '';
)sql"},
    {5, "message edits",
     // `edited_at`: when the author last replaced the text (ms since the Unix
     // epoch), 0 for never. The text index follows an edit through the update
     // trigger of step 2 (it fires on `text`).
     R"sql(
ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0;
)sql"},
    {6, "reactions",
     // One row per (message, emoji, author): set semantics, so two reactions made
     // at once cannot lose each other. The rowid orders a message's emojis by
     // first use. A message removed (retention, its room removed) takes its
     // reactions with it.
     R"sql(
CREATE TABLE reactions (
    room   TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    emoji  TEXT NOT NULL,
    author TEXT NOT NULL,
    PRIMARY KEY (room, seq, emoji, author)
);
CREATE TRIGGER messages_reactions_delete AFTER DELETE ON messages BEGIN
    DELETE FROM reactions WHERE room = old.room AND seq = old.seq;
END;
)sql"},
}};

/// The schema version this build writes.
inline constexpr int sqlite_schema_version = sqlite_migrations.back().version;

/// `PRAGMA application_id` of a parley database ("PRLY"), so a file of another
/// program is recognised and left alone.
inline constexpr long sqlite_application_id = 0x50524C59;

inline int sqlite_user_version(SqliteConnection& db) {
    return std::stoi(db.query_text("PRAGMA user_version", "cannot read the schema version"));
}

/// Brings the file up to `target` (default: the latest), all steps in one
/// transaction. Throws StoreError for a file from a newer parley or a failed step.
inline void sqlite_migrate(SqliteConnection& db, int target = sqlite_schema_version) {
    db.exec_or_throw("BEGIN IMMEDIATE", "cannot lock the database to check its schema");
    try {
        const int current = sqlite_user_version(db);
        const long application = std::stol(db.query_text("PRAGMA application_id", "cannot read the application id"));
        if (application != 0 && application != sqlite_application_id)
            throw StoreError(db.path(), "not a parley database: it belongs to another application "
                                        "(application_id " + std::to_string(application) + ")");
        if (current == 0 &&
            db.query_text("SELECT count(*) FROM sqlite_master", "cannot read the schema") != "0")
            throw StoreError(db.path(), "not a parley database: it holds another program's tables");
        if (current > sqlite_schema_version)
            throw StoreError(db.path(), "schema version " + std::to_string(current) +
                                            " is newer than this parley understands (" +
                                            std::to_string(sqlite_schema_version) + ")");
        for (const auto& step : sqlite_migrations) {
            if (step.version <= current || step.version > target) continue;
            if (db.exec(step.sql) != SQLITE_OK)
                throw StoreError(db.path(), "migration to schema version " +
                                                std::to_string(step.version) + " (" +
                                                step.description + ") failed: " + db.error());
            const std::string set = "PRAGMA user_version = " + std::to_string(step.version);
            db.exec_or_throw(set.c_str(), "cannot record the schema version");
        }
        if (current == 0) {
            const std::string mark = "PRAGMA application_id = " + std::to_string(sqlite_application_id);
            db.exec_or_throw(mark.c_str(), "cannot mark the file as a parley database");
        }
        db.exec_or_throw("COMMIT", "cannot commit the schema");
    } catch (...) {
        if (db.in_transaction()) db.exec("ROLLBACK");
        throw;
    }
}

}  // namespace detail
PARLEY_NAMESPACE_END
