// Protocol v1, dispatch: the request table (protocol/request_table.hpp) is the
// list of known types; each row is reachable, gated by hello as docs/protocol.md
// says, validated before its handler; and every error goes out as one frame shape.

#include "protocol_fixture.hpp"

#include <map>
#include <set>

using namespace protocol_test;

namespace {

using Table = parley::protocol::RequestTable<parley::Client<MockTransport>>;
using parley::protocol::Gate;

/// Sends `request` and returns the text of its one reply, exactly as sent.
std::string reply_text(Server& s, MockPeer& peer, std::string_view request) {
    peer.take();
    peer.send(request);
    s.run();
    const auto texts = peer.take();
    INFO("request: " << request);
    REQUIRE(texts.size() == 1);
    return texts[0];
}

/// A reply in short: its type, and for an error its code and message.
std::string summary(std::string_view text) {
    const Doc frame = parse(text);
    if (type_of(frame) != "error") return type_of(frame);
    return "error " + str(frame, "code") + ": " + str(frame, "message");
}

/// The request types of docs/protocol.md and what a bare `{"type":..,"ref":"r"}`
/// gets before and after hello: proof that each reached its own row.
struct Expected {
    std::string before_hello;
    std::string after_hello;
};

const std::map<std::string, Expected>& protocol_types() {
    static const std::string not_identified = "error not_identified: send hello first";
    static const std::string no_room = R"(error bad_request: "room" is required)";
    static const std::map<std::string, Expected> types = {
        {"ping", {"pong", "pong"}},
        {"hello", {R"(error bad_request: "nick" is required)", "error already_identified: already identified as alice"}},
        {"nick", {not_identified, R"(error bad_request: "nick" is required)"}},
        {"rooms", {not_identified, "rooms"}},
        {"watch_lobby", {not_identified, "rooms"}},
        {"create_room", {not_identified, R"(error bad_request: "name" is required)"}},
        {"join", {not_identified, no_room}},
        {"leave", {not_identified, no_room}},
        {"send", {not_identified, no_room}},
        {"typing", {not_identified, no_room}},
        {"history", {not_identified, no_room}},
        {"delete", {not_identified, no_room}},
        {"edit", {not_identified, no_room}},
        {"react", {not_identified, no_room}},
        {"dm", {not_identified, R"(error bad_request: "to" is required)"}},
        {"search", {not_identified, no_room}},
    };
    return types;
}

}  // namespace

TEST_CASE("the request table lists exactly the request types of the protocol", "[protocol][dispatch]") {
    std::set<std::string> in_table;
    for (const auto& entry : Table::entries) {
        INFO("type \"" << entry.type << "\"");
        CHECK(in_table.insert(std::string(entry.type)).second);  // no type twice
        CHECK(protocol_types().count(std::string(entry.type)) == 1);
        CHECK(Table::find(entry.type) == &entry);
    }
    for (const auto& [type, expected] : protocol_types()) {
        INFO("type \"" << type << "\" of docs/protocol.md");
        CHECK(in_table.count(type) == 1);
    }
    // Only ping may come at any time, and hello only once.
    for (const auto& entry : Table::entries) {
        INFO("type \"" << entry.type << "\"");
        const Gate expected = entry.type == "ping"    ? Gate::anytime
                              : entry.type == "hello" ? Gate::before_hello
                                                      : Gate::after_hello;
        CHECK(entry.gate == expected);
    }
}

TEST_CASE("every row of the request table is reachable, before and after hello", "[protocol][dispatch]") {
    Server s;
    MockPeer& anon = s.connect();
    for (const auto& entry : Table::entries) {
        INFO("type \"" << entry.type << "\" before hello");
        const std::string request = R"({"type":)" + quote(entry.type) + R"(,"ref":"r"})";
        CHECK(summary(reply_text(s, anon, request)) == protocol_types().at(std::string(entry.type)).before_hello);
    }
    MockPeer& alice = s.user("alice");
    for (const auto& entry : Table::entries) {
        INFO("type \"" << entry.type << "\" after hello");
        const std::string request = R"({"type":)" + quote(entry.type) + R"(,"ref":"r"})";
        CHECK(summary(reply_text(s, alice, request)) == protocol_types().at(std::string(entry.type)).after_hello);
    }
    // Both peers are still usable.
    s.expect_usable(anon);
    s.expect_usable(alice);
}

