// Protocol v1, messages: send, text rules, history paging, delete and direct messages.

#include "protocol_fixture.hpp"

using namespace protocol_test;

namespace {

std::string send_request(const std::string& room, const std::string& text) {
    return R"({"type":"send","room":)" + quote(room) + R"(,"text":)" + quote(text) + "}";
}

std::string dm_request(const std::string& to, const std::string& text) {
    return R"({"type":"dm","to":)" + quote(to) + R"(,"text":)" + quote(text) + "}";
}

/// Sends `count` messages "m<i>" as `peer` into general.
void send_many(Server& s, MockPeer& peer, int count) {
    for (int i = 1; i <= count; ++i) s.exchange(peer, send_request("general", "m" + std::to_string(i)));
}

}  // namespace

TEST_CASE("send delivers one message frame to every member, the sender included",
          "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    MockPeer& carol = s.user("carol");  // not in the room
    alice.take();
    const auto t0 = wall_ms(s.transport);

    auto mine = s.exchange(alice, R"({"type":"send","room":"general","text":"hi bob","client_id":"c1","ref":"s1"})");
    REQUIRE(mine.size() == 1);
    const Doc& m1 = mine[0];
    CHECK(keys(m1) == std::vector<std::string>{"type", "room", "seq", "ts", "from", "text", "client_id"});
    CHECK(type_of(m1) == "message");
    CHECK(str(m1, "room") == "general");
    CHECK(u64(m1, "seq") == 1);
    CHECK(i64(m1, "ts") == t0);
    CHECK(str(m1, "from") == "alice");
    CHECK(str(m1, "text") == "hi bob");
    CHECK(str(m1, "client_id") == "c1");

    auto theirs = Server::fresh(bob);
    REQUIRE(theirs.size() == 1);
    CHECK(json(theirs[0]) == json(m1));
    // One encoded frame shared by every recipient.
    CHECK(alice.connection().sent_pointers.back() == bob.connection().sent_pointers.back());

    s.transport.advance(std::chrono::milliseconds(1500));
    auto second = s.exchange(bob, send_request("general", "hello alice"));
    REQUIRE(second.size() == 1);
    CHECK(keys(second[0]) == std::vector<std::string>{"type", "room", "seq", "ts", "from", "text"});
    CHECK(u64(second[0], "seq") == 2);
    CHECK(i64(second[0], "ts") == t0 + 1500);
    CHECK(str(second[0], "from") == "bob");

    auto third = s.exchange(alice, send_request("general", "third"));
    REQUIRE(third.size() == 1);
    CHECK(u64(third[0], "seq") == 3);
    CHECK(Server::fresh(bob).size() == 1);  // only the third: bob read his own already
    CHECK(carol.take().empty());
    CHECK(s.metrics().messages_in == 3);
    CHECK(s.metrics().messages_out == 6);

    // seq counts per room.
    const std::string games = s.create_room(carol, "Games");
    s.join(carol, games);
    auto other = s.exchange(carol, send_request(games, "first here"));
    REQUIRE(other.size() == 1);
    CHECK(u64(other[0], "seq") == 1);
    CHECK(str(other[0], "room") == games);
}

TEST_CASE("the message frame matches its golden copy", "[protocol][messages][golden]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.transport.advance(std::chrono::milliseconds(1234));
    alice.take();
    alice.send(R"({"type":"send","room":"general","text":"민수야, \"안녕\"\n😀 <b>&amp;</b>","client_id":"tmp-7"})");
    s.run();
    const auto frames = alice.take();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0] == golden("protocol_message.json"));
}

TEST_CASE("blank text is refused with text_empty and takes no seq", "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"spaces", "   "},
        {"tabs and newlines", "\t\n\r\n"},
        {"a zero-width space", "\xE2\x80\x8B"},
        {"an ideographic space", "\xE3\x80\x80"},
        {"no-break spaces", "\xC2\xA0\xC2\xA0"},
    };
    for (const auto& [what, text] : cases) {
        INFO("text of " << what);
        s.expect_error(alice, send_request("general", text), ErrorCode::text_empty);
    }
    CHECK(s.errors(ErrorCode::text_empty) == cases.size());
    CHECK(bob.take().empty());
    CHECK(s.metrics().messages_in == 0);
    auto sent = s.exchange(alice, send_request("general", "  padded  "));
    REQUIRE(sent.size() == 1);
    CHECK(u64(sent[0], "seq") == 1);
    CHECK(str(sent[0], "text") == "  padded  ");
}

