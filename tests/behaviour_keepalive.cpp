// Liveness under virtual time: pings after silence, closing peers that stopped
// answering, and the identify deadline for connections that never say hello.
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;
using namespace std::chrono_literals;

std::vector<std::string> presence_leaves(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& frame : peer.all("presence"))
        if (std::string(frame["event"].GetString()) == "leave") out.emplace_back(frame["nick"].GetString());
    return out;
}

std::size_t members_of(MockTransport& t, Lobby<MockTransport>& lobby, const std::string& id) {
    std::optional<std::size_t> members;
    lobby.room(id, [&](std::optional<RoomInfo> info) {
        REQUIRE(info);
        members = info->members;
    });
    t.run_until_idle();
    REQUIRE(members);
    return *members;
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
        o.seed = 7;
        return o;
    }
};

}  // namespace

TEST_CASE("a ping is sent after ping_interval of silence and not before") {
    World w;
    REQUIRE(w.lobby.limits().ping_interval == 25s);
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();

    w.t.advance(24999ms);
    CHECK(alice.connection().pings == 0);
    w.t.advance(1ms);
    CHECK(alice.connection().pings == 1);
    CHECK(alice.is_open());
}

TEST_CASE("silence is counted from the last frame the peer sent") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();

    w.t.advance(10s);
    alice.send(R"({"type":"ping"})");
    w.t.run_until_idle();
    REQUIRE(alice.count("pong") == 1);

    w.t.advance(24999ms);  // t = 34.999 s: 24.999 s of silence
    CHECK(alice.connection().pings == 0);
    w.t.advance(1ms);  // t = 35 s
    CHECK(alice.connection().pings == 1);
}

TEST_CASE("a peer that answers every ping stays connected for as long as it likes") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    join(alice, "general");
    w.t.run_until_idle();

    w.t.advance(10min);
    CHECK(alice.connection().pings == 24);  // one per 25 s of silence
    CHECK(alice.is_open());
    CHECK_FALSE(alice.close_code());
    CHECK(members_of(w.t, w.lobby, "general") == 1);
}

TEST_CASE("a late pong restarts the idle clock") {
    World w;
    MockPeer alice(w.t, w.lobby);
    w.t.connection(alice.handle()).auto_pong = false;
    hello(alice, "alice");
    w.t.run_until_idle();

    w.t.advance(40s);  // ping at 25 s, unanswered so far
    CHECK(alice.connection().pings == 1);
    alice.client()->pong();  // the embedder forwards a pong that arrived late
    w.t.run_until_idle();

    w.t.advance(24999ms);  // t = 64.999 s
    CHECK(alice.connection().pings == 1);
    CHECK(alice.is_open());
    w.t.advance(1ms);  // t = 65 s: 25 s after the pong
    CHECK(alice.connection().pings == 2);
    w.t.advance(34999ms);  // t = 99.999 s
    CHECK(alice.is_open());
    w.t.advance(1ms);  // t = 100 s: idle_timeout after the pong
    CHECK_FALSE(alice.is_open());
    CHECK(alice.close_code() == close_code::normal);
    CHECK(alice.connection().pings == 3);
}

TEST_CASE("frames from the peer keep it alive even when it never answers pings") {
    World w;
    MockPeer alice(w.t, w.lobby);
    w.t.connection(alice.handle()).auto_pong = false;
    hello(alice, "alice");
    w.t.run_until_idle();

    for (int i = 0; i < 15; ++i) {  // five minutes, one frame every 20 s
        w.t.advance(20s);
        alice.send(R"({"type":"ping"})");
        w.t.run_until_idle();
    }
    CHECK(alice.is_open());
    CHECK(alice.count("pong") == 15);
    CHECK(alice.connection().pings == 0);  // never 25 s of silence
}

TEST_CASE("a peer that never answers pings is closed after idle_timeout and leaves its rooms") {
    World w;
    REQUIRE(w.lobby.limits().idle_timeout == 60s);
    MockPeer alice(w.t, w.lobby), bob(w.t, w.lobby);
    w.t.connection(alice.handle()).auto_pong = false;
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    w.t.run_until_idle();
    REQUIRE(members_of(w.t, w.lobby, "general") == 2);

    w.t.advance(59999ms);
    CHECK(alice.is_open());
    CHECK(alice.connection().pings == 2);  // at 25 s and 50 s
    CHECK(presence_leaves(bob).empty());

    w.t.advance(1ms);
    CHECK_FALSE(alice.is_open());
    CHECK(alice.close_code() == close_code::normal);
    CHECK(alice.connection().close_reason == "idle timeout");
    CHECK(presence_leaves(bob) == std::vector<std::string>{"alice"});
    CHECK(members_of(w.t, w.lobby, "general") == 1);
    CHECK(bob.is_open());
    CHECK(w.lobby.metrics().snapshot().connections_active == 1);
}

