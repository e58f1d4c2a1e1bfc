// Typing indicators under virtual time: who hears them, how refreshes are
// throttled, and when they end on their own.
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;
using namespace std::chrono_literals;

void typing(MockPeer& peer, bool active) {
    peer.send(std::string(R"({"type":"typing","room":"general","active":)") +
              (active ? "true" : "false") + "}");
}

/// Every typing event a peer has read, as (nick, active), oldest first.
std::vector<std::pair<std::string, bool>> typing_seen(const MockPeer& peer) {
    std::vector<std::pair<std::string, bool>> out;
    for (const auto& frame : peer.all("typing")) {
        REQUIRE(std::string(frame["room"].GetString()) == "general");
        out.emplace_back(frame["nick"].GetString(), frame["active"].GetBool());
    }
    return out;
}

using Seen = std::vector<std::pair<std::string, bool>>;

/// A lobby with `nicks` in "general", everything delivered.
struct Room {
    MockTransport t;
    Lobby<MockTransport> lobby;
    std::vector<MockPeer> peers;

    explicit Room(std::vector<std::string> nicks) : lobby(t, options()) {
        for (const auto& nick : nicks) {
            peers.emplace_back(t, lobby);
            hello(peers.back(), nick);
            join(peers.back(), "general");
            t.run_until_idle();
        }
        for (auto& peer : peers) REQUIRE(peer.count("joined") == 1);
    }
    // The Lobby's contract: shut down before destroying it.
    ~Room() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }

    static LobbyOptions options() {
        LobbyOptions o;
        o.seed = 42;
        return o;
    }
};

}  // namespace

TEST_CASE("typing active:true reaches the other members of the room and not the typist") {
    Room room({"alice", "bob", "carol"});
    MockPeer dave(room.t, room.lobby);  // identified, in no room
    hello(dave, "dave");
    room.t.run_until_idle();

    typing(room.peers[0], true);
    room.t.run_until_idle();

    CHECK(typing_seen(room.peers[0]).empty());
    CHECK(typing_seen(room.peers[1]) == Seen{{"alice", true}});
    CHECK(typing_seen(room.peers[2]) == Seen{{"alice", true}});
    CHECK(dave.count("typing") == 0);
}

TEST_CASE("a typing refresh within typing_throttle is not broadcast again but extends the expiry") {
    Room room({"alice", "bob"});
    auto& alice = room.peers[0];
    auto& bob = room.peers[1];
    const auto& limits = room.lobby.limits();
    REQUIRE(limits.typing_throttle == 2000ms);
    REQUIRE(limits.typing_expiry == 5000ms);

    typing(alice, true);  // t = 0
    room.t.run_until_idle();
    room.t.advance(1000ms);
    typing(alice, true);  // t = 1 s: inside the throttle, expiry moves to 6 s
    room.t.run_until_idle();
    CHECK(typing_seen(bob) == Seen{{"alice", true}});

    room.t.advance(4999ms);  // t = 5.999 s: the first expiry (5 s) was superseded
    CHECK(typing_seen(bob) == Seen{{"alice", true}});

    room.t.advance(1ms);  // t = 6 s
    CHECK(typing_seen(bob) == Seen{{"alice", true}, {"alice", false}});

    room.t.advance(30s);
    CHECK(typing_seen(bob) == Seen{{"alice", true}, {"alice", false}});
    CHECK(typing_seen(alice).empty());
}

TEST_CASE("a typing refresh once typing_throttle has passed is broadcast again") {
    Room room({"alice", "bob"});
    auto& alice = room.peers[0];
    auto& bob = room.peers[1];

    typing(alice, true);  // t = 0
    room.t.run_until_idle();
    room.t.advance(1999ms);
    typing(alice, true);  // just inside the throttle
    room.t.run_until_idle();
    CHECK(typing_seen(bob) == Seen{{"alice", true}});

    room.t.advance(1ms);
    typing(alice, true);  // exactly typing_throttle after the last broadcast
    room.t.run_until_idle();
    CHECK(typing_seen(bob) == Seen{{"alice", true}, {"alice", true}});
}