TEST_CASE("text length is counted in code points, not bytes: text_too_long past the limit",
          "[protocol][messages]") {
    Server s;  // max_text_chars = 2000, max_frame_bytes = 16 KiB
    REQUIRE(s.lobby.limits().max_text_chars == 2000);
    MockPeer& alice = s.member("alice");

    const std::string hangul = repeat("한", 2000);  // 6000 bytes
    auto sent = s.exchange(alice, send_request("general", hangul));
    REQUIRE(sent.size() == 1);
    CHECK(str(sent[0], "text") == hangul);

    const std::string emoji = repeat("😀", 2000);  // 8000 bytes
    sent = s.exchange(alice, send_request("general", emoji));
    REQUIRE(sent.size() == 1);
    CHECK(str(sent[0], "text") == emoji);

    sent = s.exchange(alice, send_request("general", std::string(2000, 'x')));
    REQUIRE(sent.size() == 1);

    Doc error = s.expect_error(alice, R"({"type":"send","room":"general","ref":"long","text":")" +
                                          repeat("한", 2001) + R"("})",
                               ErrorCode::text_too_long);
    CHECK(str(error, "ref") == "long");
    s.expect_error(alice, send_request("general", std::string(2001, 'x')), ErrorCode::text_too_long);
    s.expect_error(alice, dm_request("alice", repeat("😀", 2001)), ErrorCode::text_too_long);
    CHECK(s.errors(ErrorCode::text_too_long) == 3);
    CHECK(s.metrics().messages_in == 3);
}

TEST_CASE("send fields of the wrong type are a bad_request", "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.expect_error(alice, R"({"type":"send","room":"general"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"send","room":"general","text":5})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"send","text":"hi"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"send","room":"general","text":"hi","client_id":5})",
                   ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"send","room":"general","text":"hi","client_id":")" +
                              std::string(65, 'c') + R"("})",
                   ErrorCode::bad_request);
    CHECK(s.metrics().messages_in == 0);
    auto sent = s.exchange(alice, R"({"type":"send","room":"general","text":"hi","client_id":")" +
                                      std::string(64, 'c') + R"("})");
    REQUIRE(sent.size() == 1);
    CHECK(str(sent[0], "client_id") == std::string(64, 'c'));
}

TEST_CASE("history pages backwards with before and limit, each page ascending", "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    send_many(s, alice, 7);

    Doc newest = s.one(alice, R"({"type":"history","room":"general","limit":3,"ref":"h"})", "history");
    CHECK(keys(newest) == std::vector<std::string>{"type", "ref", "room", "messages", "complete"});
    CHECK(str(newest, "ref") == "h");
    CHECK(str(newest, "room") == "general");
    CHECK(seqs(array(newest, "messages")) == std::vector<std::uint64_t>{5, 6, 7});
    CHECK(boolean(newest, "complete"));
    const Value& first = array(newest, "messages")[0];
    CHECK(keys(first) == std::vector<std::string>{"seq", "ts", "from", "text"});
    CHECK(str(first, "text") == "m5");
    CHECK(str(first, "from") == "alice");

    Doc older = s.one(alice, R"({"type":"history","room":"general","before":5,"limit":3})", "history");
    CHECK(seqs(array(older, "messages")) == std::vector<std::uint64_t>{2, 3, 4});
    CHECK(boolean(older, "complete"));

    Doc oldest = s.one(alice, R"({"type":"history","room":"general","before":2,"limit":3})", "history");
    CHECK(seqs(array(oldest, "messages")) == std::vector<std::uint64_t>{1});
    CHECK(boolean(oldest, "complete"));

    Doc none = s.one(alice, R"({"type":"history","room":"general","before":1})", "history");
    CHECK(array(none, "messages").Size() == 0);
    CHECK(boolean(none, "complete"));

    Doc all = s.one(alice, R"({"type":"history","room":"general"})", "history");
    CHECK(seqs(array(all, "messages")) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});

    Doc beyond = s.one(alice, R"({"type":"history","room":"general","before":1000,"limit":2})", "history");
    CHECK(seqs(array(beyond, "messages")) == std::vector<std::uint64_t>{6, 7});

    s.expect_error(alice, R"({"type":"history","room":"general","limit":0})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"history","room":"general","limit":201})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"history","room":"general","before":"5"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"history","room":"general","before":-1})", ErrorCode::bad_request);
    Doc max_page = s.one(alice, R"({"type":"history","room":"general","limit":200})", "history");
    CHECK(array(max_page, "messages").Size() == 7);
}

TEST_CASE("a history page that reaches into trimmed messages is marked incomplete",
          "[protocol][messages]") {
    Limits limits = test_limits();
    limits.history_window = 3;  // the room (and its memory store) keep 3 messages
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    send_many(s, alice, 5);

    Doc kept = s.one(alice, R"({"type":"history","room":"general","limit":3})", "history");
    CHECK(seqs(array(kept, "messages")) == std::vector<std::uint64_t>{3, 4, 5});
    CHECK(boolean(kept, "complete"));

    Doc partly = s.one(alice, R"({"type":"history","room":"general","limit":5})", "history");
    CHECK(seqs(array(partly, "messages")) == std::vector<std::uint64_t>{3, 4, 5});
    CHECK_FALSE(boolean(partly, "complete"));

    Doc gone = s.one(alice, R"({"type":"history","room":"general","before":3,"limit":2})", "history");
    CHECK(array(gone, "messages").Size() == 0);
    CHECK_FALSE(boolean(gone, "complete"));
}

