// Taking a nickname back: the resume token, replacing a half-open connection,
// and how long a dropped connection's nick stays reserved (virtual time).
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;
using namespace std::chrono_literals;

std::string welcome_field(const MockPeer& peer, const char* field) {
    const auto welcome = peer.last("welcome");
    REQUIRE(welcome);
    return (*welcome)[field].GetString();
}

std::string last_error(const MockPeer& peer) {
    const auto error = peer.last("error");
    return error ? (*error)["code"].GetString() : "";
}

/// The peer sends a close frame with `code`: the socket closes and the
/// embedder reports that code, as a WebSocket server does.
void peer_closes(MockTransport& t, MockPeer& peer, std::uint16_t code) {
    auto& conn = t.connection(peer.handle());
    conn.open = false;
    auto on_closed = std::move(conn.on_closed);
    conn.on_closed = nullptr;
    conn.on_pong = nullptr;
    t.post(t.transport_lane(), [on_closed, code] { on_closed(code); });
}

struct World {
    MockTransport t;
    Lobby<MockTransport> lobby;

    World() : lobby(t, options()) {}
    ~World() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }
    static LobbyOptions options() {
        LobbyOptions o;
        o.seed = 99;
        return o;
    }
    /// The Lobby's own answer to "is this nick free?": "" when it is.
    std::string availability(const std::string& nick) {
        std::optional<std::string> answer;
        lobby.nick_available(nick, [&](Lobby<MockTransport>::Failure failure) {
            answer = failure ? std::string(to_string(*failure)) : std::string();
        });
        t.run_until_idle();
        REQUIRE(answer);
        return *answer;
    }
    /// Whether a fresh connection can identify as `nick` (it keeps it if so).
    bool can_take(const std::string& nick, const std::string& token = "") {
        fresh.emplace_back(t, lobby);
        hello(fresh.back(), nick, token);
        t.run_until_idle();
        return fresh.back().count("welcome") == 1;
    }
    std::vector<MockPeer> fresh;
};

}  // namespace

TEST_CASE("welcome carries a resume token of its own for each nick") {
    World w;
    MockPeer alice(w.t, w.lobby), bob(w.t, w.lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    w.t.run_until_idle();
    const auto a = welcome_field(alice, "token");
    const auto b = welcome_field(bob, "token");
    CHECK(a.size() == 32);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(b.size() == 32);
    CHECK(a != b);
}

TEST_CASE("hello with the nick and its token from a new connection takes it over and closes the old one") {
    World w;
    MockPeer old_tab(w.t, w.lobby), bob(w.t, w.lobby);
    hello(old_tab, "alice");
    hello(bob, "bob");
    old_tab.send(R"({"type":"join","room":"general"})");
    bob.send(R"({"type":"join","room":"general"})");
    w.t.run_until_idle();
    const auto token = welcome_field(old_tab, "token");

    MockPeer new_tab(w.t, w.lobby);
    hello(new_tab, "alice", token);
    w.t.run_until_idle();
    CHECK(welcome_field(new_tab, "nick") == "alice");
    CHECK(welcome_field(new_tab, "token") == token);
    CHECK_FALSE(old_tab.is_open());
    CHECK(old_tab.close_code() == close_code::normal);
    CHECK(old_tab.connection().close_reason == "replaced by a new connection");
    CHECK(new_tab.is_open());

    // The old session's end does not free the name it no longer holds.
    CHECK(w.availability("alice") == "nick_taken");
    CHECK_FALSE(w.can_take("alice"));
    CHECK(last_error(w.fresh.back()) == "nick_taken");

    new_tab.send(R"({"type":"join","room":"general"})");
    w.t.run_until_idle();
    const auto joined = new_tab.last("joined");
    REQUIRE(joined);
    CHECK((*joined)["members"].Size() == 2);
    CHECK(w.lobby.metrics().snapshot().identified_sessions == 2);
}

TEST_CASE("hello with a wrong token or none gets nick_taken and leaves the owner alone") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();

    MockPeer guess(w.t, w.lobby), plain(w.t, w.lobby), shouting(w.t, w.lobby);
    hello(guess, "alice", "0123456789abcdef0123456789abcdef");
    hello(plain, "alice");
    hello(shouting, "ALICE");
    w.t.run_until_idle();
    CHECK(last_error(guess) == "nick_taken");
    CHECK(last_error(plain) == "nick_taken");
    CHECK(last_error(shouting) == "nick_taken");
    CHECK(guess.count("welcome") == 0);
    CHECK(alice.is_open());
    CHECK_FALSE(alice.close_code());
}

TEST_CASE("after an abrupt disconnect the nick is reserved for nick_reclaim_grace") {
    World w;
    REQUIRE(w.lobby.limits().nick_reclaim_grace == 15s);
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();
    const auto token = welcome_field(alice, "token");
    alice.disconnect();
    w.t.run_until_idle();

    SECTION("others are refused until the grace ends, then the nick is free") {
        w.t.advance(14999ms);
        CHECK(w.availability("alice") == "nick_taken");
        CHECK_FALSE(w.can_take("alice"));
        CHECK(last_error(w.fresh.back()) == "nick_taken");
        w.t.advance(1ms);
        CHECK(w.availability("alice") == "");
        CHECK(w.can_take("alice"));
        // The old token named the old reservation; the new owner gets a new one.
        CHECK(welcome_field(w.fresh.back(), "token") != token);
    }
    SECTION("the token holder gets it back within the grace and keeps it afterwards") {
        w.t.advance(14999ms);
        CHECK(w.can_take("alice", token));
        CHECK(welcome_field(w.fresh.back(), "token") == token);
        w.t.advance(1min);
        CHECK(w.availability("alice") == "nick_taken");
        CHECK_FALSE(w.can_take("alice"));
    }
}

TEST_CASE("after a clean close with 1000 from the client the nick is free at once") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();
    peer_closes(w.t, alice, close_code::normal);
    w.t.run_until_idle();

    CHECK(w.availability("alice") == "");
    CHECK(w.can_take("alice"));
}

TEST_CASE("a client closing with 1001 (a tab going away) keeps its nick reserved") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();
    const auto token = welcome_field(alice, "token");
    peer_closes(w.t, alice, close_code::going_away);
    w.t.run_until_idle();

    CHECK_FALSE(w.can_take("alice"));
    CHECK(w.can_take("alice", token));
}

TEST_CASE("a connection that drops while its hello is in flight holds the nick no longer than the grace") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    alice.disconnect();  // before the Lobby has answered
    w.t.run_until_idle();
    CHECK(alice.count("welcome") == 0);

    w.t.advance(15s);
    CHECK(w.availability("alice") == "");
    CHECK(w.can_take("alice"));
    CHECK(w.lobby.metrics().snapshot().identified_sessions == 1);
}

TEST_CASE("a connection closed for abuse while its hello is in flight frees the nick at once") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    for (int i = 0; i < 100; ++i) alice.send("{flood");  // closed with 1008 before the welcome
    w.t.run_until_idle();
    REQUIRE(alice.close_code() == close_code::policy);
    CHECK(alice.count("welcome") == 0);

    CHECK(w.availability("alice") == "");
    CHECK(w.can_take("alice"));
}

TEST_CASE("a connection that drops while renaming holds neither nick beyond the grace") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();
    alice.send(R"({"type":"nick","nick":"alicia"})");
    alice.disconnect();  // before the rename is confirmed
    w.t.run_until_idle();

    w.t.advance(15s);
    CHECK(w.availability("alice") == "");
    CHECK(w.availability("alicia") == "");
    CHECK(w.lobby.metrics().snapshot().identified_sessions == 0);
}
