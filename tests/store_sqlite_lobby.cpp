// A Lobby over a SqliteStore: what survives a restart, resume from the store,
// history across everything stored, search over the protocol, and a full disk.

#include "store_sqlite_support.hpp"

using namespace store_test;
using protocol_test::array;
using protocol_test::boolean;
using protocol_test::Doc;
using protocol_test::field;
using protocol_test::quote;
using protocol_test::str;
using protocol_test::u64;

namespace {

std::vector<std::uint64_t> frame_seqs(const Doc& frame) { return protocol_test::seqs(array(frame, "messages")); }

/// The room's id by name, from a `rooms` request.
std::string room_id(Run& run, parley::testing::MockPeer& peer, const std::string& name) {
    Doc rooms = run.one(peer, R"({"type":"rooms"})", "rooms");
    const auto& list = array(rooms, "rooms");
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i)
        if (str(list[i], "name") == name) return str(list[i], "id");
    FAIL("no room named " << name);
    return {};
}

}  // namespace

TEST_CASE("after a restart the rooms are back with their epochs and seq continues", "[sqlite][lobby]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    std::string epoch, games;
    {
        Run run(path);
        auto& alice = run.user("alice");
        Doc created = run.one(alice, R"({"type":"create_room","name":"Game night"})", "room_created");
        games = str(field(created, "room"), "id");
        Doc joined = run.one(alice, R"({"type":"join","room":"general"})", "joined");
        epoch = str(joined, "epoch");
        for (int i = 1; i <= 3; ++i) run.say(alice, "general", "hello " + std::to_string(i));
        run.one(alice, R"({"type":"join","room":)" + quote(games) + "}", "joined");
        run.say(alice, games, "dice?");
        run.settle();
    }
    Run run(path);
    auto& bob = run.user("bob");
    CHECK(room_id(run, bob, "Game night") == games);
    Doc joined = run.one(bob, R"({"type":"join","room":"general"})", "joined");
    CHECK(str(joined, "epoch") == epoch);
    CHECK(frame_seqs(joined) == range(1, 3));
    CHECK(boolean(joined, "complete"));
    run.say(bob, "general", "I am new here");
    run.settle();
    auto message = bob.last("message");
    REQUIRE(message);
    CHECK(u64(*message, "seq") == 4);
    Doc joined_games = run.one(bob, R"({"type":"join","room":)" + quote(games) + "}", "joined");
    CHECK(frame_seqs(joined_games) == std::vector<std::uint64_t>{1});
}

TEST_CASE("join with since after a restart returns exactly the gap, from the store", "[sqlite][lobby]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    std::string epoch;
    {
        Run run(path);
        auto& alice = run.user("alice");
        epoch = str(run.one(alice, R"({"type":"join","room":"general"})", "joined"), "epoch");
        for (int i = 1; i <= 12; ++i) run.say(alice, "general", "m" + std::to_string(i));
        run.settle();
    }
    Run run(path);
    auto& alice = run.user("alice");
    Doc joined = run.one(alice, R"({"type":"join","room":"general","since":7,"epoch":)" + quote(epoch) + "}",
                         "joined");
    CHECK(frame_seqs(joined) == range(8, 12));
    CHECK(boolean(joined, "complete"));
    CHECK(str(array(joined, "messages")[0], "text") == "m8");

    Doc up_to_date = run.one(alice, R"({"type":"join","room":"general","since":12,"epoch":)" + quote(epoch) + "}",
                             "joined");
    CHECK(frame_seqs(up_to_date).empty());
    CHECK(boolean(up_to_date, "complete"));
}

TEST_CASE("history pages backwards across everything stored after a restart", "[sqlite][lobby]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    parley::LobbyOptions options = protocol_test::test_options();
    options.limits.history_window = 5;  // most of the history is in the store only
    {
        Run run(path, test_store_options(), options);
        auto& alice = run.user("alice");
        run.one(alice, R"({"type":"join","room":"general"})", "joined");
        for (int i = 1; i <= 47; ++i) run.say(alice, "general", "line " + std::to_string(i));
        run.settle();
    }
    Run run(path, test_store_options(), options);
    auto& alice = run.user("alice");
    run.one(alice, R"({"type":"join","room":"general","history":1})", "joined");
    run.say(alice, "general", "line 48");  // one in the new run's window too
    run.settle();

    std::vector<std::uint64_t> all;
    std::string before;
    for (int page = 0; page < 10; ++page) {
        Doc history = run.one(alice, R"({"type":"history","room":"general","limit":10)" + before + "}", "history");
        const auto got = frame_seqs(history);
        CHECK(boolean(history, "complete"));
        if (got.empty()) break;
        all.insert(all.begin(), got.begin(), got.end());
        before = ",\"before\":" + std::to_string(got.front());
    }
    CHECK(all == range(1, 48));
}

