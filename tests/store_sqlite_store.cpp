// The SQLite store on its own: writes, reads, reopening, retention, migration.

#include "store_sqlite_support.hpp"

#include <sqlite3.h>

using namespace store_test;

TEST_CASE("a SqliteStore reads back what was appended, tombstones included, before and after the commit",
          "[sqlite][store]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    store.save_room(room("general"));
    for (std::uint64_t s = 1; s <= 5; ++s) store.append("general", message(s, "line " + std::to_string(s)));
    change(store, "general", parley::make_tombstone(message(2, "line 2")->message));

    // The first read races the commit (it is answered from the queue or the file,
    // with the same result); the second comes after it.
    HistoryPage page = read_all(store, "general");
    CHECK(seqs(page.messages) == range(1, 5));
    CHECK(store.stats().pending == 0);
    page = read_all(store, "general");
    REQUIRE(seqs(page.messages) == range(1, 5));
    CHECK(page.messages[1]->message.deleted);
    CHECK(page.messages[1]->json == R"({"seq":2,"ts":1767225600000,"deleted":true})");
    CHECK(page.messages[0]->json ==
          R"({"seq":1,"ts":1767225600000,"from":"alice","text":"line 1","client_id":"c1"})");
    CHECK(read_all(store, "elsewhere").messages.empty());
}

TEST_CASE("a read sees writes that are not committed yet", "[sqlite][store]") {
    TempDir dir;
    SqliteStoreOptions options = test_store_options();
    // A quota reached at once keeps every write pending (see the errors tests),
    // which makes "not committed yet" a state the test can hold still.
    SqliteStore store(dir.file("chat.db"), options);
    store.save_room(room("general"));
    store.append("general", message(1, "committed"));
    REQUIRE(store.flush());
    store.set_max_file_bytes(1);
    for (std::uint64_t s = 2; s <= 60; ++s) store.append("general", message(s, std::string(5000, 'x')));
    change(store, "general", parley::make_tombstone(message(1, "committed")->message));
    REQUIRE_FALSE(store.flush());
    REQUIRE(store.stats().pending > 0);

    const HistoryPage page = read_all(store, "general");
    REQUIRE(seqs(page.messages) == range(1, 60));
    CHECK(page.messages[0]->message.deleted);  // the pending tombstone wins over the file
    CHECK(page.messages[59]->message.text == std::string(5000, 'x'));
    store.set_max_file_bytes(0);
    CHECK(store.flush());
}

TEST_CASE("reads return the newest messages of the range, ascending", "[sqlite][store]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    store.save_room(room("general"));
    for (std::uint64_t s = 1; s <= 30; ++s) store.append("general", message(s, "m"));
    REQUIRE(store.flush());

    CHECK(seqs(read(store, "general", HistoryQuery{0, 0, 5}).messages) == range(26, 30));
    CHECK(seqs(read(store, "general", HistoryQuery{0, 26, 5}).messages) == range(21, 25));
    CHECK(seqs(read(store, "general", HistoryQuery{10, 14, 50}).messages) == range(11, 13));
    CHECK(seqs(read(store, "general", HistoryQuery{0, 3, 50}).messages) == range(1, 2));
    CHECK(read(store, "general", HistoryQuery{30, 0, 50}).messages.empty());
}

TEST_CASE("rooms, their epochs and their last seq survive reopening the file", "[sqlite][store]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        SqliteStore store(path, test_store_options());
        store.save_room(room("general", "epoch-g", true));
        store.save_room(room("r1", "epoch-1"));
        store.save_room(room("gone", "epoch-x"));
        for (std::uint64_t s = 1; s <= 7; ++s) store.append("general", message(s, "g"));
        for (std::uint64_t s = 1; s <= 3; ++s) store.append("r1", message(s, "r"));
        store.append("gone", message(1, "bye"));
        store.remove_room("gone");
        // No flush: closing the store commits what is queued.
    }
    SqliteStore store(path, test_store_options());
    auto rooms = store.load_rooms();
    REQUIRE(rooms.size() == 2);
    std::sort(rooms.begin(), rooms.end(), [](const RoomRecord& a, const RoomRecord& b) { return a.id < b.id; });
    CHECK(rooms[0].id == "general");
    CHECK(rooms[0].name == "room general");
    CHECK(rooms[0].permanent);
    CHECK(rooms[0].epoch == "epoch-g");
    CHECK(rooms[0].last_seq == 7);
    CHECK(rooms[1].id == "r1");
    CHECK_FALSE(rooms[1].permanent);
    CHECK(rooms[1].epoch == "epoch-1");
    CHECK(rooms[1].last_seq == 3);
    CHECK(read_all(store, "gone").messages.empty());
    CHECK(seqs(read_all(store, "general").messages) == range(1, 7));
}

