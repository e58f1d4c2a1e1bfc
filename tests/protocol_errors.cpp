// Protocol v1, errors: malformed frames, the request envelope, ref echo, rate
// limiting, and the frames that close the connection (1007, 1008, 1009).

#include "protocol_fixture.hpp"

#include <memory>
#include <set>

using namespace protocol_test;

namespace {

/// A ping frame of exactly `bytes` bytes (padded with an ignored field).
std::string ping_of_size(std::size_t bytes) {
    const std::string head = R"({"type":"ping","ref":"sized","pad":")";
    const std::string tail = R"("})";
    REQUIRE(bytes >= head.size() + tail.size());
    return head + std::string(bytes - head.size() - tail.size(), 'x') + tail;
}

/// Checks that `peer` was closed by the server with `code` and sent nothing after `sent_before` frames.
void expect_closed(MockPeer& peer, std::uint16_t code, std::size_t sent_before) {
    REQUIRE_FALSE(peer.is_open());
    REQUIRE(peer.close_code().has_value());
    CHECK(*peer.close_code() == code);
    CHECK_FALSE(peer.connection().close_reason.empty());
    CHECK(peer.texts().size() == sent_before);
}

}  // namespace

TEST_CASE("frames that are not JSON are refused with bad_json", "[protocol][errors]") {
    Server s;
    MockPeer& alice = s.user("alice");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"an empty frame", ""},
        {"plain text", "hello"},
        {"an unterminated object", R"({"type":"ping")"},
        {"trailing garbage", R"({"type":"ping"} x)"},
        {"two objects", R"({"type":"ping"}{"type":"ping"})"},
        {"a line comment", "// hi\n{\"type\":\"ping\"}"},
        {"a block comment", R"({"type":"ping" /* hi */})"},
        {"NaN", R"({"type":"ping","x":NaN})"},
        {"Infinity", R"({"type":"ping","x":-Infinity})"},
        {"a trailing comma", R"({"type":"ping",})"},
        {"single quotes", R"({'type':'ping'})"},
        {"an unquoted key", R"({type:"ping"})"},
        {"a leading zero", R"({"type":"ping","x":01})"},
        {"a lone surrogate escape", R"({"type":"ping","x":"\ud800"})"},
        {"a raw control character in a string", "{\"type\":\"ping\",\"x\":\"a\x01" "b\"}"},
        {"nesting deeper than max_json_depth", R"({"type":"ping","x":[[[[[[[[1]]]]]]]]})"},
        {"a flood of brackets", std::string(16000, '[')},
    };
    for (const auto& [what, frame] : cases) {
        INFO("frame with " << what);
        Doc error = s.expect_error(alice, frame, ErrorCode::bad_json);
        CHECK_FALSE(has(error, "ref"));
    }
    CHECK(s.errors(ErrorCode::bad_json) == cases.size());

    // At the depth limit (the request object and 7 arrays) it is fine.
    REQUIRE(s.lobby.limits().max_json_depth == 8);
    Doc pong = s.one(alice, R"({"type":"ping","ref":"deep","x":[[[[[[[1]]]]]]]})", "pong");
    CHECK(str(pong, "ref") == "deep");
    // Brackets inside strings are text, not nesting.
    s.one(alice, R"({"type":"ping","x":"[[[[[[[[[[[[[[[["})", "pong");
}

TEST_CASE("JSON that is not a request envelope is refused with bad_request", "[protocol][errors]") {
    Server s;
    MockPeer& alice = s.user("alice");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"an array", R"([{"type":"ping"}])"},
        {"a string", R"("ping")"},
        {"a number", "42"},
        {"null", "null"},
        {"true", "true"},
        {"an empty object", "{}"},
        {"no type", R"({"ref":1})"},
        {"a numeric type", R"({"type":1})"},
        {"a null type", R"({"type":null})"},
        {"an array type", R"({"type":["ping"]})"},
        {"a duplicate type", R"({"type":"ping","type":"ping"})"},
        {"a duplicate field", R"({"type":"hello","nick":"a","nick":"b"})"},
        {"a boolean ref", R"({"type":"ping","ref":true})"},
        {"a fractional ref", R"({"type":"ping","ref":1.5})"},
        {"an object ref", R"({"type":"ping","ref":{}})"},
        {"an array ref", R"({"type":"ping","ref":[1]})"},
        {"a ref beyond int64", R"({"type":"ping","ref":9223372036854775808})"},
        {"a ref of 65 bytes", R"({"type":"ping","ref":")" + std::string(65, 'r') + R"("})"},
    };
    for (const auto& [what, frame] : cases) {
        INFO("frame with " << what);
        s.expect_error(alice, frame, ErrorCode::bad_request);
    }
    CHECK(s.errors(ErrorCode::bad_request) == cases.size());
}

TEST_CASE("request fields of the wrong type or missing are refused with bad_request",
          "[protocol][errors]") {
    Server s;
    MockPeer& alice = s.member("alice");
    const std::vector<std::string> requests = {
        R"({"type":"nick","nick":1,"ref":"f"})",
        R"({"type":"create_room","name":null,"ref":"f"})",
        R"({"type":"join","room":{},"ref":"f"})",
        R"({"type":"leave","ref":"f"})",
        R"({"type":"leave","room":false,"ref":"f"})",
        R"({"type":"send","room":"general","text":["hi"],"ref":"f"})",
        R"({"type":"send","room":"general","text":"hi","client_id":")" + std::string(65, 'c') +
            R"(","ref":"f"})",
        R"({"type":"typing","room":"general","ref":"f"})",
        R"({"type":"typing","room":"general","active":"yes","ref":"f"})",
        R"({"type":"typing","room":"general","active":1,"ref":"f"})",
        R"({"type":"history","room":"general","limit":"10","ref":"f"})",
        R"({"type":"delete","room":"general","seq":1.0,"ref":"f"})",
        R"({"type":"dm","to":5,"text":"hi","ref":"f"})",
        R"({"type":"dm","to":"alice","text":"hi","client_id":")" + std::string(65, 'c') + R"(","ref":"f"})",
    };
    for (const auto& request : requests) {
        Doc error = s.expect_error(alice, request, ErrorCode::bad_request);
        CHECK(str(error, "ref") == "f");  // the envelope was fine, so the ref is known
    }
    CHECK(s.errors(ErrorCode::bad_request) == requests.size());
    CHECK(s.metrics().messages_in == 0);
}

TEST_CASE("unknown request types are refused with unknown_type", "[protocol][errors]") {
    Server s;
    MockPeer& anon = s.connect();
    // Before hello too: the type is checked first.
    Doc early = s.expect_error(anon, R"({"type":"frobnicate","ref":1})", ErrorCode::unknown_type);
    CHECK(i64(early, "ref") == 1);
    s.one(anon, R"({"type":"hello","nick":"alice"})", "welcome");
    for (const auto& type : {"frobnicate", "", "PING", "Hello", "welcome", "message", "joined"}) {
        INFO("type \"" << type << "\"");
        Doc error = s.expect_error(anon, R"({"type":)" + quote(type) + R"(,"ref":"u"})",
                                   ErrorCode::unknown_type);
        CHECK(str(error, "ref") == "u");
    }
    CHECK(s.errors(ErrorCode::unknown_type) == 8);
}

TEST_CASE("the ref is echoed as written, string or integer, on replies and errors",
          "[protocol][errors]") {
    Server s;
    MockPeer& alice = s.connect();
    const std::vector<std::string> refs = {R"("a")",
                                           R"("한글 \"ref\" \\ ok")",
                                           R"("")",
                                           "0",
                                           "-17",
                                           "9223372036854775807",
                                           "9007199254740993",
                                           R"(")" + std::string(64, 'r') + R"(")"};
    auto check_ref = [&](const Doc& frame, const std::string& ref) {
        INFO("ref " << ref << " on " << json(frame));
        REQUIRE(has(frame, "ref"));
        CHECK(json(field(frame, "ref")) == json(field(parse(R"({"r":)" + ref + "}"), "r")));
    };
    std::size_t i = 0;
    auto next = [&] { return refs[i++ % refs.size()]; };

    std::string ref = next();
    check_ref(s.one(alice, R"({"type":"ping","ref":)" + ref + "}", "pong"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"rooms","ref":)" + ref + "}", "error"), ref);  // not_identified
    ref = next();
    check_ref(s.one(alice, R"({"type":"hello","nick":"alice","ref":)" + ref + "}", "welcome"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"rooms","ref":)" + ref + "}", "rooms"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"create_room","name":"Games","ref":)" + ref + "}", "room_created"),
              ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"join","room":"general","ref":)" + ref + "}", "joined"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"history","room":"general","ref":)" + ref + "}", "history"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"nick","nick":"alicia","ref":)" + ref + "}", "nick_changed"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"leave","room":"general","ref":)" + ref + "}", "left"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"leave","room":"general","ref":)" + ref + "}", "error"), ref);
    ref = next();
    check_ref(s.one(alice, R"({"type":"nope","ref":)" + ref + "}", "error"), ref);
    ref = next();  // last: from now on alice also hears lobby updates
    check_ref(s.one(alice, R"({"type":"watch_lobby","ref":)" + ref + "}", "rooms"), ref);

    // A null ref is no ref (null means absent for every optional field).
    Doc pong = s.one(alice, R"({"type":"ping","ref":null})", "pong");
    CHECK(keys(pong) == std::vector<std::string>{"type"});
}

TEST_CASE("ping is answered with pong, before and after hello", "[protocol][errors]") {
    Server s;
    MockPeer& peer = s.connect();
    Doc bare = s.one(peer, R"({"type":"ping"})", "pong");
    CHECK(keys(bare) == std::vector<std::string>{"type"});
    Doc with_ref = s.one(peer, R"({"type":"ping","ref":41})", "pong");
    CHECK(keys(with_ref) == std::vector<std::string>{"type", "ref"});
    CHECK(i64(with_ref, "ref") == 41);
    s.one(peer, R"({"type":"hello","nick":"alice"})", "welcome");
    CHECK(str(s.one(peer, R"({"type":"ping","ref":"p"})", "pong"), "ref") == "p");
    CHECK(s.metrics().errors_total() == 0);
}

TEST_CASE("the connection stays open and usable after every kind of error", "[protocol][errors]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();
    const std::vector<std::pair<std::string, ErrorCode>> errors = {
        {"{", ErrorCode::bad_json},
        {"[]", ErrorCode::bad_request},
        {R"({"type":"dance"})", ErrorCode::unknown_type},
        {R"({"type":"hello","nick":"again"})", ErrorCode::already_identified},
        {R"({"type":"nick","nick":"a b"})", ErrorCode::nick_invalid},
        {R"({"type":"nick","nick":"alice"})", ErrorCode::nick_taken},
        {R"({"type":"create_room","name":""})", ErrorCode::room_name_invalid},
        {R"({"type":"create_room","name":"general"})", ErrorCode::room_exists},
        {R"({"type":"join","room":"nowhere"})", ErrorCode::room_not_found},
        {R"({"type":"history","room":"nowhere"})", ErrorCode::not_in_room},
        {R"({"type":"send","room":"general","text":" "})", ErrorCode::text_empty},
        {R"({"type":"send","room":"general","text":")" + std::string(2001, 'x') + R"("})",
         ErrorCode::text_too_long},
        {R"({"type":"delete","room":"general","seq":5})", ErrorCode::not_found},
        {R"({"type":"dm","to":"nobody","text":"hi"})", ErrorCode::user_not_found},
    };
    for (const auto& [frame, code] : errors) s.expect_error(bob, frame, code);

    // Still a full member: bob speaks and is heard, and hears others.
    auto sent = s.exchange(bob, R"({"type":"send","room":"general","text":"still here"})");
    REQUIRE(sent.size() == 1);
    CHECK(u64(sent[0], "seq") == 1);
    auto heard = Server::fresh(alice);
    REQUIRE(heard.size() == 1);
    CHECK(str(heard[0], "text") == "still here");
    CHECK(s.metrics().protocol_closes == 0);
    CHECK(s.metrics().policy_closes == 0);
}

TEST_CASE("a frame over max_frame_bytes closes the connection with 1009", "[protocol][errors]") {
    Limits limits = test_limits();
    limits.max_frame_bytes = 256;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();

    Doc pong = s.one(bob, ping_of_size(256), "pong");  // exactly at the limit: fine
    CHECK(str(pong, "ref") == "sized");

    const auto before = s.metrics();
    const std::size_t read = bob.texts().size();
    bob.send(ping_of_size(257));
    s.run();
    expect_closed(bob, 1009, read);
    const auto after = s.metrics();
    CHECK(after.protocol_closes == before.protocol_closes + 1);
    CHECK(after.errors_total() == before.errors_total());
    // The session ended: the room hears bob leave.
    auto frames = Server::fresh(alice);
    REQUIRE(frames.size() == 1);
    CHECK(str(frames[0], "event") == "leave");
    CHECK(str(frames[0], "nick") == "bob");
}

TEST_CASE("invalid UTF-8 closes the connection with 1007", "[protocol][errors]") {
    Server s;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a bad continuation (C3 28)", "\xC3\x28"},
        {"an overlong slash (C0 AF)", "\xC0\xAF"},
        {"an overlong NUL (E0 80 80)", "\xE0\x80\x80"},
        {"a surrogate (ED A0 80)", "\xED\xA0\x80"},
        {"a code point past U+10FFFF (F4 90 80 80)", "\xF4\x90\x80\x80"},
        {"a lone continuation byte (80)", "\x80"},
        {"an invalid byte (FF)", "\xFF"},
        {"a truncated sequence (E2 82)", "\xE2\x82"},
    };
    int n = 0;
    for (const auto& [what, bytes] : cases) {
        for (bool in_string : {true, false}) {
            INFO(what << (in_string ? " inside a string" : " outside a string"));
            MockPeer& peer = s.user("user" + std::to_string(++n));
            const auto before = s.metrics();
            const std::size_t read = peer.texts().size();
            peer.send(in_string ? R"({"type":"ping","x":")" + bytes + R"("})"
                                : R"({"type":"ping"})" + bytes);
            s.run();
            expect_closed(peer, 1007, read);
            CHECK(s.metrics().protocol_closes == before.protocol_closes + 1);
            CHECK(s.metrics().errors_total() == before.errors_total());
        }
    }
    // Valid multi-byte text is fine, also as a raw frame end.
    MockPeer& ok = s.user("ok");
    s.one(ok, "{\"type\":\"ping\",\"x\":\"\xF0\x9F\x98\x80 \xED\x9F\xBF \xF4\x8F\xBF\xBF\"}", "pong");
}

TEST_CASE("requests beyond the rate limit are refused with rate_limited, then served again",
          "[protocol][errors]") {
    Limits limits = test_limits();
    limits.rate_burst = 3;
    limits.rate_per_second = 1;
    limits.abuse_strikes = 50;
    Server s(test_options(limits));
    MockPeer& peer = s.connect();
    for (int i = 0; i < 3; ++i) s.one(peer, R"({"type":"ping"})", "pong");

    const auto before = s.metrics();
    Doc error = s.one(peer, R"({"type":"ping","ref":"r4"})", "error");
    CHECK(str(error, "code") == "rate_limited");
    CHECK(str(error, "ref") == "r4");
    CHECK_FALSE(str(error, "message").empty());
    const auto after = s.metrics();
    CHECK(after.error_count(ErrorCode::rate_limited) == before.error_count(ErrorCode::rate_limited) + 1);
    CHECK(after.errors_total() == before.errors_total() + 1);
    CHECK(after.rate_limited == before.rate_limited + 1);
    CHECK(peer.is_open());

    // A refused request is not executed: this hello did not claim the name.
    CHECK(str(s.one(peer, R"({"type":"hello","nick":"alice"})", "error"), "code") == "rate_limited");
    s.transport.advance(std::chrono::seconds(1));
    Doc welcome = s.one(peer, R"({"type":"hello","nick":"alice"})", "welcome");
    CHECK(str(welcome, "nick") == "alice");
}

TEST_CASE("sustained abuse closes the connection with 1008", "[protocol][errors]") {
    Limits limits = test_limits();
    limits.rate_burst = 1;
    limits.rate_per_second = 0.001;
    limits.abuse_strikes = 2;
    limits.abuse_forgiveness_per_second = 0.001;
    Server s(test_options(limits));
    MockPeer& peer = s.connect();
    s.one(peer, R"({"type":"ping"})", "pong");
    CHECK(str(s.one(peer, R"({"type":"ping"})", "error"), "code") == "rate_limited");
    CHECK(str(s.one(peer, R"({"type":"ping"})", "error"), "code") == "rate_limited");
    const std::size_t read = peer.texts().size();
    peer.send(R"({"type":"ping"})");
    s.run();
    expect_closed(peer, 1008, read);
    CHECK(s.metrics().policy_closes == 1);
}

namespace {

/// A store that keeps history like the default one but cannot search.
class NoSearchStore final : public parley::Store {
public:
    std::vector<parley::RoomRecord> load_rooms() override { return inner_.load_rooms(); }
    void save_room(const parley::RoomRecord& room) override { inner_.save_room(room); }
    void remove_room(const std::string& id) override { inner_.remove_room(id); }
    void append(const std::string& id, parley::StoredMessagePtr m) override { inner_.append(id, std::move(m)); }
    void update(const std::string& id, const parley::MessagePatch& p, parley::StoredMessagePtr t) override {
        inner_.update(id, p, std::move(t));
    }
    void read(const std::string& id, parley::HistoryQuery q, ReadDone done) override {
        inner_.read(id, q, std::move(done));
    }

private:
    parley::MemoryStore inner_;
};

}  // namespace

TEST_CASE("every error code but server_busy is produced on the wire and counted in the metrics",
          "[protocol][errors]") {
    Limits limits = test_limits();
    limits.max_members_per_room = 1;
    limits.max_rooms = 2;
    limits.max_rooms_per_client = 1;
    LobbyOptions options = test_options(limits);
    options.store = std::make_shared<NoSearchStore>();
    Server s(options);

    std::set<std::string> seen;
    auto provoke = [&](MockPeer& peer, const std::string& frame) {
        auto frames = s.exchange(peer, frame);
        INFO("frame: " << frame);
        REQUIRE(frames.size() == 1);
        REQUIRE(type_of(frames[0]) == "error");
        seen.insert(str(frames[0], "code"));
    };
    MockPeer& anon = s.connect();
    provoke(anon, "{");
    provoke(anon, "[]");
    provoke(anon, R"({"type":"dance"})");
    provoke(anon, R"({"type":"rooms"})");
    provoke(anon, R"({"type":"hello","nick":"a b"})");
    MockPeer& alice = s.member("alice");
    provoke(anon, R"({"type":"hello","nick":"Alice"})");
    provoke(alice, R"({"type":"hello","nick":"x"})");
    provoke(alice, R"({"type":"create_room","name":" x"})");
    provoke(alice, R"({"type":"create_room","name":"GENERAL"})");
    const std::string games = s.create_room(alice, "Games");
    provoke(alice, R"({"type":"create_room","name":"Third"})");
    provoke(alice, R"({"type":"join","room":)" + quote(games) + "}");  // one room per client
    MockPeer& bob = s.user("bob");
    provoke(bob, R"({"type":"join","room":"nowhere"})");
    provoke(bob, R"({"type":"join","room":"general"})");  // one member per room
    provoke(bob, R"({"type":"history","room":"general"})");
    provoke(alice, R"({"type":"send","room":"general","text":""})");
    provoke(alice, R"({"type":"send","room":"general","text":")" + std::string(2001, 'x') + R"("})");
    provoke(alice, R"({"type":"delete","room":"general","seq":1})");
    s.exchange(alice, R"({"type":"send","room":"general","text":"mine"})");
    s.one(alice, R"({"type":"leave","room":"general"})", "left");
    s.one(bob, R"({"type":"join","room":"general"})", "joined");
    provoke(bob, R"({"type":"delete","room":"general","seq":1})");
    s.exchange(bob, R"({"type":"send","room":"general","text":"bob's"})");
    s.transport.advance(limits.edit_window + std::chrono::seconds(1));
    provoke(bob, R"({"type":"edit","room":"general","seq":2,"text":"late"})");
    for (int i = 0; i < 20; ++i)
        s.exchange(bob, R"({"type":"react","room":"general","seq":2,"on":true,"emoji":"e)" + std::to_string(i) + "\"}");
    provoke(bob, R"({"type":"react","room":"general","seq":2,"on":true,"emoji":"e20"})");
    provoke(bob, R"({"type":"dm","to":"nobody","text":"hi"})");
    provoke(bob, R"({"type":"search","room":"general","q":"mine"})");

    Limits strict = test_limits();
    strict.rate_burst = 1;
    strict.rate_per_second = 0.001;
    Server limited(test_options(strict));
    MockPeer& hasty = limited.connect();
    limited.one(hasty, R"({"type":"ping"})", "pong");
    CHECK(str(limited.one(hasty, R"({"type":"ping"})", "error"), "code") == "rate_limited");
    seen.insert("rate_limited");

    const auto counted = s.metrics();
    const auto counted_limited = limited.metrics();
    for (std::size_t i = 0; i < parley::error_code_count; ++i) {
        const auto code = static_cast<ErrorCode>(i);
        if (code == ErrorCode::server_busy) continue;  // needs a failing store; not a protocol path
        if (code == ErrorCode::unavailable) continue;  // needs a cluster bus that is down: behaviour_cluster.cpp
        const std::string name(parley::to_string(code));
        INFO("error code " << name);
        CHECK(seen.count(name) == 1);
        CHECK(counted.error_count(code) + counted_limited.error_count(code) >= 1);
    }
}