TEST_CASE("deleted messages stay tombstones after a restart and are not found by search", "[sqlite][lobby]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        Run run(path);
        auto& alice = run.user("alice");
        run.one(alice, R"({"type":"join","room":"general"})", "joined");
        run.say(alice, "general", "my password is hunter2");
        run.say(alice, "general", "oops");
        run.settle();
        run.one(alice, R"({"type":"delete","room":"general","seq":1})", "deleted");
    }
    {
        SqliteStore raw(path, test_store_options());
        const auto page = read_all(raw, "general");
        REQUIRE(page.messages.size() == 2);
        CHECK(page.messages[0]->message.deleted);
        CHECK(page.messages[0]->message.text.empty());  // the text is gone from the file
    }
    Run run(path);
    auto& bob = run.user("bob");
    Doc joined = run.one(bob, R"({"type":"join","room":"general"})", "joined");
    const auto& messages = array(joined, "messages");
    REQUIRE(messages.Size() == 2);
    CHECK(boolean(messages[0], "deleted"));
    CHECK_FALSE(protocol_test::has(messages[0], "text"));
    Doc results = run.one(bob, R"({"type":"search","room":"general","q":"hunter2"})", "search_results");
    CHECK(array(results, "messages").Empty());
}

TEST_CASE("resume into history trimmed by retention is complete:false", "[sqlite][lobby][retention]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    SqliteStoreOptions store_options = test_store_options();
    store_options.max_messages_per_room = 10;
    std::string epoch;
    {
        Run run(path, store_options);
        auto& alice = run.user("alice");
        epoch = str(run.one(alice, R"({"type":"join","room":"general"})", "joined"), "epoch");
        for (int i = 1; i <= 30; ++i) run.say(alice, "general", "m" + std::to_string(i));
        run.settle();
    }
    Run run(path, store_options);
    auto& alice = run.user("alice");
    Doc trimmed = run.one(alice, R"({"type":"join","room":"general","since":12,"epoch":)" + quote(epoch) + "}",
                          "joined");
    CHECK(frame_seqs(trimmed) == range(21, 30));
    CHECK_FALSE(boolean(trimmed, "complete"));
    Doc kept = run.one(alice, R"({"type":"join","room":"general","since":25,"epoch":)" + quote(epoch) + "}",
                       "joined");
    CHECK(frame_seqs(kept) == range(26, 30));
    CHECK(boolean(kept, "complete"));
    run.say(alice, "general", "next");
    run.settle();
    CHECK(u64(*alice.last("message"), "seq") == 31);
}

TEST_CASE("search over the protocol and the embedder API use the store's ranking", "[sqlite][lobby][search]") {
    TempDir dir;
    Run run(dir.file("chat.db"));
    auto& alice = run.user("alice");
    run.one(alice, R"({"type":"join","room":"general"})", "joined");
    run.say(alice, "general", "lunch at noon?");
    run.say(alice, "general", "lunch lunch lunch, I am hungry for lunch");
    run.say(alice, "general", "never mind");
    run.settle();

    // Not a member of a room is fine: search needs only hello.
    auto& bob = run.user("bob");
    Doc results = run.one(bob, R"({"type":"search","room":"general","q":"LUNCH","limit":1,"ref":"s1"})",
                          "search_results");
    CHECK(str(results, "ref") == "s1");
    CHECK(str(results, "q") == "LUNCH");
    CHECK(u64(results, "offset") == 0);
    CHECK(frame_seqs(results) == std::vector<std::uint64_t>{2});
    CHECK(boolean(results, "more"));
    Doc next = run.one(bob, R"({"type":"search","room":"general","q":"LUNCH","limit":1,"offset":1})",
                       "search_results");
    CHECK(frame_seqs(next) == std::vector<std::uint64_t>{1});
    CHECK_FALSE(boolean(next, "more"));

    std::optional<parley::ErrorCode> failure;
    std::vector<std::uint64_t> found;
    bool answered = false;
    run.lobby.search("general", "hungry", 0, 0,
                     [&](std::optional<parley::ErrorCode> f, parley::SearchPage page) {
                         answered = true;
                         failure = f;
                         found = seqs(page.messages);
                     });
    run.settle();
    REQUIRE(answered);
    CHECK_FALSE(failure);
    CHECK(found == std::vector<std::uint64_t>{2});
}