TEST_CASE("after an unclean stop every room gets a new epoch once; seq and messages stay",
          "[sqlite][store]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        SqliteStore store(path, test_store_options());
        CHECK_FALSE(store.stats().unclean_start);
        store.save_room(room("general", "epoch-g", true));
        for (std::uint64_t s = 1; s <= 5; ++s) store.append("general", message(s, "g"));
        REQUIRE(store.flush());
        // While a store has the file, the file says so: a crash now would leave it like this.
        parley::detail::SqliteConnection peek(path, false);
        CHECK(peek.query_text("SELECT value FROM store_state WHERE key = 'open'", "read") == "1");
    }
    {
        // Closed cleanly: nothing changes.
        SqliteStore store(path, test_store_options());
        CHECK_FALSE(store.stats().unclean_start);
        const auto rooms = store.load_rooms();
        REQUIRE(rooms.size() == 1);
        CHECK(rooms[0].epoch == "epoch-g");
    }
    {
        // What kill -9 leaves behind: the marker still set.
        parley::detail::SqliteConnection db(path, false);
        db.exec_or_throw("UPDATE store_state SET value = '1' WHERE key = 'open'", "mark");
    }
    std::vector<std::string> logged;
    auto options = test_store_options();
    options.log = [&logged](std::string_view line) { logged.emplace_back(line); };
    std::string renewed;
    {
        SqliteStore store(path, options);
        CHECK(store.stats().unclean_start);
        const auto rooms = store.load_rooms();
        REQUIRE(rooms.size() == 1);
        renewed = rooms[0].epoch;
        CHECK(renewed != "epoch-g");
        CHECK(renewed.size() == 16);
        CHECK(rooms[0].last_seq == 5);
        CHECK(seqs(read_all(store, "general").messages) == range(1, 5));
        // Only the first listing renews.
        CHECK(store.load_rooms()[0].epoch == renewed);
        REQUIRE(logged.size() == 1);
        CHECK_THAT(logged[0], Catch::Contains("did not stop cleanly"));
    }
    SqliteStore store(path, test_store_options());
    CHECK_FALSE(store.stats().unclean_start);
    CHECK(store.load_rooms()[0].epoch == renewed);
}

TEST_CASE("saving a room again keeps its last seq", "[sqlite][store]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    store.save_room(room("general", "e1"));
    for (std::uint64_t s = 1; s <= 4; ++s) store.append("general", message(s, "m"));
    store.save_room(room("general", "e2"));  // last_seq 0 in the record
    const auto rooms = store.load_rooms();
    REQUIRE(rooms.size() == 1);
    CHECK(rooms[0].epoch == "e2");
    CHECK(rooms[0].last_seq == 4);
}

TEST_CASE("the per-room cap keeps the newest messages and seq still continues", "[sqlite][store][retention]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    SqliteStoreOptions options = test_store_options();
    options.max_messages_per_room = 10;
    {
        SqliteStore store(path, options);
        store.save_room(room("general"));
        store.save_room(room("quiet"));
        for (std::uint64_t s = 1; s <= 25; ++s) store.append("general", message(s, "m"));
        for (std::uint64_t s = 1; s <= 3; ++s) store.append("quiet", message(s, "q"));
        REQUIRE(store.flush());
        CHECK(seqs(read_all(store, "general").messages) == range(16, 25));
        CHECK(seqs(read_all(store, "quiet").messages) == range(1, 3));
        CHECK(store.stats().trimmed == 15);
    }
    SqliteStore store(path, options);
    for (const auto& r : store.load_rooms())
        if (r.id == "general") CHECK(r.last_seq == 25);
}