TEST_CASE("a type not in the table is unknown_type, before and after hello", "[protocol][dispatch]") {
    Server s;
    MockPeer& anon = s.connect();
    CHECK(reply_text(s, anon, R"({"type":"pin","ref":"u"})") ==
          R"({"type":"error","ref":"u","code":"unknown_type","message":"unknown request type \"pin\""})");
    CHECK(Table::find("pin") == nullptr);
    MockPeer& alice = s.user("alice");
    // A lookup by the whole name: no prefix, extension or other case matches a row.
    for (const std::string type : {"pin", "sen", "sendx", "Send", "send ", "watch", "create_room_"}) {
        INFO("type \"" << type << "\"");
        CHECK(Table::find(type) == nullptr);
        Doc error = s.expect_error(alice, R"({"type":)" + quote(type) + R"(,"ref":1})", ErrorCode::unknown_type);
        CHECK(str(error, "message") == "unknown request type " + quote(type));
        CHECK(i64(error, "ref") == 1);
    }
    CHECK(s.errors(ErrorCode::unknown_type) == 8);
}

TEST_CASE("the hello gate is checked before the fields", "[protocol][dispatch]") {
    Server s;
    MockPeer& anon = s.connect();
    // A send without its fields, before hello: not_identified, not bad_request.
    CHECK(reply_text(s, anon, R"({"type":"send","ref":7})") ==
          R"({"type":"error","ref":7,"code":"not_identified","message":"send hello first"})");
    CHECK(s.errors(ErrorCode::bad_request) == 0);
    MockPeer& alice = s.user("alice");
    // A second hello, even a malformed one, is already_identified.
    CHECK(reply_text(s, alice, R"({"type":"hello","ref":8,"nick":5})") ==
          R"({"type":"error","ref":8,"code":"already_identified","message":"already identified as alice"})");
    CHECK(s.errors(ErrorCode::not_identified) == 1);
    CHECK(s.errors(ErrorCode::already_identified) == 1);
}

TEST_CASE("a missing or mistyped field is answered before any other rule", "[protocol][dispatch]") {
    Server s;
    MockPeer& alice = s.user("alice");  // in no room: a valid send would be not_in_room
    CHECK(reply_text(s, alice, R"({"type":"send","ref":"m","room":"general"})") ==
          R"({"type":"error","ref":"m","code":"bad_request","message":"\"text\" is required"})");
    CHECK(reply_text(s, alice, R"({"type":"typing","ref":"t","room":"general","active":"yes"})") ==
          R"({"type":"error","ref":"t","code":"bad_request","message":"\"active\" must be true or false"})");
    // The first problem wins: "room" is read before "text".
    CHECK(reply_text(s, alice, R"({"type":"send","ref":"f","room":1,"text":" "})") ==
          R"({"type":"error","ref":"f","code":"bad_request","message":"\"room\" must be a string"})");
    // With its fields right, the same send meets the handler's rule.
    CHECK(reply_text(s, alice, R"({"type":"send","ref":"n","room":"general","text":"hi"})") ==
          R"({"type":"error","ref":"n","code":"not_in_room","message":"not in room general"})");
    CHECK(s.errors(ErrorCode::bad_request) == 3);
    CHECK(s.metrics().messages_in == 0);
}