TEST_CASE("a full disk does not lose the room's state and is counted", "[sqlite][lobby][errors]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    parley::LobbyOptions options = protocol_test::test_options();
    options.limits.history_window = 5;
    {
        Run run(path, test_store_options(), options);
        auto& alice = run.user("alice");
        run.one(alice, R"({"type":"join","room":"general"})", "joined");
        run.say(alice, "general", "written");
        run.settle();
        run.sqlite->set_max_file_bytes(1);
        // 1500 code points (under max_text_chars), 6000 bytes: each needs a new page.
        std::string big;
        for (int i = 0; i < 1500; ++i) big += "\xF0\x9F\x98\x80";
        for (int i = 2; i <= 20; ++i) run.say(alice, "general", big);
        run.settle();
        const auto stats = run.sqlite->stats();
        CHECK(stats.write_errors >= 1);
        CHECK(stats.pending == 19);

        // The room goes on: live messages, joins with history from the window and
        // from the writes the store still holds.
        auto& bob = run.user("bob");
        Doc joined = run.one(bob, R"({"type":"join","room":"general","history":20})", "joined");
        CHECK(frame_seqs(joined) == range(1, 20));
        CHECK(boolean(joined, "complete"));
        run.say(bob, "general", "still here");
        run.settle();
        CHECK(u64(*alice.last("message"), "seq") == 21);

        run.sqlite->set_max_file_bytes(0);
        run.settle();
        CHECK(run.sqlite->stats().pending == 0);
    }
    SqliteStore store(path, test_store_options());
    CHECK(seqs(read_all(store, "general").messages) == range(1, 21));
}

TEST_CASE("after a restart a freed nickname cannot delete its former holder's messages", "[sqlite][lobby][author]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        Run run(path);
        auto& alice = run.user("alice");
        run.one(alice, R"({"type":"join","room":"general"})", "joined");
        run.say(alice, "general", "mine alone");
        run.say(alice, "general", "also mine");
        run.settle();
    }
    {
        // Another seed: a seeded Lobby would otherwise hand the impostor the very
        // token the author had, which no real server does.
        auto options = protocol_test::test_options();
        options.seed = 4242;
        Run run(path, test_store_options(), options);
        auto& impostor = run.user("alice");
        run.one(impostor, R"({"type":"join","room":"general"})", "joined");
        Doc refused = run.one(impostor, R"({"type":"delete","room":"general","seq":1})", "error");
        CHECK(str(refused, "code") == "forbidden");
        run.one(impostor, R"({"type":"history","room":"general"})", "history");
    }
    SqliteStore raw(path, test_store_options());
    const auto page = read_all(raw, "general");
    REQUIRE(page.messages.size() == 2);
    CHECK_FALSE(page.messages[0]->message.deleted);
    CHECK(page.messages[0]->message.text == "mine alone");
}

TEST_CASE("the author keeps its messages across a restart by its token, which is never stored",
          "[sqlite][lobby][author]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    std::string token;
    {
        Run run(path);
        auto& alice = run.peers.emplace_back(run.transport, run.lobby);
        alice.send(R"({"type":"hello","nick":"alice"})");
        run.settle();
        auto welcome = alice.last("welcome");
        REQUIRE(welcome);
        token = str(*welcome, "token");
        run.one(alice, R"({"type":"join","room":"general"})", "joined");
        run.say(alice, "general", "to be deleted");
        run.settle();
    }
    {
        SqliteStore raw(path, test_store_options());
        const auto page = read_all(raw, "general");
        REQUIRE(page.messages.size() == 1);
        CHECK(page.messages[0]->message.author == parley::detail::author_identity(token));
        CHECK(page.messages[0]->message.author != token);
    }
    auto options = protocol_test::test_options();
    options.seed = 4242;
    Run run(path, test_store_options(), options);
    auto& alice = run.peers.emplace_back(run.transport, run.lobby);
    alice.send(R"({"type":"hello","nick":"alice","token":)" + quote(token) + "}");
    run.settle();
    auto welcome = alice.last("welcome");
    REQUIRE(welcome);
    CHECK(str(*welcome, "token") == token);
    run.one(alice, R"({"type":"join","room":"general"})", "joined");
    run.one(alice, R"({"type":"delete","room":"general","seq":1})", "deleted");
}

TEST_CASE("a message stored without an author identity can be deleted by nobody", "[sqlite][lobby][author]") {
    TempDir dir;
    const auto path = dir.file("chat.db");
    {
        // Written as a parley before schema version 4 did: no author column.
        parley::detail::SqliteConnection db(path, true);
        parley::detail::sqlite_migrate(db, 3);
        db.exec_or_throw(R"sql(
            INSERT INTO rooms (id, name, permanent, epoch, created, last_seq) VALUES
                ('general', 'general', 1, 'old-epoch', 1, 1);
            INSERT INTO messages (room, seq, ts, sender, text, client_id, deleted) VALUES
                ('general', 1, 10, 'alice', 'from before', 'c1', 0);
        )sql",
                         "v3 rows");
    }
    Run run(path);
    auto& alice = run.user("alice");
    run.one(alice, R"({"type":"join","room":"general"})", "joined");
    Doc refused = run.one(alice, R"({"type":"delete","room":"general","seq":1})", "error");
    CHECK(str(refused, "code") == "forbidden");
}
