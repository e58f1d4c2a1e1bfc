// Protocol v1, identity: hello/welcome, nickname rules and uniqueness, nick changes.

#include "protocol_fixture.hpp"

using namespace protocol_test;

namespace {

bool is_lower_hex(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

TEST_CASE("hello is answered with a welcome carrying session, nick, token, protocol 1 and the limits",
          "[protocol][identity]") {
    Limits limits = test_limits();
    // Values unlike the defaults, so a welcome that reports defaults fails.
    limits.max_frame_bytes = 12345;
    limits.max_text_chars = 321;
    limits.max_nick_chars = 17;
    limits.max_room_name_chars = 33;
    limits.max_rooms_per_client = 7;
    limits.max_history_page = 99;
    limits.rate_per_second = 13;
    limits.rate_burst = 31;
    limits.typing_expiry = std::chrono::milliseconds(4321);
    limits.typing_throttle = std::chrono::milliseconds(1234);
    limits.ping_interval = std::chrono::milliseconds(22222);
    limits.idle_timeout = std::chrono::milliseconds(55555);
    Server s(test_options(limits));

    MockPeer& alice = s.connect();
    Doc welcome = s.one(alice, R"({"type":"hello","nick":"alice","ref":"h1"})", "welcome");
    CHECK(str(welcome, "ref") == "h1");
    CHECK(str(welcome, "nick") == "alice");
    CHECK(str(welcome, "session") == s.lobby.node_id() + "-1");
    const std::string token = str(welcome, "token");
    CHECK(token.size() == 32);
    CHECK(is_lower_hex(token));
    CHECK(u64(welcome, "protocol") == 1);

    const Value& l = field(welcome, "limits");
    CHECK(keys(l) == std::vector<std::string>{"max_frame_bytes", "max_text_chars", "max_nick_chars",
                                              "max_room_name_chars", "max_rooms_per_client",
                                              "max_history_page", "rate_per_second", "rate_burst",
                                              "typing_expiry_ms", "typing_throttle_ms",
                                              "ping_interval_ms", "idle_timeout_ms", "edit_window_ms", "max_reactions_per_message", "max_emoji_bytes"});
    CHECK(u64(l, "max_frame_bytes") == 12345);
    CHECK(u64(l, "max_text_chars") == 321);
    CHECK(u64(l, "max_nick_chars") == 17);
    CHECK(u64(l, "max_room_name_chars") == 33);
    CHECK(u64(l, "max_rooms_per_client") == 7);
    CHECK(u64(l, "max_history_page") == 99);
    CHECK(u64(l, "rate_per_second") == 13);
    CHECK(u64(l, "rate_burst") == 31);
    CHECK(u64(l, "typing_expiry_ms") == 4321);
    CHECK(u64(l, "typing_throttle_ms") == 1234);
    CHECK(u64(l, "ping_interval_ms") == 22222);
    CHECK(u64(l, "idle_timeout_ms") == 55555);

    // A second session gets its own session name and token.
    MockPeer& bob = s.connect();
    Doc second = s.one(bob, R"({"type":"hello","nick":"bob","ref":2})", "welcome");
    CHECK(i64(second, "ref") == 2);
    CHECK(str(second, "session") == s.lobby.node_id() + "-2");
    CHECK(str(second, "token") != token);
    CHECK(s.metrics().identified_sessions == 2);
}

TEST_CASE("the welcome frame matches its golden copy", "[protocol][identity][golden]") {
    LobbyOptions options;  // the default limits, as a real server announces them
    options.seed = 42;
    Server s(options);
    MockPeer& alice = s.connect();
    alice.send(R"({"type":"hello","nick":"alice","ref":"h1"})");
    s.run();
    const auto frames = alice.take();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0] == golden("protocol_welcome.json"));
}