TEST_CASE("the age limit trims old messages but never the seq high-water mark", "[sqlite][store][retention]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    std::int64_t now = 1'000'000'000;
    SqliteStoreOptions options = test_store_options();
    options.max_age = std::chrono::milliseconds(1000);
    options.now_ms = [&now] { return now; };
    {
        SqliteStore store(path, options);
        store.save_room(room("general"));
        for (std::uint64_t s = 1; s <= 5; ++s)
            store.append("general", message(s, "m", "alice", now - 2000 + static_cast<std::int64_t>(s) * 400));
        REQUIRE(store.flush());
        // ts: now-1600, -1200, -800, -400, now: the first two are over a second old.
        CHECK(seqs(read_all(store, "general").messages) == range(3, 5));
        now += 5000;
        REQUIRE(store.flush());  // a flush applies retention even with nothing queued
        CHECK(read_all(store, "general").messages.empty());
        CHECK(store.stats().trimmed == 5);
    }
    SqliteStore store(path, options);
    const auto rooms = store.load_rooms();
    REQUIRE(rooms.size() == 1);
    CHECK(rooms[0].last_seq == 5);
}

TEST_CASE("writes are committed in batches of at most max_batch", "[sqlite][store]") {
    TempDir dir;
    SqliteStoreOptions options = test_store_options();
    options.max_batch = 100;
    options.max_pending = 1000;
    SqliteStore store(dir.file("chat.db"), options);
    store.save_room(room("general"));
    for (std::uint64_t s = 1; s <= 950; ++s) store.append("general", message(s, "m"));
    REQUIRE(store.flush());
    const auto stats = store.stats();
    CHECK(stats.writes == 951);
    CHECK(stats.commits >= 10);
    CHECK(stats.pending == 0);
    CHECK(stats.write_errors == 0);
    CHECK(seqs(read_all(store, "general").messages) == range(1, 950));
}

TEST_CASE("the flush interval is at most 100 ms", "[sqlite][store]") {
    TempDir dir;
    SqliteStoreOptions options;
    options.flush_interval = std::chrono::milliseconds(101);
    CHECK_THROWS_AS(SqliteStore(dir.file("chat.db"), options), std::invalid_argument);
    options.flush_interval = std::chrono::milliseconds(100);
    CHECK_NOTHROW(SqliteStore(dir.file("chat.db"), options));
}

TEST_CASE("a v1 file is migrated to the current schema with its rooms, messages and tombstones",
          "[sqlite][store][migration]") {
    TempDir dir;
    const auto path = dir.file("v1.db");
    {
        parley::detail::SqliteConnection db(path, true);
        parley::detail::sqlite_migrate(db, 1);
        REQUIRE(parley::detail::sqlite_user_version(db) == 1);
        db.exec_or_throw(R"sql(
            INSERT INTO rooms (id, name, permanent, epoch, created) VALUES
                ('general', 'general', 1, 'old-epoch', 1), ('r2', 'Games', 0, 'e2', 2);
            INSERT INTO messages (room, seq, ts, sender, text, client_id, deleted) VALUES
                ('general', 1, 10, 'alice', 'the quick brown fox', 'c1', 0),
                ('general', 2, 20, '', '', '', 1),
                ('general', 3, 30, 'bob', 'a lazy dog', '', 0),
                ('r2', 9, 40, 'carol', 'fox hunt', '', 0);
        )sql",
                         "v1 rows");
    }
    SqliteStore store(path, test_store_options());
    {
        parley::detail::SqliteConnection db(path, false);
        CHECK(parley::detail::sqlite_user_version(db) == parley::detail::sqlite_schema_version);
    }
    auto rooms = store.load_rooms();
    REQUIRE(rooms.size() == 2);
    std::sort(rooms.begin(), rooms.end(), [](const RoomRecord& a, const RoomRecord& b) { return a.id < b.id; });
    CHECK(rooms[0].epoch == "old-epoch");
    CHECK(rooms[0].last_seq == 3);
    CHECK(rooms[1].name == "Games");
    CHECK(rooms[1].last_seq == 9);
    const auto page = read_all(store, "general");
    REQUIRE(seqs(page.messages) == range(1, 3));
    CHECK(page.messages[1]->message.deleted);
    // The migration indexed the old messages: search finds them, per room.
    CHECK(seqs(search(store, "general", "fox").messages) == std::vector<std::uint64_t>{1});
    CHECK(seqs(search(store, "r2", "fox").messages) == std::vector<std::uint64_t>{9});
    // And new writes continue the schema's triggers.
    store.append("general", message(4, "another fox"));
    REQUIRE(store.flush());
    CHECK(search(store, "general", "fox").messages.size() == 2);
}

