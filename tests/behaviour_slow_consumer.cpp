// Slow consumers: a member that stops reading is dropped with 1013 once its
// outbound queue is over budget, its backlog is freed at once, and the rest of
// the room never waits for it.
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;

std::vector<std::uint64_t> message_seqs(const MockPeer& peer) {
    std::vector<std::uint64_t> out;
    for (const auto& frame : peer.all("message")) out.push_back(frame["seq"].GetUint64());
    return out;
}

std::vector<std::uint64_t> one_to(std::uint64_t n) {
    std::vector<std::uint64_t> out;
    for (std::uint64_t i = 1; i <= n; ++i) out.push_back(i);
    return out;
}

std::vector<std::string> leaves(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& frame : peer.all("presence"))
        if (std::string(frame["event"].GetString()) == "leave") out.emplace_back(frame["nick"].GetString());
    return out;
}

struct World {
    MockTransport t;
    Lobby<MockTransport> lobby;
    std::vector<MockPeer> peers;

    World(Limits limits, std::vector<std::string> nicks) : lobby(t, options(limits)) {
        for (const auto& nick : nicks) {
            peers.emplace_back(t, lobby);
            hello(peers.back(), nick);
            join(peers.back(), "general");
            t.run_until_idle();
        }
    }
    ~World() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }
    static LobbyOptions options(Limits limits) {
        LobbyOptions o;
        o.seed = 5;
        o.limits = limits;
        return o;
    }
    std::size_t members(const std::string& id) {
        std::optional<std::size_t> n;
        lobby.room(id, [&](std::optional<RoomInfo> info) { n = info ? info->members : 0; });
        t.run_until_idle();
        REQUIRE(n);
        return *n;
    }
    /// Runs tasks one by one until `peer` has been closed; false if it never is.
    bool run_until_closed(const MockPeer& peer) {
        while (peer.is_open())
            if (!t.executor().run_one()) return false;
        return true;
    }
};

Limits few_frames(std::size_t frames) {
    Limits l;
    l.max_outbound_frames = frames;
    return l;
}

}  // namespace

TEST_CASE("a stalled member is dropped with 1013 once its queue passes max_outbound_frames") {
    World w(few_frames(5), {"alice", "bob", "carol", "dave"});
    auto& alice = w.peers[0];
    auto& bob = w.peers[1];
    auto& carol = w.peers[2];
    auto& dave = w.peers[3];
    const auto dave_read_before = dave.connection().received.size();
    const auto dave_sent_before = dave.connection().sent_pointers.size();
    dave.stall();

    for (int i = 1; i <= 5; ++i) {
        say(alice, "message " + std::to_string(i));
        w.t.run_until_idle();
        CHECK(bob.count("message") == static_cast<std::size_t>(i));  // never held back
        CHECK(carol.count("message") == static_cast<std::size_t>(i));
    }
    CHECK(dave.is_open());
    CHECK(w.t.buffered_frames(dave.handle()) == 5);
    CHECK(w.t.buffered_amount(dave.handle()) > 0);

    say(alice, "message 6");
    REQUIRE(w.run_until_closed(dave));
    // Closed and freed in the same step that found the queue full, and the
    // others already have the message that did not fit.
    CHECK(dave.close_code() == close_code::try_again_later);
    CHECK(dave.connection().close_reason == "slow consumer");
    CHECK(w.t.buffered_amount(dave.handle()) == 0);
    CHECK(w.t.buffered_frames(dave.handle()) == 0);
    CHECK(dave.connection().unread.empty());
    CHECK(bob.count("message") == 6);
    CHECK(carol.count("message") == 6);
    CHECK(alice.count("message") == 6);
    w.t.run_until_idle();

    for (int i = 7; i <= 10; ++i) say(alice, "message " + std::to_string(i));
    w.t.run_until_idle();
    CHECK(message_seqs(alice) == one_to(10));
    CHECK(message_seqs(bob) == one_to(10));
    CHECK(message_seqs(carol) == one_to(10));
    CHECK(dave.connection().received.size() == dave_read_before);  // read nothing after the stall
    CHECK(dave.connection().sent_pointers.size() == dave_sent_before + 5);
    CHECK(dave.connection().sends_after_close == 0);

    CHECK(leaves(alice) == std::vector<std::string>{"dave"});
    CHECK(leaves(bob) == std::vector<std::string>{"dave"});
    CHECK(leaves(carol) == std::vector<std::string>{"dave"});
    CHECK(w.members("general") == 3);

    const auto m = w.lobby.metrics().snapshot();
    CHECK(m.slow_consumer_closes == 1);
    CHECK(m.connections_active == 3);
    CHECK(m.messages_in == 10);
    CHECK(m.messages_out == 5 * 4 + 5 * 3);  // dave got 1..5, not 6
}

