// Graceful shutdown: every client is told why and closed with 1001, late
// connections are refused, `done` runs once at the end, and nothing is left
// running or scheduled afterwards.
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;
using namespace std::chrono_literals;

LobbyOptions options() {
    LobbyOptions o;
    o.seed = 1001;
    return o;
}

/// The peer's last frame is `shutdown {reason}` and it was closed with 1001.
void check_told_and_closed(const MockPeer& peer, const std::string& reason) {
    const auto texts = peer.texts();
    REQUIRE_FALSE(texts.empty());
    const auto last = parse_frame(texts.back());
    CHECK(frame_type(last) == "shutdown");
    CHECK(std::string(last["reason"].GetString()) == reason);
    CHECK(peer.count("shutdown") == 1);
    CHECK_FALSE(peer.is_open());
    CHECK(peer.close_code() == close_code::going_away);
}

}  // namespace

TEST_CASE("shutdown tells every client the reason, then closes it with 1001") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    MockPeer alice(t, lobby), bob(t, lobby), carol(t, lobby), dave(t, lobby), erin(t, lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(carol, "carol");  // identified, in no room
    hello(erin, "erin");
    join(alice, "general");
    join(bob, "general");
    join(erin, "general");
    t.run_until_idle();  // dave never says hello
    erin.stall();

    int done = 0;
    lobby.shutdown("maintenance", [&] { ++done; });
    CHECK(done == 0);  // never inline
    t.run_until_idle();

    for (const MockPeer* peer : {&alice, &bob, &carol, &dave}) {
        check_told_and_closed(*peer, "maintenance");
        CHECK(peer->connection().close_reason == "server shutting down");
    }
    // A stalled reader is closed the same way; its unread backlog is dropped.
    CHECK(erin.close_code() == close_code::going_away);
    CHECK(t.buffered_amount(erin.handle()) == 0);
    CHECK(done == 1);
    CHECK(lobby.metrics().snapshot().connections_active == 0);
}

TEST_CASE("shutdown's done runs once, after every session has ended") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    std::vector<MockPeer> peers;
    for (int i = 0; i < 5; ++i) {
        peers.emplace_back(t, lobby);
        hello(peers.back(), "user" + std::to_string(i));
        join(peers.back(), "general");
    }
    t.run_until_idle();

    int done = 0;
    bool all_closed_when_done = false;
    std::uint64_t active_when_done = 99;
    lobby.shutdown("maintenance", [&] {
        ++done;
        all_closed_when_done = true;
        for (const auto& p : peers) all_closed_when_done = all_closed_when_done && !p.is_open();
        active_when_done = lobby.metrics().snapshot().connections_active;
    });
    t.run_until_idle();
    CHECK(done == 1);
    CHECK(all_closed_when_done);
    CHECK(active_when_done == 0);

    t.advance(1h);
    CHECK(done == 1);
}

TEST_CASE("shutdown with no client at all calls done at once on the lobby's lane") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    int done = 0;
    lobby.shutdown("maintenance", [&] { ++done; });
    CHECK(done == 0);
    t.run_until_idle();
    CHECK(done == 1);
}

TEST_CASE("a connection that arrives after shutdown is closed with 1001 at once") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    MockPeer alice(t, lobby);
    hello(alice, "alice");
    t.run_until_idle();
    int done = 0;
    lobby.shutdown("maintenance", [&] { ++done; });
    t.run_until_idle();
    REQUIRE(done == 1);

    MockPeer late(t, lobby);
    CHECK_FALSE(late.is_open());
    CHECK(late.close_code() == close_code::going_away);
    late.send(R"({"type":"hello","nick":"late"})");
    t.run_until_idle();
    CHECK(late.texts().empty());
    CHECK(done == 1);
    CHECK(lobby.metrics().snapshot().connections_active == 0);
    CHECK(t.clock().timer_count() == 0);
}

TEST_CASE("a connection made just before shutdown is told the reason and ends before done") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    MockPeer just_in_time(t, lobby);  // its registration is still queued
    bool closed_when_done = false;
    int done = 0;
    lobby.shutdown("maintenance", [&] {
        ++done;
        closed_when_done = !just_in_time.is_open();
    });
    t.run_until_idle();

    check_told_and_closed(just_in_time, "maintenance");
    CHECK(done == 1);
    CHECK(closed_when_done);
    CHECK(t.clock().timer_count() == 0);
}

TEST_CASE("after shutdown the executor is idle and no timer is left on the virtual clock") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    MockPeer alice(t, lobby), bob(t, lobby), carol(t, lobby), lurker(t, lobby), gone(t, lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(carol, "carol");
    hello(gone, "gone");
    join(alice, "general");
    join(bob, "general");
    alice.send(R"({"type":"create_room","name":"Game night"})");
    t.run_until_idle();
    const std::string game = alice.last("room_created").value()["room"]["id"].GetString();
    join(alice, game);  // a user room with members: empty_room_ttl is not armed yet
    join(carol, game);
    alice.send(R"({"type":"typing","room":"general","active":true})");   // typing expiry
    carol.send(R"({"type":"typing","room":")" + game + R"(","active":true})");
    t.run_until_idle();
    gone.disconnect();  // its nick is held for nick_reclaim_grace
    t.run_until_idle();
    t.advance(1s);
    REQUIRE(t.clock().timer_count() > 0);

    int done = 0;
    lobby.shutdown("maintenance", [&] { ++done; });
    t.run_until_idle();

    CHECK(done == 1);
    CHECK(t.executor().pending() == 0);
    CHECK(t.clock().timer_count() == 0);
    CHECK(t.advance(24h) == 0);  // nothing fires later either
    CHECK(t.executor().pending() == 0);
    for (const MockPeer* peer : {&alice, &bob, &carol, &lurker})
        check_told_and_closed(*peer, "maintenance");
}

TEST_CASE("the embedder API refuses to create rooms after shutdown") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    lobby.shutdown("maintenance");
    t.run_until_idle();
    std::optional<Lobby<MockTransport>::Failure> result;
    lobby.create_room("After hours", [&](Lobby<MockTransport>::Failure failure, RoomInfo) {
        result = failure;
    });
    t.run_until_idle();
    REQUIRE(result);
    REQUIRE(*result);
    CHECK(**result == ErrorCode::server_busy);
    CHECK(t.clock().timer_count() == 0);
}

TEST_CASE("a typing request that reaches its room after the shutdown arms no timer") {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options());
    MockPeer alice(t, lobby), bob(t, lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    t.run_until_idle();

    int done = 0;
    lobby.shutdown("maintenance", [&] { ++done; });
    // Read before the connection hears of the shutdown; the room has already stopped
    // when the request gets there.
    alice.send(R"({"type":"typing","room":"general","active":true})");
    t.run_until_idle();

    CHECK(done == 1);
    CHECK(t.clock().timer_count() == 0);
    check_told_and_closed(alice, "maintenance");
    check_told_and_closed(bob, "maintenance");
}
