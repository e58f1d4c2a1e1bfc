// Protocol v1: editing one's own message, and exactly-once send by client_id.

#include "protocol_fixture.hpp"

using namespace protocol_test;

namespace {

std::string send_request(const std::string& text, const std::string& client_id = "") {
    std::string r = R"({"type":"send","room":"general","text":)" + quote(text);
    if (!client_id.empty()) r += R"(,"client_id":)" + quote(client_id);
    return r + "}";
}

std::string edit_request(std::uint64_t seq, const std::string& text) {
    return R"({"type":"edit","room":"general","seq":)" + std::to_string(seq) + R"(,"text":)" + quote(text) +
           R"(,"ref":"e"})";
}

}  // namespace

TEST_CASE("editing one's own message tells every member and history keeps the new text",
          "[protocol][edit]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    s.exchange(alice, send_request("helo", "c1"));
    s.exchange(alice, send_request("second"));
    bob.take();
    s.transport.advance(std::chrono::seconds(30));
    const auto edited_at = wall_ms(s.transport);

    auto mine = s.exchange(alice, edit_request(1, "hello"));
    REQUIRE(mine.size() == 1);
    CHECK(keys(mine[0]) == std::vector<std::string>{"type", "room", "seq", "text", "edited_at"});
    CHECK(type_of(mine[0]) == "edited");
    CHECK(u64(mine[0], "seq") == 1);
    CHECK(str(mine[0], "text") == "hello");
    CHECK(i64(mine[0], "edited_at") == edited_at);
    auto theirs = Server::fresh(bob);
    REQUIRE(theirs.size() == 1);
    CHECK(json(theirs[0]) == json(mine[0]));

    Doc history = s.one(bob, R"({"type":"history","room":"general"})", "history");
    const Value& messages = array(history, "messages");
    REQUIRE(messages.Size() == 2);
    CHECK(keys(messages[0]) == std::vector<std::string>{"seq", "ts", "from", "text", "client_id", "edited_at"});
    CHECK(str(messages[0], "text") == "hello");
    CHECK(i64(messages[0], "edited_at") == edited_at);
    CHECK_FALSE(has(messages[1], "edited_at"));

    MockPeer& carol = s.user("carol");
    Doc joined = s.join(carol, "general");
    CHECK(str(array(joined, "messages")[0], "text") == "hello");

    // Edited again: the latest text and time win.
    s.transport.advance(std::chrono::seconds(1));
    auto again = s.exchange(alice, edit_request(1, "hello, all"));
    REQUIRE(again.size() == 1);
    CHECK(i64(again[0], "edited_at") == edited_at + 1000);
    Doc later = s.one(carol, R"({"type":"history","room":"general"})", "history");
    CHECK(str(array(later, "messages")[0], "text") == "hello, all");
}

TEST_CASE("only the author may edit, only what exists, not after delete", "[protocol][edit]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    s.exchange(alice, send_request("mine"));
    s.exchange(alice, send_request("gone"));
    s.exchange(alice, R"({"type":"delete","room":"general","seq":2})");
    alice.take();
    bob.take();

    Doc forbidden = s.expect_error(bob, edit_request(1, "hijacked"), ErrorCode::forbidden);
    CHECK(str(forbidden, "ref") == "e");
    s.expect_error(alice, edit_request(2, "back"), ErrorCode::not_found);
    s.expect_error(alice, edit_request(9, "future"), ErrorCode::not_found);
    s.expect_error(alice, edit_request(1, " \u200b "), ErrorCode::text_empty);
    s.expect_error(alice, edit_request(1, std::string(s.lobby.limits().max_text_chars + 1, 'x')),
                   ErrorCode::text_too_long);
    s.expect_error(alice, R"({"type":"edit","room":"general","seq":1})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"edit","room":"elsewhere","seq":1,"text":"x"})", ErrorCode::not_in_room);
    // None of it reached anyone.
    CHECK(bob.take().empty());
    Doc history = s.one(bob, R"({"type":"history","room":"general"})", "history");
    CHECK(str(array(history, "messages")[0], "text") == "mine");
}