TEST_CASE("deleting one's own message broadcasts deleted and leaves a tombstone",
          "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    const auto t0 = wall_ms(s.transport);
    s.exchange(alice, send_request("general", "oops"));
    s.exchange(alice, send_request("general", "fine"));
    bob.take();

    auto mine = s.exchange(alice, R"({"type":"delete","room":"general","seq":1,"ref":"d"})");
    REQUIRE(mine.size() == 1);
    CHECK(keys(mine[0]) == std::vector<std::string>{"type", "room", "seq"});
    CHECK(type_of(mine[0]) == "deleted");
    CHECK(str(mine[0], "room") == "general");
    CHECK(u64(mine[0], "seq") == 1);
    auto theirs = Server::fresh(bob);
    REQUIRE(theirs.size() == 1);
    CHECK(json(theirs[0]) == json(mine[0]));

    Doc history = s.one(bob, R"({"type":"history","room":"general"})", "history");
    const Value& messages = array(history, "messages");
    REQUIRE(messages.Size() == 2);
    CHECK(keys(messages[0]) == std::vector<std::string>{"seq", "ts", "deleted"});
    CHECK(u64(messages[0], "seq") == 1);
    CHECK(i64(messages[0], "ts") == t0);
    CHECK(boolean(messages[0], "deleted"));
    CHECK(str(messages[1], "text") == "fine");

    MockPeer& carol = s.user("carol");
    Doc joined = s.join(carol, "general");
    const Value& replay = array(joined, "messages");
    REQUIRE(replay.Size() == 2);
    CHECK(keys(replay[0]) == std::vector<std::string>{"seq", "ts", "deleted"});
    CHECK(boolean(replay[0], "deleted"));
    CHECK_FALSE(has(replay[0], "text"));

    // A tombstone cannot be deleted again; seq is never reused.
    s.expect_error(alice, R"({"type":"delete","room":"general","seq":1})", ErrorCode::not_found);
    auto next = s.exchange(alice, send_request("general", "after"));
    REQUIRE(next.size() == 1);
    CHECK(u64(next[0], "seq") == 3);
}

TEST_CASE("deleting someone else's message is refused with forbidden", "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    s.exchange(alice, send_request("general", "mine"));
    alice.take();
    Doc error = s.expect_error(bob, R"({"type":"delete","room":"general","seq":1,"ref":7})",
                               ErrorCode::forbidden);
    CHECK(i64(error, "ref") == 7);
    CHECK(alice.take().empty());
    Doc history = s.one(bob, R"({"type":"history","room":"general"})", "history");
    CHECK(str(array(history, "messages")[0], "text") == "mine");
}

TEST_CASE("a message stays its author's across a nick change, not the nickname's",
          "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.exchange(alice, send_request("general", "one"));
    s.exchange(alice, send_request("general", "two"));
    s.one(alice, R"({"type":"nick","nick":"alicia"})", "nick_changed");

    // Someone else takes the freed name: it does not make them the author.
    MockPeer& mallory = s.member("alice");
    alice.take();
    s.expect_error(mallory, R"({"type":"delete","room":"general","seq":1})", ErrorCode::forbidden);
    CHECK(alice.take().empty());

    // The author, under the new name, still may.
    auto deleted = s.exchange(alice, R"({"type":"delete","room":"general","seq":2})");
    REQUIRE(deleted.size() == 1);
    CHECK(type_of(deleted[0]) == "deleted");
    CHECK(u64(deleted[0], "seq") == 2);
}

TEST_CASE("an author who reclaims the nickname with the token may delete earlier messages",
          "[protocol][messages]") {
    Server s;
    MockPeer& first = s.connect();
    const std::string token =
        str(s.one(first, R"({"type":"hello","nick":"alice"})", "welcome"), "token");
    s.join(first, "general");
    s.exchange(first, send_request("general", "before the drop"));
    first.disconnect();
    s.run();

    MockPeer& again = s.connect();
    s.one(again, R"({"type":"hello","nick":"alice","token":)" + quote(token) + "}", "welcome");
    s.join(again, "general");
    auto deleted = s.exchange(again, R"({"type":"delete","room":"general","seq":1})");
    REQUIRE(deleted.size() == 1);
    CHECK(type_of(deleted[0]) == "deleted");
}