TEST_CASE("a stalled member is dropped once its queued bytes would pass max_outbound_bytes") {
    Limits l;
    l.max_outbound_bytes = 1000;
    World w(l, {"alice", "bob", "dave"});
    auto& alice = w.peers[0];
    auto& bob = w.peers[1];
    auto& dave = w.peers[2];
    dave.stall();
    const std::string long_text(300, 'x');

    std::size_t queued = 0;
    std::size_t sent = 0;
    for (int i = 1; i <= 4; ++i) {
        say(alice, long_text);
        w.t.run_until_idle();
        REQUIRE(bob.count("message") == static_cast<std::size_t>(i));
        const auto size = bob.connection().received.back()->size();
        if (dave.is_open()) {
            REQUIRE(queued + size <= l.max_outbound_bytes);
            queued += size;
            ++sent;
            CHECK(w.t.buffered_amount(dave.handle()) == queued);
        }
    }
    // Each frame is a little under 400 bytes: two fit in 1000, the third does not.
    CHECK(sent == 2);
    CHECK(dave.close_code() == close_code::try_again_later);
    CHECK(w.t.buffered_amount(dave.handle()) == 0);
    CHECK(dave.connection().unread.empty());
    CHECK(leaves(bob) == std::vector<std::string>{"dave"});
    CHECK(w.lobby.metrics().snapshot().slow_consumer_closes == 1);
}

TEST_CASE("a member that stalls briefly and resumes in time loses nothing") {
    World w(few_frames(5), {"alice", "bob"});
    auto& alice = w.peers[0];
    auto& bob = w.peers[1];
    bob.stall();
    for (int i = 1; i <= 5; ++i) say(alice, "hold on " + std::to_string(i));
    w.t.run_until_idle();
    CHECK(bob.count("message") == 0);
    CHECK(w.t.buffered_frames(bob.handle()) == 5);

    bob.resume();
    CHECK(message_seqs(bob) == one_to(5));
    CHECK(w.t.buffered_frames(bob.handle()) == 0);
    say(alice, "still there?");
    w.t.run_until_idle();
    CHECK(message_seqs(bob) == one_to(6));
    CHECK(bob.is_open());
    CHECK(w.lobby.metrics().snapshot().slow_consumer_closes == 0);
}

TEST_CASE("several stalled members are each dropped once and the readers get every message") {
    World w(few_frames(3), {"alice", "bob", "carol", "dave", "erin"});
    auto& alice = w.peers[0];
    w.peers[2].stall();  // carol
    w.peers[4].stall();  // erin
    for (int i = 1; i <= 8; ++i) say(alice, "round " + std::to_string(i));
    w.t.run_until_idle();

    CHECK(w.peers[2].close_code() == close_code::try_again_later);
    CHECK(w.peers[4].close_code() == close_code::try_again_later);
    for (int reader : {0, 1, 3}) {
        CHECK(message_seqs(w.peers[reader]) == one_to(8));
        CHECK(leaves(w.peers[reader]) == std::vector<std::string>{"carol", "erin"});
    }
    CHECK(w.members("general") == 3);
    const auto m = w.lobby.metrics().snapshot();
    CHECK(m.slow_consumer_closes == 2);
    CHECK(m.messages_out == 3 * 5 + 5 * 3);  // rounds 1-3 reach five members, 4-8 three
}

TEST_CASE("a stalled peer whose own replies fill its queue is dropped too") {
    World w(few_frames(4), {"alice"});
    auto& alice = w.peers[0];
    alice.stall();
    for (int i = 0; i < 4; ++i) alice.send(R"({"type":"ping"})");
    w.t.run_until_idle();
    CHECK(alice.is_open());
    CHECK(w.t.buffered_frames(alice.handle()) == 4);

    alice.send(R"({"type":"ping"})");
    w.t.run_until_idle();
    CHECK(alice.close_code() == close_code::try_again_later);
    CHECK(w.t.buffered_amount(alice.handle()) == 0);
    CHECK(w.members("general") == 0);
    CHECK(w.lobby.metrics().snapshot().slow_consumer_closes == 1);
}

TEST_CASE("a stalled lobby watcher is dropped as a slow consumer") {
    World w(few_frames(2), {"alice"});
    MockPeer watcher(w.t, w.lobby);
    hello(watcher, "watcher");
    watcher.send(R"({"type":"watch_lobby"})");
    w.t.run_until_idle();
    REQUIRE(watcher.count("rooms") == 1);
    watcher.stall();

    auto& alice = w.peers[0];
    for (int i = 1; i <= 3; ++i) {
        alice.send(R"({"type":"create_room","name":"room )" + std::to_string(i) + R"("})");
        w.t.run_until_idle();
    }
    CHECK(watcher.close_code() == close_code::try_again_later);
    CHECK(w.t.buffered_amount(watcher.handle()) == 0);
    CHECK(alice.count("room_created") == 3);
    CHECK(w.lobby.metrics().snapshot().slow_consumer_closes == 1);
}