TEST_CASE("a file written by a newer parley is refused", "[sqlite][store][migration]") {
    TempDir dir;
    const auto path = dir.file("future.db");
    {
        parley::detail::SqliteConnection db(path, true);
        db.exec_or_throw("PRAGMA user_version = 99", "set version");
    }
    try {
        SqliteStore store(path, test_store_options());
        FAIL("opened a schema from the future");
    } catch (const parley::StoreError& e) {
        CHECK(e.path() == path);
        CHECK_THAT(e.what(), Catch::Contains("schema version 99 is newer"));
    }
}

TEST_CASE("message text is stored verbatim, whatever it holds", "[sqlite][store]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    const std::vector<std::string> texts = {std::string("nul\0inside", 10), "line\nbreak\ttab", "quote \" ' ` \\",
                                            "\xF0\x9F\x98\x80 \xED\x95\x9C\xEA\xB8\x80", "' OR 1=1; --",
                                            std::string(2000, 'a')};
    {
        SqliteStore store(path, test_store_options());
        store.save_room(room("general"));
        std::uint64_t seq = 0;
        for (const auto& text : texts) store.append("general", message(++seq, text));
    }
    SqliteStore store(path, test_store_options());
    const auto page = read_all(store, "general");
    REQUIRE(page.messages.size() == texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) CHECK(page.messages[i]->message.text == texts[i]);
}

TEST_CASE("the text index stays consistent through appends, deletes, retention and room removal",
          "[sqlite][store][search]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    SqliteStoreOptions options = test_store_options();
    options.max_messages_per_room = 20;
    options.max_batch = 7;  // many batches, deletes inside and across them
    {
        SqliteStore store(path, options);
        for (const char* id : {"a", "b", "c"}) store.save_room(room(id));
        for (std::uint64_t s = 1; s <= 60; ++s) {
            for (const std::string id : {"a", "b", "c"})
                if (id != "c" || s <= 30) store.append(id, message(s, "word" + std::to_string(s % 5) + " common"));
            if (s % 3 == 0) change(store, "a", parley::make_tombstone(message(s - 1, "")->message));
            if (s == 30) store.remove_room("c");
        }
        change(store, "b", parley::make_tombstone(message(60, "")->message));
        REQUIRE(store.flush());
        CHECK(search(store, "b", "common", 100).messages.size() == 19);  // 41..59 kept
        CHECK(search(store, "c", "common").messages.empty());
        const auto a = search(store, "a", "common", 100).messages;
        for (const auto& m : a) CHECK(m->message.seq % 3 != 2);  // the deleted ones
    }
    parley::detail::SqliteConnection db(path, false);
    CHECK(db.exec("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')") == SQLITE_OK);
    CHECK(db.query_text("PRAGMA integrity_check", "check") == "ok");
}

TEST_CASE("an update replaces a message's text and edit time; a tombstone is never changed back",
          "[sqlite][store][edit]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        SqliteStore store(path, test_store_options());
        store.append("general", message(1, "helo wrold"));
        store.append("general", message(2, "to be deleted"));
        // Pending and committed: reads see the edit either way.
        change(store, "general", parley::make_edited(message(1, "helo wrold")->message, "hello world", 5000));
        auto pending = read_all(store, "general");
        REQUIRE(pending.messages.size() == 2);
        CHECK(pending.messages[0]->message.text == "hello world");
        REQUIRE(store.flush());
        CHECK(seqs(search(store, "general", "world").messages) == std::vector<std::uint64_t>{1});
        CHECK(search(store, "general", "wrold").messages.empty());
        change(store, "general", parley::make_tombstone(message(2, "")->message));
        change(store, "general", parley::make_edited(message(2, "to be deleted")->message, "back again", 6000));
        REQUIRE(store.flush());
    }
    SqliteStore store(path, test_store_options());
    const auto page = read_all(store, "general");
    REQUIRE(page.messages.size() == 2);
    CHECK(page.messages[0]->message.text == "hello world");
    CHECK(page.messages[0]->message.edited_at == 5000);
    CHECK(page.messages[0]->message.author == "author-of-1");
    CHECK(page.messages[0]->json.find(R"("edited_at":5000)") != std::string::npos);
    CHECK(page.messages[1]->message.deleted);
    CHECK(search(store, "general", "back").messages.empty());
}