TEST_CASE("deleting an unknown seq is refused with not_found", "[protocol][messages]") {
    Limits limits = test_limits();
    limits.history_window = 2;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    send_many(s, alice, 3);  // seq 1 is trimmed

    Doc error = s.expect_error(alice, R"({"type":"delete","room":"general","seq":99,"ref":"x"})",
                               ErrorCode::not_found);
    CHECK(str(error, "ref") == "x");
    s.expect_error(alice, R"({"type":"delete","room":"general","seq":0})", ErrorCode::not_found);
    s.expect_error(alice, R"({"type":"delete","room":"general","seq":4})", ErrorCode::not_found);
    s.expect_error(alice, R"({"type":"delete","room":"general","seq":1})", ErrorCode::not_found);
    CHECK(s.errors(ErrorCode::not_found) == 4);
    s.expect_error(alice, R"({"type":"delete","room":"general"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"delete","room":"general","seq":"2"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"delete","room":"general","seq":-2})", ErrorCode::bad_request);
    // The kept ones can still be deleted.
    auto deleted = s.exchange(alice, R"({"type":"delete","room":"general","seq":2})");
    REQUIRE(deleted.size() == 1);
    CHECK(type_of(deleted[0]) == "deleted");
}

TEST_CASE("a dm to an online user, named in any case, reaches both with the same frame",
          "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.user("alice");
    MockPeer& bob = s.user("Bob");
    MockPeer& carol = s.user("carol");
    const auto t0 = wall_ms(s.transport);

    auto mine = s.exchange(alice, R"({"type":"dm","to":"BOB","text":"psst","client_id":"k1"})");
    REQUIRE(mine.size() == 1);
    const Doc& dm = mine[0];
    CHECK(keys(dm) == std::vector<std::string>{"type", "from", "to", "text", "ts", "id", "client_id"});
    CHECK(type_of(dm) == "dm");
    CHECK(str(dm, "from") == "alice");
    CHECK(str(dm, "to") == "Bob");  // the name as its owner wrote it
    CHECK(str(dm, "text") == "psst");
    CHECK(i64(dm, "ts") == t0);
    CHECK(str(dm, "client_id") == "k1");
    const std::string id = str(dm, "id");
    CHECK_FALSE(id.empty());

    auto theirs = Server::fresh(bob);
    REQUIRE(theirs.size() == 1);
    CHECK(json(theirs[0]) == json(dm));
    CHECK(alice.connection().sent_pointers.back() == bob.connection().sent_pointers.back());
    CHECK(carol.take().empty());

    auto reply = s.exchange(bob, dm_request("alice", "what?"));
    REQUIRE(reply.size() == 1);
    CHECK(str(reply[0], "from") == "Bob");
    CHECK(str(reply[0], "to") == "alice");
    CHECK_FALSE(has(reply[0], "client_id"));
    CHECK(str(reply[0], "id") != id);
    CHECK(Server::fresh(alice).size() == 1);
    CHECK(s.metrics().messages_in == 2);
    CHECK(s.metrics().messages_out == 4);
}

TEST_CASE("the dm frame matches its golden copy", "[protocol][messages][golden]") {
    Server s;
    MockPeer& alice = s.user("alice");
    MockPeer& minsu = s.user("민수");
    s.transport.advance(std::chrono::seconds(2));
    alice.send(R"({"type":"dm","to":"민수","text":"안녕!","client_id":"dm-1"})");
    s.run();
    const auto frames = minsu.take();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0] == golden("protocol_dm.json"));
}

TEST_CASE("a dm to nobody online is refused with user_not_found", "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.user("alice");
    MockPeer& bob = s.user("bob");
    Doc error = s.expect_error(alice, R"({"type":"dm","to":"nobody","text":"hi","ref":"q"})",
                               ErrorCode::user_not_found);
    CHECK(str(error, "ref") == "q");
    // A dropped user's name is reserved for a while, but nobody reads it.
    bob.disconnect();
    s.run();
    s.expect_error(alice, dm_request("bob", "hi"), ErrorCode::user_not_found);
    CHECK(s.errors(ErrorCode::user_not_found) == 2);
    CHECK(s.metrics().messages_in == 0);
    s.expect_error(alice, dm_request("bob", " "), ErrorCode::text_empty);
    s.expect_error(alice, R"({"type":"dm","text":"hi"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"dm","to":"bob","text":"hi","client_id":")" + std::string(65, 'c') +
                              R"("})",
                   ErrorCode::bad_request);
}

TEST_CASE("a dm to oneself arrives once", "[protocol][messages]") {
    Server s;
    MockPeer& alice = s.user("alice");
    auto frames = s.exchange(alice, dm_request("ALICE", "note to self"));
    REQUIRE(frames.size() == 1);
    CHECK(type_of(frames[0]) == "dm");
    CHECK(str(frames[0], "from") == "alice");
    CHECK(str(frames[0], "to") == "alice");
    CHECK(str(frames[0], "text") == "note to self");
}
