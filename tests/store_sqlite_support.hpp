// Shared helpers of the tests/store_sqlite_*.cpp files (parley_store_tests):
// temporary database files, message builders, and a Lobby on a MockTransport
// whose SqliteStore answers on the test's thread.
#pragma once

#include <catch2/catch.hpp>
#include <parley/parley.hpp>
#include <parley/store/sqlite.hpp>
#include <parley/testing.hpp>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "protocol_fixture.hpp"

namespace store_test {

namespace fs = std::filesystem;
using parley::ChatMessage;
using parley::HistoryPage;
using parley::HistoryQuery;
using parley::RoomRecord;
using parley::SearchPage;
using parley::SearchQuery;
using parley::SqliteStore;
using parley::SqliteStoreOptions;
using parley::StoredMessagePtr;

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when the test ends.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "parley-store-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
    REQUIRE(out.good());
}

inline RoomRecord room(const std::string& id, const std::string& epoch = "e1", bool permanent = false) {
    RoomRecord r;
    r.id = id;
    r.name = "room " + id;
    r.permanent = permanent;
    r.epoch = epoch;
    return r;
}

inline StoredMessagePtr message(std::uint64_t seq, const std::string& text, const std::string& from = "alice",
                                std::int64_t ts = 1767225600000) {
    ChatMessage m;
    m.seq = seq;
    m.ts = ts;
    m.from = from;
    m.text = text;
    m.client_id = "c" + std::to_string(seq);
    m.author = "author-of-" + std::to_string(seq);
    return parley::make_stored(std::move(m));
}

/// `store.update` with the patch that turns a message into `changed` (a
/// tombstone, or an edit), as a Hub would call it.
inline void change(SqliteStore& store, const std::string& room, StoredMessagePtr changed) {
    parley::MessagePatch patch;
    patch.seq = changed->message.seq;
    if (!changed->message.deleted) {
        patch.kind = parley::MessagePatch::Kind::edited;
        patch.text = changed->message.text;
        patch.edited_at = changed->message.edited_at;
    }
    store.update(room, patch, std::move(changed));
}

/// Every answer of a store call, captured (the store answers on its own thread;
/// `flush()` returns only after it has).
struct Answers {
    std::mutex mutex;
    std::vector<HistoryPage> pages;
    std::vector<SearchPage> results;
};

inline HistoryPage read(SqliteStore& store, const std::string& room, HistoryQuery query) {
    Answers answers;
    store.read(room, query, [&](HistoryPage page) {
        std::lock_guard<std::mutex> lock(answers.mutex);
        answers.pages.push_back(std::move(page));
    });
    store.flush();
    std::lock_guard<std::mutex> lock(answers.mutex);
    REQUIRE(answers.pages.size() == 1);
    return std::move(answers.pages.front());
}

inline HistoryPage read_all(SqliteStore& store, const std::string& room) {
    return read(store, room, HistoryQuery{0, 0, 1000000});
}

inline SearchPage search(SqliteStore& store, const std::string& room, const std::string& text,
                         std::size_t limit = 20, std::uint64_t offset = 0) {
    Answers answers;
    SearchQuery query;
    query.text = text;
    query.limit = limit;
    query.offset = offset;
    store.search(room, query, [&](SearchPage page) {
        std::lock_guard<std::mutex> lock(answers.mutex);
        answers.results.push_back(std::move(page));
    });
    store.flush();
    std::lock_guard<std::mutex> lock(answers.mutex);
    REQUIRE(answers.results.size() == 1);
    return std::move(answers.results.front());
}

inline std::vector<std::uint64_t> seqs(const std::vector<StoredMessagePtr>& messages) {
    std::vector<std::uint64_t> out;
    for (const auto& m : messages) out.push_back(m->message.seq);
    return out;
}

inline std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
    std::vector<std::uint64_t> out;
    for (auto s = first; s <= last; ++s) out.push_back(s);
    return out;
}

/// Options for tests: no integrity scan needed, quick retries.
inline SqliteStoreOptions test_store_options() {
    SqliteStoreOptions options;
    options.retry_interval = std::chrono::milliseconds(10);
    return options;
}

/// A Store that forwards to a SqliteStore but holds its answers until the test
/// thread calls `deliver()`: the MockTransport's executor is single-threaded on
/// purpose, so answers must not be posted into it from the store's thread.
class Marshalled final : public parley::Store {
public:
    explicit Marshalled(std::shared_ptr<SqliteStore> inner) : inner_(std::move(inner)) {}