TEST_CASE("a field over its limit is answered with the limit in the message", "[protocol][dispatch]") {
    Limits limits = test_limits();
    limits.max_text_chars = 5;
    limits.max_history_page = 3;
    limits.max_client_id_bytes = 4;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    CHECK(reply_text(s, alice, R"({"type":"send","ref":"l","room":"general","text":"123456"})") ==
          R"({"type":"error","ref":"l","code":"text_too_long","message":"text is longer than 5 characters"})");
    CHECK(reply_text(s, alice, R"({"type":"dm","ref":"d","to":"alice","text":"123456"})") ==
          R"({"type":"error","ref":"d","code":"text_too_long","message":"text is longer than 5 characters"})");
    CHECK(reply_text(s, alice, R"({"type":"send","ref":"c","room":"general","text":"hi","client_id":"abcde"})") ==
          R"({"type":"error","ref":"c","code":"bad_request","message":"\"client_id\" is longer than 4 bytes"})");
    // history and search share one page rule.
    const std::string page_error = R"(,"code":"bad_request","message":"\"limit\" must be 1 to 3"})";
    CHECK(reply_text(s, alice, R"({"type":"history","ref":"h","room":"general","limit":4})") ==
          R"({"type":"error","ref":"h")" + page_error);
    CHECK(reply_text(s, alice, R"({"type":"history","ref":"h","room":"general","limit":0})") ==
          R"({"type":"error","ref":"h")" + page_error);
    CHECK(reply_text(s, alice, R"({"type":"search","ref":"s","room":"general","q":"x","limit":4})") ==
          R"({"type":"error","ref":"s")" + page_error);
    CHECK(s.errors(ErrorCode::text_too_long) == 2);
    CHECK(s.errors(ErrorCode::bad_request) == 4);

    // At the limits everything passes.
    CHECK(summary(reply_text(s, alice, R"({"type":"send","room":"general","text":"12345","client_id":"abcd"})")) ==
          "message");
    CHECK(summary(reply_text(s, alice, R"({"type":"history","room":"general","limit":3})")) == "history");
    CHECK(s.metrics().errors_total() == 6);
}

TEST_CASE("send_error counts the code once and sends one error frame", "[protocol][dispatch]") {
    parley::Metrics metrics;
    std::vector<std::string> sent;
    auto deliver = [&](const parley::SharedFrame& frame) { sent.emplace_back(frame->text()); };
    parley::detail::Ref ref;
    ref.kind = parley::detail::Ref::Kind::integer;
    ref.integer = -3;
    parley::protocol::send_error(metrics, deliver, ref, ErrorCode::forbidden, "say \"why\"");
    parley::protocol::send_error(metrics, deliver, parley::detail::Ref{}, ErrorCode::room_full, "full");
    REQUIRE(sent.size() == 2);
    CHECK(sent[0] == R"({"type":"error","ref":-3,"code":"forbidden","message":"say \"why\""})");
    CHECK(sent[1] == R"({"type":"error","code":"room_full","message":"full"})");
    const auto counted = metrics.snapshot();
    CHECK(counted.error_count(ErrorCode::forbidden) == 1);
    CHECK(counted.error_count(ErrorCode::room_full) == 1);
    CHECK(counted.errors_total() == 2);
}

TEST_CASE("errors from the session, a room and the lobby have the same shape", "[protocol][dispatch]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.user("bob");
    const std::vector<std::pair<std::string, ErrorCode>> errors = {
        {R"({"type":"leave","ref":"e","room":"elsewhere"})", ErrorCode::not_in_room},     // the session
        {R"({"type":"delete","ref":"e","room":"general","seq":9})", ErrorCode::not_found},  // the room's Hub
        {R"({"type":"nick","ref":"e","nick":"bob"})", ErrorCode::nick_taken},              // the Lobby
    };
    for (const auto& [request, code] : errors) {
        Doc error = s.expect_error(alice, request, code);
        CHECK(keys(error) == std::vector<std::string>{"type", "ref", "code", "message"});
        CHECK(str(error, "ref") == "e");
    }
}