TEST_CASE("a stalled peer is closed after idle_timeout and its queued output is dropped") {
    World w;
    MockPeer alice(w.t, w.lobby), bob(w.t, w.lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    w.t.run_until_idle();

    alice.stall();  // stops reading: pings wait behind unread frames
    bob.send(R"({"type":"send","room":"general","text":"are you there?"})");
    w.t.run_until_idle();
    CHECK(w.t.buffered_frames(alice.handle()) == 1);

    w.t.advance(59999ms);
    CHECK(alice.is_open());
    CHECK(alice.connection().pongs_owed == 2);
    w.t.advance(1ms);
    CHECK_FALSE(alice.is_open());
    CHECK(alice.close_code() == close_code::normal);
    CHECK(w.t.buffered_amount(alice.handle()) == 0);
    CHECK(w.t.buffered_frames(alice.handle()) == 0);
    CHECK(presence_leaves(bob) == std::vector<std::string>{"alice"});
}

TEST_CASE("a vanished peer's nick is released to its token holder first after the idle close") {
    World w;
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    w.t.run_until_idle();
    const std::string token = alice.last("welcome").value()["token"].GetString();
    alice.fail();  // half-open: writes go nowhere, pings unanswered

    w.t.advance(60s);
    REQUIRE_FALSE(alice.is_open());

    MockPeer mallory(w.t, w.lobby);
    hello(mallory, "alice");
    w.t.run_until_idle();
    REQUIRE(mallory.last("error"));
    CHECK(std::string(mallory.last("error").value()["code"].GetString()) == "nick_taken");

    SECTION("the token holder gets it back") {
        MockPeer back(w.t, w.lobby);
        hello(back, "alice", token);
        w.t.run_until_idle();
        REQUIRE(back.last("welcome"));
        CHECK(std::string(back.last("welcome").value()["nick"].GetString()) == "alice");
    }
    SECTION("anyone may take it once nick_reclaim_grace has passed") {
        w.t.advance(w.lobby.limits().nick_reclaim_grace);
        MockPeer someone(w.t, w.lobby);
        hello(someone, "alice");
        w.t.run_until_idle();
        CHECK(someone.count("welcome") == 1);
    }
}

TEST_CASE("identify_timeout closes a connection that never says hello with 1008") {
    World w;
    REQUIRE(w.lobby.limits().identify_timeout == 30s);
    MockPeer lurker(w.t, w.lobby);
    w.t.run_until_idle();

    w.t.advance(29999ms);
    CHECK(lurker.is_open());
    w.t.advance(1ms);
    CHECK_FALSE(lurker.is_open());
    CHECK(lurker.close_code() == close_code::policy);
    CHECK(lurker.connection().close_reason == "hello expected");
    CHECK(w.lobby.metrics().snapshot().connections_closed == 1);
}

TEST_CASE("a connection that says hello before identify_timeout is not closed by it") {
    World w;
    MockPeer late(w.t, w.lobby);
    w.t.run_until_idle();
    w.t.advance(29s);
    hello(late, "late");
    w.t.run_until_idle();
    REQUIRE(late.count("welcome") == 1);

    w.t.advance(2min);
    CHECK(late.is_open());
    CHECK_FALSE(late.close_code());
}

TEST_CASE("requests that are not hello do not satisfy identify_timeout") {
    World w;
    MockPeer chatty(w.t, w.lobby);
    for (int i = 0; i < 5; ++i) {
        w.t.advance(5s);
        chatty.send(R"({"type":"rooms"})");
        w.t.run_until_idle();
    }
    CHECK(chatty.count("error") == 5);  // not_identified
    w.t.advance(5s);  // t = 30 s
    CHECK_FALSE(chatty.is_open());
    CHECK(chatty.close_code() == close_code::policy);
}