TEST_CASE("a second hello is refused with already_identified and claims nothing",
          "[protocol][identity]") {
    Server s;
    MockPeer& alice = s.user("alice");
    Doc error = s.expect_error(alice, R"({"type":"hello","nick":"bob","ref":"again"})",
                               ErrorCode::already_identified);
    CHECK(str(error, "ref") == "again");
    // "bob" was not taken by the refused hello, and alice is still alice.
    MockPeer& bob = s.user("bob");
    (void)bob;
    s.join(alice, "general");
    auto frames = s.exchange(alice, R"({"type":"send","room":"general","text":"still me"})");
    REQUIRE(frames.size() == 1);
    CHECK(str(frames[0], "from") == "alice");
}

TEST_CASE("every request but ping and hello is refused with not_identified before hello",
          "[protocol][identity]") {
    Server s;
    MockPeer& anon = s.connect();
    const std::vector<std::string> requests = {
        R"({"type":"nick","nick":"x","ref":1})",
        R"({"type":"rooms","ref":2})",
        R"({"type":"watch_lobby","ref":3})",
        R"({"type":"create_room","name":"Somewhere","ref":4})",
        R"({"type":"join","room":"general","ref":5})",
        R"({"type":"leave","room":"general","ref":6})",
        R"({"type":"send","room":"general","text":"hi","ref":7})",
        R"({"type":"typing","room":"general","active":true,"ref":8})",
        R"({"type":"history","room":"general","ref":9})",
        R"({"type":"delete","room":"general","seq":1,"ref":10})",
        R"({"type":"dm","to":"bob","text":"hi","ref":11})",
        R"({"type":"search","room":"general","q":"hi","ref":12})",
    };
    std::int64_t ref = 0;
    for (const auto& request : requests) {
        Doc error = s.expect_error(anon, request, ErrorCode::not_identified);
        CHECK(i64(error, "ref") == ++ref);
    }
    CHECK(s.errors(ErrorCode::not_identified) == requests.size());
    // Nothing happened on the anonymous peer's behalf.
    CHECK(s.metrics().rooms_created == 0);
    CHECK(s.metrics().messages_in == 0);

    // ping works before hello, and hello still works after all those errors.
    Doc pong = s.one(anon, R"({"type":"ping","ref":"p"})", "pong");
    CHECK(str(pong, "ref") == "p");
    Doc welcome = s.one(anon, R"({"type":"hello","nick":"late"})", "welcome");
    CHECK(str(welcome, "nick") == "late");
    CHECK_FALSE(has(welcome, "ref"));
}

TEST_CASE("invalid nicknames are refused with nick_invalid", "[protocol][identity]") {
    Server s;
    MockPeer& peer = s.connect();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"25 characters", std::string(25, 'a')},
        {"a space inside", "al ice"},
        {"a leading space", " alice"},
        {"a trailing space", "alice "},
        {"a tab", "al\tice"},
        {"a newline", "al\nice"},
        {"a NUL", std::string("al\0ice", 6)},
        {"a C0 control", "al\x01ice"},
        {"DEL", "al\x7fice"},
        {"a C1 control (U+0085)", "al\xC2\x85ice"},
        {"a no-break space (U+00A0)", "al\xC2\xA0ice"},
        {"a zero-width space (U+200B)", "al\xE2\x80\x8Bice"},
        {"only a zero-width space", "\xE2\x80\x8B"},
        {"a zero-width joiner (U+200D)", "al\xE2\x80\x8Dice"},
        {"a right-to-left override (U+202E)", "\xE2\x80\xAE" "ecila"},
        {"a byte order mark (U+FEFF)", "\xEF\xBB\xBF" "alice"},
        {"an ideographic space (U+3000)", "al\xE3\x80\x80ice"},
        {"25 Hangul syllables", repeat("\xEB\xAF\xBC", 25)},
    };
    for (const auto& [what, nick] : cases) {
        INFO("nickname with " << what);
        Doc error = s.expect_error(peer, R"({"type":"hello","nick":)" + quote(nick) + R"(,"ref":"n"})",
                                   ErrorCode::nick_invalid);
        CHECK(str(error, "ref") == "n");
    }
    CHECK(s.errors(ErrorCode::nick_invalid) == cases.size());
    // A nickname at the limit is fine.
    Doc welcome = s.one(peer, R"({"type":"hello","nick":")" + std::string(24, 'a') + R"("})", "welcome");
    CHECK(str(welcome, "nick") == std::string(24, 'a'));
}