TEST_CASE("a file of schema version 3 (before authors and edits) migrates forward", "[sqlite][store][migration]") {
    TempDir dir;
    const auto path = dir.file("v3.db");
    {
        parley::detail::SqliteConnection db(path, true);
        parley::detail::sqlite_migrate(db, 3);
        db.exec_or_throw(R"sql(
            INSERT INTO rooms (id, name, permanent, epoch, created, last_seq) VALUES ('general', 'general', 1, 'e', 1, 2);
            INSERT INTO messages (room, seq, ts, sender, text, client_id, deleted) VALUES
                ('general', 1, 10, 'alice', 'kept as it was', 'c1', 0),
                ('general', 2, 20, '', '', '', 1);
        )sql",
                         "v3 rows");
    }
    SqliteStore store(path, test_store_options());
    const auto page = read_all(store, "general");
    REQUIRE(page.messages.size() == 2);
    CHECK(page.messages[0]->message.text == "kept as it was");
    CHECK(page.messages[0]->message.author.empty());
    CHECK(page.messages[0]->message.edited_at == 0);
    CHECK(page.messages[1]->message.deleted);
    change(store, "general", parley::make_edited(page.messages[0]->message, "edited after the upgrade", 30));
    REQUIRE(store.flush());
    CHECK(seqs(search(store, "general", "upgrade").messages) == std::vector<std::uint64_t>{1});
}

TEST_CASE("reactions are kept per author and emoji, in order of first use, and go with their message",
          "[sqlite][store][reactions]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    const auto react = [](SqliteStore& store, std::uint64_t seq, const std::string& emoji,
                          const std::string& author, bool on) {
        parley::MessagePatch patch;
        patch.kind = parley::MessagePatch::Kind::reacted;
        patch.seq = seq;
        patch.emoji = emoji;
        patch.author = author;
        patch.on = on;
        // The changed message matters only to the row; reactions are written from the patch.
        store.update("general", patch, message(seq, "m" + std::to_string(seq)));
    };
    {
        SqliteStore store(path, test_store_options());
        for (std::uint64_t s = 1; s <= 3; ++s) store.append("general", message(s, "m" + std::to_string(s)));
        react(store, 1, "🎉", "a", true);
        react(store, 1, "👍", "b", true);
        react(store, 1, "🎉", "b", true);
        react(store, 1, "🎉", "b", true);  // a repeat: still one
        react(store, 1, "👍", "b", false);
        react(store, 2, "❤️", "a", true);
        react(store, 3, "❤️", "a", true);
        REQUIRE(store.flush());
        change(store, "general", parley::make_tombstone(message(2, "")->message));
        REQUIRE(store.flush());
    }
    SqliteStore store(path, test_store_options());
    const auto page = read_all(store, "general");
    REQUIRE(page.messages.size() == 3);
    const auto& first = page.messages[0]->message;
    REQUIRE(first.reactions.size() == 1);
    CHECK(first.reactions[0].emoji == "🎉");
    CHECK(first.reactions[0].authors == std::vector<std::string>{"a", "b"});
    CHECK(page.messages[0]->json.find(R"("reactions":[{"emoji":"🎉","count":2}])") != std::string::npos);
    CHECK(page.messages[0]->message.to_json("b").find(R"("count":2,"mine":true)") != std::string::npos);
    CHECK(page.messages[1]->message.deleted);
    CHECK(page.messages[1]->message.reactions.empty());
    CHECK(page.messages[2]->message.reactions.size() == 1);
    {
        parley::detail::SqliteConnection db(path, false);
        CHECK(db.query_text("SELECT count(*) FROM reactions WHERE seq = 2", "count") == "0");
    }
    store.remove_room("general");
    REQUIRE(store.flush());
    parley::detail::SqliteConnection db(path, false);
    CHECK(db.query_text("SELECT count(*) FROM reactions", "count") == "0");
}