    std::vector<RoomRecord> load_rooms() override { return inner_->load_rooms(); }
    void save_room(const RoomRecord& r) override { inner_->save_room(r); }
    void remove_room(const std::string& id) override { inner_->remove_room(id); }
    void append(const std::string& id, StoredMessagePtr m) override { inner_->append(id, std::move(m)); }
    void update(const std::string& id, const parley::MessagePatch& p, StoredMessagePtr t) override {
        inner_->update(id, p, std::move(t));
    }
    void read(const std::string& id, HistoryQuery query, ReadDone done) override {
        inner_->read(id, query, [this, done = std::move(done)](HistoryPage page) mutable {
            hold([done = std::move(done), page = std::move(page)]() mutable { done(std::move(page)); });
        });
    }
    bool can_search() const override { return inner_->can_search(); }
    void search(const std::string& id, SearchQuery query, SearchDone done) override {
        inner_->search(id, std::move(query), [this, done = std::move(done)](SearchPage page) mutable {
            hold([done = std::move(done), page = std::move(page)]() mutable { done(std::move(page)); });
        });
    }

    /// Waits for the store to finish what was asked, then runs its answers here.
    std::size_t deliver() {
        inner_->flush();
        std::deque<std::function<void()>> ready;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ready.swap(held_);
        }
        for (auto& answer : ready) answer();
        return ready.size();
    }

private:
    void hold(std::function<void()> answer) {
        std::lock_guard<std::mutex> lock(mutex_);
        held_.push_back(std::move(answer));
    }

    std::shared_ptr<SqliteStore> inner_;
    std::mutex mutex_;
    std::deque<std::function<void()>> held_;
};

/// A Lobby on a MockTransport over a SqliteStore at `path`: one server run.
/// Destroying it shuts the lobby down and closes the store, like a clean stop.
struct Run {
    explicit Run(const std::string& path, SqliteStoreOptions store_options = test_store_options(),
                 parley::LobbyOptions options = protocol_test::test_options())
        : sqlite(std::make_shared<SqliteStore>(path, std::move(store_options))),
          store(std::make_shared<Marshalled>(sqlite)),
          lobby(transport, with_store(std::move(options), store)) {}

    ~Run() {
        lobby.shutdown("test over");
        settle();
    }

    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    /// Runs the executor and the store's answers until neither has work left.
    void settle() {
        for (;;) {
            const auto ran = transport.run_until_idle();
            const auto answered = store->deliver();
            if (ran == 0 && answered == 0) break;
        }
    }

    parley::testing::MockPeer& user(const std::string& nick) {
        peers.emplace_back(transport, lobby);
        auto& peer = peers.back();
        peer.send(R"({"type":"hello","nick":)" + protocol_test::quote(nick) + "}");
        settle();
        REQUIRE(peer.last("welcome"));
        peer.take();
        return peer;
    }

    /// Sends `request` and returns the frames read since the last take, parsed.
    std::vector<protocol_test::Doc> exchange(parley::testing::MockPeer& peer, const std::string& request) {
        peer.take();
        peer.send(request);
        settle();
        std::vector<protocol_test::Doc> out;
        for (const auto& text : peer.take()) out.push_back(protocol_test::parse(text));
        return out;
    }

    /// Sends `request` whose reply (the first frame of `type`) is returned.
    protocol_test::Doc one(parley::testing::MockPeer& peer, const std::string& request, const std::string& type) {
        auto frames = exchange(peer, request);
        INFO("request: " << request);
        for (auto& frame : frames)
            if (protocol_test::type_of(frame) == type) return std::move(frame);
        FAIL("no " << type << " frame");
        return {};
    }

    void say(parley::testing::MockPeer& peer, const std::string& room, const std::string& text) {
        peer.send(R"({"type":"send","room":)" + protocol_test::quote(room) +
                  R"(,"text":)" + protocol_test::quote(text) + "}");
    }

    static parley::LobbyOptions with_store(parley::LobbyOptions options, std::shared_ptr<parley::Store> store) {
        options.store = std::move(store);
        return options;
    }

    parley::testing::MockTransport transport;
    std::shared_ptr<SqliteStore> sqlite;
    std::shared_ptr<Marshalled> store;
    parley::Lobby<parley::testing::MockTransport> lobby;
    std::deque<parley::testing::MockPeer> peers;
};

}  // namespace store_test