TEST_CASE("a nickname of the wrong type is a bad_request, not nick_invalid", "[protocol][identity]") {
    Server s;
    MockPeer& peer = s.connect();
    s.expect_error(peer, R"({"type":"hello"})", ErrorCode::bad_request);
    s.expect_error(peer, R"({"type":"hello","nick":42})", ErrorCode::bad_request);
    s.expect_error(peer, R"({"type":"hello","nick":null})", ErrorCode::bad_request);
    s.expect_error(peer, R"({"type":"hello","nick":"alice","token":7})", ErrorCode::bad_request);
    CHECK(s.errors(ErrorCode::nick_invalid) == 0);
}

TEST_CASE("a Hangul nickname is accepted, counted in characters and kept as written",
          "[protocol][identity]") {
    Server s;
    MockPeer& minsu = s.connect();
    Doc welcome = s.one(minsu, R"({"type":"hello","nick":"민수"})", "welcome");
    CHECK(str(welcome, "nick") == "민수");

    // 24 syllables are 72 bytes but 24 characters: accepted.
    const std::string long_name = repeat("가", 24);
    MockPeer& other = s.connect();
    Doc second = s.one(other, R"({"type":"hello","nick":")" + long_name + R"("})", "welcome");
    CHECK(str(second, "nick") == long_name);

    // The name is in use as written.
    MockPeer& copycat = s.connect();
    s.expect_error(copycat, R"({"type":"hello","nick":"민수"})", ErrorCode::nick_taken);
}

TEST_CASE("nicknames are unique regardless of ASCII case", "[protocol][identity]") {
    Server s;
    MockPeer& first = s.connect();
    Doc welcome = s.one(first, R"({"type":"hello","nick":"Alice"})", "welcome");
    CHECK(str(welcome, "nick") == "Alice");

    MockPeer& second = s.connect();
    Doc error = s.expect_error(second, R"({"type":"hello","nick":"alice","ref":"x"})",
                               ErrorCode::nick_taken);
    CHECK(str(error, "ref") == "x");
    s.expect_error(second, R"({"type":"hello","nick":"ALICE"})", ErrorCode::nick_taken);
    s.expect_error(second, R"({"type":"hello","nick":"Alice"})", ErrorCode::nick_taken);
    CHECK(s.errors(ErrorCode::nick_taken) == 3);

    // A refused hello leaves the peer free to pick another name.
    Doc other = s.one(second, R"({"type":"hello","nick":"alice2"})", "welcome");
    CHECK(str(other, "nick") == "alice2");
}

