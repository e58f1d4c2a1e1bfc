// The SQLite store when things go wrong: bad files at start-up, a full disk later.

#include "store_sqlite_support.hpp"

#include <unistd.h>

using namespace store_test;

namespace {

/// Opening `path` must throw a StoreError naming the path, with `needle` in its text.
void expect_store_error(const std::string& path, const std::string& needle,
                        SqliteStoreOptions options = test_store_options()) {
    try {
        SqliteStore store(path, options);
        FAIL("opened " << path);
    } catch (const parley::StoreError& e) {
        INFO("what(): " << e.what());
        CHECK(e.path() == path);
        CHECK_THAT(e.what(), Catch::StartsWith(path + ": "));
        CHECK_THAT(e.what(), Catch::Contains(needle, Catch::CaseSensitive::No));
    }
}

}  // namespace

TEST_CASE("a file that is not a database gives a StoreError with the path and SQLite's message",
          "[sqlite][errors]") {
    TempDir dir;
    const auto path = dir.file("notes.db");
    std::string text;
    for (int i = 0; i < 200; ++i) text += "this is a text file, not a database\n";
    write_file(path, text);
    expect_store_error(path, "file is not a database");
    // The file was not touched.
    std::ifstream in(path, std::ios::binary);
    CHECK(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) == text);
}

TEST_CASE("another program's SQLite database is refused and left untouched", "[sqlite][errors]") {
    TempDir dir;
    const auto path = dir.file("inventory.db");
    {
        parley::detail::SqliteConnection other(path, true);
        other.exec_or_throw("CREATE TABLE items (name TEXT)", "create");
        other.exec_or_throw("INSERT INTO items VALUES ('sword')", "insert");
    }
    expect_store_error(path, "not a parley database");
    {
        parley::detail::SqliteConnection other(path, false);
        CHECK(other.query_text("SELECT name FROM items", "read") == "sword");
        CHECK(other.query_text("PRAGMA user_version", "read") == "0");
        CHECK(other.query_text("SELECT count(*) FROM sqlite_master", "read") == "1");
    }

    const auto marked = dir.file("marked.db");
    {
        parley::detail::SqliteConnection other(marked, true);
        other.exec_or_throw("PRAGMA application_id = 1234", "mark");
    }
    expect_store_error(marked, "another application");

    // An empty file (or a fresh database) becomes a parley database, marked as one.
    const auto fresh = dir.file("fresh.db");
    { SqliteStore store(fresh, test_store_options()); }
    parley::detail::SqliteConnection check(fresh, false);
    CHECK(check.query_text("PRAGMA application_id", "read") ==
          std::to_string(parley::detail::sqlite_application_id));
}

TEST_CASE("a damaged database is refused at start-up", "[sqlite][errors]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        SqliteStore store(path, test_store_options());
        store.save_room(room("general"));
        for (std::uint64_t s = 1; s <= 2000; ++s) store.append("general", message(s, std::string(100, 'z')));
    }
    // Overwrite a stretch in the middle of the file (the header stays valid).
    const auto size = fs::file_size(path);
    REQUIRE(size > 64 * 1024);
    {
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(size / 2));
        const std::string garbage(16 * 1024, '\xA5');
        file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
        REQUIRE(file.good());
    }
    expect_store_error(path, "damaged");
}

TEST_CASE("an unwritable path gives a StoreError", "[sqlite][errors]") {
    TempDir dir;
    expect_store_error(dir.file("missing-dir/chat.db"), "unable to open database file");
    expect_store_error(dir.path().string(), "unable to open database file");  // a directory
}

TEST_CASE("a read-only database file gives a StoreError", "[sqlite][errors]") {
    if (::geteuid() == 0) {
        WARN("running as root, which may write to read-only files: skipped");
        return;
    }
    TempDir dir;
    const auto path = dir.file("chat.db");
    { SqliteStore store(path, test_store_options()); }
    fs::remove(path + "-wal");
    fs::remove(path + "-shm");
    fs::permissions(path, fs::perms::owner_read);
    expect_store_error(path, "read-only");
}

TEST_CASE("an in-memory path is refused: MemoryStore is for running without a file", "[sqlite][errors]") {
    expect_store_error(":memory:", "MemoryStore");
}

TEST_CASE("a full disk at runtime keeps the writes, counts and logs the failures, and recovers",
          "[sqlite][errors]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    std::mutex log_mutex;
    std::vector<std::string> log;
    SqliteStoreOptions options = test_store_options();
    options.log = [&](std::string_view line) {
        std::lock_guard<std::mutex> lock(log_mutex);
        log.emplace_back(line);
    };
    {
        SqliteStore store(path, options);
        store.save_room(room("general"));
        store.append("general", message(1, "before the disk filled up"));
        REQUIRE(store.flush());

        store.set_max_file_bytes(1);  // no room to grow from now on
        for (std::uint64_t s = 2; s <= 100; ++s) store.append("general", message(s, std::string(5000, 'w')));
        CHECK_FALSE(store.flush());
        auto stats = store.stats();
        CHECK(stats.write_errors >= 1);
        CHECK(stats.failing);
        CHECK(stats.pending == 99);
        CHECK_THAT(stats.last_error, Catch::Contains("full"));
        {
            std::lock_guard<std::mutex> lock(log_mutex);
            REQUIRE_FALSE(log.empty());
            CHECK_THAT(log.back(), Catch::Contains(path) && Catch::Contains("full") &&
                                       Catch::Contains("99 writes kept"));
        }
        // Nothing is lost: reads see every message.
        CHECK(seqs(read_all(store, "general").messages) == range(1, 100));

        // A retry fails again and is counted again.
        const auto errors = stats.write_errors;
        CHECK_FALSE(store.flush());
        CHECK(store.stats().write_errors > errors);

        store.set_max_file_bytes(0);
        CHECK(store.flush());
        stats = store.stats();
        CHECK_FALSE(stats.failing);
        CHECK(stats.pending == 0);
        CHECK_THAT(stats.last_error, Catch::Contains("full"));  // kept after recovery
        std::lock_guard<std::mutex> lock(log_mutex);
        CHECK_THAT(log.back(), Catch::Contains("writing works again"));
    }
    SqliteStore store(path, test_store_options());
    CHECK(seqs(read_all(store, "general").messages) == range(1, 100));
    CHECK(store.load_rooms().at(0).last_seq == 100);
}

TEST_CASE("while the disk refuses writes, at most max_pending are kept, oldest messages dropped first",
          "[sqlite][errors]") {
    TempDir dir;
    SqliteStoreOptions options = test_store_options();
    options.max_batch = 10;
    options.max_pending = 30;
    SqliteStore store(dir.file("chat.db"), options);
    store.save_room(room("general"));
    REQUIRE(store.flush());
    store.set_max_file_bytes(1);
    for (std::uint64_t s = 1; s <= 80; ++s) store.append("general", message(s, std::string(5000, 'd')));
    store.save_room(room("late"));  // a room change is never dropped
    store.flush();
    const auto stats = store.stats();
    CHECK(stats.pending <= 30);
    CHECK(stats.dropped >= 51);
    CHECK(stats.dropped + stats.pending == 81);

    store.set_max_file_bytes(0);
    REQUIRE(store.flush());
    const auto kept = seqs(read_all(store, "general").messages);
    REQUIRE_FALSE(kept.empty());
    CHECK(kept.back() == 80);  // the newest survive
    bool late = false;
    for (const auto& r : store.load_rooms()) late = late || r.id == "late";
    CHECK(late);
}