TEST_CASE("typing expires to active:false exactly after typing_expiry and not before") {
    Room room({"alice", "bob", "carol"});
    auto& alice = room.peers[0];

    typing(alice, true);
    room.t.run_until_idle();

    room.t.advance(4999ms);
    CHECK(typing_seen(room.peers[1]) == Seen{{"alice", true}});
    CHECK(typing_seen(room.peers[2]) == Seen{{"alice", true}});

    room.t.advance(1ms);
    CHECK(typing_seen(room.peers[1]) == Seen{{"alice", true}, {"alice", false}});
    CHECK(typing_seen(room.peers[2]) == Seen{{"alice", true}, {"alice", false}});
    CHECK(typing_seen(alice).empty());

    room.t.advance(60s);
    CHECK(room.peers[1].count("typing") == 2);
    CHECK(room.peers[2].count("typing") == 2);
}

TEST_CASE("typing active:false ends typing at once and no expiry follows") {
    Room room({"alice", "bob"});
    auto& alice = room.peers[0];
    auto& bob = room.peers[1];

    typing(alice, true);
    room.t.run_until_idle();
    room.t.advance(1000ms);
    typing(alice, false);
    room.t.run_until_idle();
    CHECK(typing_seen(bob) == Seen{{"alice", true}, {"alice", false}});

    typing(alice, false);  // not typing any more: nothing to announce
    room.t.run_until_idle();
    room.t.advance(30s);
    CHECK(typing_seen(bob) == Seen{{"alice", true}, {"alice", false}});
}

TEST_CASE("typing again after active:false is announced at once despite the throttle") {
    Room room({"alice", "bob"});
    auto& alice = room.peers[0];
    auto& bob = room.peers[1];

    typing(alice, true);
    typing(alice, false);
    typing(alice, true);
    room.t.run_until_idle();
    CHECK(typing_seen(bob) == Seen{{"alice", true}, {"alice", false}, {"alice", true}});

    room.t.advance(5000ms);
    CHECK(typing_seen(bob) ==
          Seen{{"alice", true}, {"alice", false}, {"alice", true}, {"alice", false}});
}

TEST_CASE("a message from a typing member ends typing without a later active:false") {
    Room room({"alice", "bob"});
    auto& alice = room.peers[0];
    auto& bob = room.peers[1];

    typing(alice, true);
    alice.send(R"({"type":"send","room":"general","text":"done typing"})");
    room.t.run_until_idle();
    CHECK(bob.count("message") == 1);

    room.t.advance(60s);
    CHECK(typing_seen(bob) == Seen{{"alice", true}});
}

TEST_CASE("members who stop typing at different times each get exactly one active:false") {
    Room room({"alice", "bob", "carol", "dave"});
    auto& alice = room.peers[0];
    auto& bob = room.peers[1];
    auto& carol = room.peers[2];
    auto& dave = room.peers[3];

    typing(alice, true);  // expires at 5 s
    room.t.run_until_idle();
    room.t.advance(1000ms);
    typing(bob, true);  // expires at 6 s
    room.t.run_until_idle();
    room.t.advance(1500ms);
    typing(carol, true);  // expires at 7.5 s
    room.t.run_until_idle();

    const Seen started{{"alice", true}, {"bob", true}, {"carol", true}};
    CHECK(typing_seen(dave) == started);

    room.t.advance(2499ms);  // t = 4.999 s
    CHECK(typing_seen(dave) == started);
    room.t.advance(1ms);  // t = 5 s
    CHECK(typing_seen(dave) == Seen{{"alice", true}, {"bob", true}, {"carol", true}, {"alice", false}});
    room.t.advance(999ms);  // t = 5.999 s
    CHECK(dave.count("typing") == 4);
    room.t.advance(1ms);  // t = 6 s
    CHECK(dave.count("typing") == 5);
    room.t.advance(1499ms);  // t = 7.499 s
    CHECK(dave.count("typing") == 5);
    room.t.advance(1ms);  // t = 7.5 s
    CHECK(typing_seen(dave) == Seen{{"alice", true}, {"bob", true}, {"carol", true},
                                    {"alice", false}, {"bob", false}, {"carol", false}});

    room.t.advance(60s);
    CHECK(typing_seen(alice) == Seen{{"bob", true}, {"carol", true}, {"bob", false}, {"carol", false}});
    CHECK(typing_seen(bob) ==
          Seen{{"alice", true}, {"carol", true}, {"alice", false}, {"carol", false}});
    CHECK(typing_seen(carol) ==
          Seen{{"alice", true}, {"bob", true}, {"alice", false}, {"bob", false}});
    CHECK(dave.count("typing") == 6);
}