TEST_CASE("a nick change is confirmed to the changer and announced in each room it shares",
          "[protocol][identity]") {
    Server s;
    MockPeer& alice = s.member("alice");
    const std::string games = s.create_room(alice, "Games");
    s.join(alice, games);
    MockPeer& bob = s.member("bob");  // in general only
    MockPeer& carol = s.member("carol", games);
    MockPeer& dave = s.user("dave");  // in no room
    for (auto* p : {&alice, &bob, &carol, &dave}) p->take();

    Doc changed = s.one(alice, R"({"type":"nick","nick":"alicia","ref":"r1"})", "nick_changed");
    CHECK(keys(changed) == std::vector<std::string>{"type", "ref", "old", "nick"});
    CHECK(str(changed, "ref") == "r1");
    CHECK(str(changed, "old") == "alice");
    CHECK(str(changed, "nick") == "alicia");

    auto bob_frames = Server::fresh(bob);
    REQUIRE(bob_frames.size() == 1);
    CHECK(type_of(bob_frames[0]) == "nick_changed");
    CHECK(str(bob_frames[0], "room") == "general");
    CHECK(str(bob_frames[0], "old") == "alice");
    CHECK(str(bob_frames[0], "nick") == "alicia");
    CHECK_FALSE(has(bob_frames[0], "ref"));

    auto carol_frames = Server::fresh(carol);
    REQUIRE(carol_frames.size() == 1);
    CHECK(type_of(carol_frames[0]) == "nick_changed");
    CHECK(str(carol_frames[0], "room") == games);
    CHECK(str(carol_frames[0], "nick") == "alicia");

    CHECK(dave.take().empty());

    // The new name is used from now on, and it is taken; the old one is free.
    auto sent = s.exchange(alice, R"({"type":"send","room":"general","text":"hi"})");
    REQUIRE(sent.size() == 1);
    CHECK(str(sent[0], "from") == "alicia");
    Doc joined = s.join(dave, "general");
    CHECK(strings(array(joined, "members")) == std::vector<std::string>{"alicia", "bob", "dave"});
    MockPeer& late = s.connect();
    s.expect_error(late, R"({"type":"hello","nick":"ALICIA"})", ErrorCode::nick_taken);
    Doc reused = s.one(late, R"({"type":"hello","nick":"alice"})", "welcome");
    CHECK(str(reused, "nick") == "alice");
}

TEST_CASE("a nick change to a taken nickname is refused with nick_taken and changes nothing",
          "[protocol][identity]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();
    Doc error = s.expect_error(bob, R"({"type":"nick","nick":"ALICE","ref":9})", ErrorCode::nick_taken);
    CHECK(i64(error, "ref") == 9);
    CHECK(alice.take().empty());
    auto sent = s.exchange(bob, R"({"type":"send","room":"general","text":"hi"})");
    REQUIRE(sent.size() == 1);
    CHECK(str(sent[0], "from") == "bob");
}

TEST_CASE("a nick change to an invalid nickname is refused with nick_invalid", "[protocol][identity]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.expect_error(alice, R"({"type":"nick","nick":"a b"})", ErrorCode::nick_invalid);
    s.expect_error(alice, R"({"type":"nick","nick":""})", ErrorCode::nick_invalid);
    s.expect_error(alice, R"({"type":"nick"})", ErrorCode::bad_request);
    auto sent = s.exchange(alice, R"({"type":"send","room":"general","text":"hi"})");
    REQUIRE(sent.size() == 1);
    CHECK(str(sent[0], "from") == "alice");
}

TEST_CASE("changing only the case of one's own nickname is allowed", "[protocol][identity]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();
    Doc changed = s.one(alice, R"({"type":"nick","nick":"Alice"})", "nick_changed");
    CHECK(str(changed, "old") == "alice");
    CHECK(str(changed, "nick") == "Alice");
    auto bob_frames = Server::fresh(bob);
    REQUIRE(bob_frames.size() == 1);
    CHECK(str(bob_frames[0], "nick") == "Alice");
    // Still one name: nobody can take the other spelling.
    MockPeer& other = s.connect();
    s.expect_error(other, R"({"type":"hello","nick":"alice"})", ErrorCode::nick_taken);
}

TEST_CASE("the welcome token reclaims a nickname after a dropped connection", "[protocol][identity]") {
    Server s;
    MockPeer& first = s.connect();
    Doc welcome = s.one(first, R"({"type":"hello","nick":"alice"})", "welcome");
    const std::string token = str(welcome, "token");
    first.disconnect();  // 1006: the name stays reserved for the token holder
    s.run();

    MockPeer& stranger = s.connect();
    s.expect_error(stranger, R"({"type":"hello","nick":"alice"})", ErrorCode::nick_taken);
    s.expect_error(stranger, R"({"type":"hello","nick":"alice","token":"0123"})", ErrorCode::nick_taken);

    MockPeer& again = s.connect();
    Doc back = s.one(again, R"({"type":"hello","nick":"ALICE","token":)" + quote(token) + "}", "welcome");
    CHECK(str(back, "nick") == "ALICE");
    CHECK(str(back, "token") == token);
}