TEST_CASE("a message can be edited within the edit window only", "[protocol][edit]") {
    Limits limits = test_limits();
    limits.edit_window = std::chrono::minutes(15);
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    s.exchange(alice, send_request("early"));
    s.transport.advance(std::chrono::minutes(15));
    CHECK(type_of(s.exchange(alice, edit_request(1, "just in time"))[0]) == "edited");
    s.transport.advance(std::chrono::milliseconds(1));
    Doc late = s.expect_error(alice, edit_request(1, "too late"), ErrorCode::edit_expired);
    CHECK(str(late, "message").find("900 s") != std::string::npos);
}

TEST_CASE("a message older than the in-memory window is edited through the store", "[protocol][edit]") {
    Limits limits = test_limits();
    limits.history_window = 2;
    LobbyOptions options = test_options(limits);
    options.store = std::make_shared<parley::MemoryStore>(100);  // keeps what the window dropped
    Server s(options);
    MockPeer& alice = s.member("alice");
    for (int i = 1; i <= 4; ++i) s.exchange(alice, send_request("m" + std::to_string(i)));
    auto edited = s.exchange(alice, edit_request(1, "first, edited"));
    REQUIRE(edited.size() == 1);
    CHECK(type_of(edited[0]) == "edited");
    Doc history = s.one(alice, R"({"type":"history","room":"general","limit":10})", "history");
    CHECK(str(array(history, "messages")[0], "text") == "first, edited");
    MockPeer& bob = s.member("bob");
    s.expect_error(bob, edit_request(1, "not mine"), ErrorCode::forbidden);
}

TEST_CASE("a send repeated with the same client_id is stored and broadcast once", "[protocol][exactly_once]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    auto first = s.exchange(alice, send_request("only once", "c-1"));
    REQUIRE(first.size() == 1);
    bob.take();

    auto repeat = s.exchange(alice, send_request("only once", "c-1"));
    REQUIRE(repeat.size() == 1);
    CHECK(json(repeat[0]) == json(first[0]));  // the original, seq and ts included
    CHECK(bob.take().empty());

    // Another author may use the same client_id; the author's next one is new.
    auto bobs = s.exchange(bob, send_request("mine", "c-1"));
    REQUIRE(bobs.size() == 1);
    CHECK(u64(bobs[0], "seq") == 2);
    auto next = s.exchange(alice, send_request("another", "c-2"));
    CHECK(u64(next[0], "seq") == 3);
    Doc history = s.one(bob, R"({"type":"history","room":"general"})", "history");
    CHECK(array(history, "messages").Size() == 3);
}

TEST_CASE("a resend after a reconnect with the token returns the original", "[protocol][exactly_once]") {
    Server s;
    MockPeer& first = s.connect();
    const std::string token = str(s.one(first, R"({"type":"hello","nick":"alice"})", "welcome"), "token");
    s.join(first, "general");
    auto original = s.exchange(first, send_request("lost echo", "c-9"));
    REQUIRE(original.size() == 1);
    first.disconnect();
    s.run();

    MockPeer& again = s.connect();
    s.one(again, R"({"type":"hello","nick":"alice","token":)" + quote(token) + "}", "welcome");
    s.join(again, "general");
    auto repeat = s.exchange(again, send_request("lost echo", "c-9"));
    REQUIRE(repeat.size() == 1);
    CHECK(json(repeat[0]) == json(original[0]));
    Doc history = s.one(again, R"({"type":"history","room":"general"})", "history");
    CHECK(array(history, "messages").Size() == 1);

    // Someone else who took another name with the same client_id is not deduplicated.
    MockPeer& bob = s.member("bob");
    CHECK(u64(s.exchange(bob, send_request("lost echo", "c-9"))[0], "seq") == 2);
}

TEST_CASE("exactly-once holds while the message is in the window; a deleted one may be sent again",
          "[protocol][exactly_once]") {
    Limits limits = test_limits();
    limits.history_window = 3;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    s.exchange(alice, send_request("a", "k1"));
    s.exchange(alice, send_request("b", "k2"));
    s.exchange(alice, R"({"type":"delete","room":"general","seq":2})");
    alice.take();
    CHECK(u64(s.exchange(alice, send_request("b", "k2"))[0], "seq") == 3);
    for (int i = 0; i < 3; ++i) s.exchange(alice, send_request("pad", "p" + std::to_string(i)));
    // k1 (seq 1) left the window: a repeat now is a new message.
    CHECK(u64(s.exchange(alice, send_request("a", "k1"))[0], "seq") == 7);
}
