// The cluster seams of the Bus (sequencing, nicknames, directory) with two
// Lobbies sharing one in-memory fake of a Redis-like backend: what a clustered
// deployment relies on, deterministic on the manual executor.
#include "behaviour_fixture.hpp"
#include "cluster_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;

/// One shared "Redis": per-room counters and streams, nickname owners, and the
/// room directory. Sequenced messages reach every subscribed node, the origin
/// included; other events skip their origin, as with RedisBus.
///
/// It answers at once unless told otherwise: to script races, store reads and
/// one node's sequenced deliveries can be held back and released later, and one
/// delivery can be lost (a pub/sub message missed across a reconnect).
class FakeCluster final : public Bus {
public:
    bool down = false;
    bool hold_reads = false;     // store reads answer on `release_reads()`
    std::string hold_live_for;   // this node's sequenced deliveries wait for `release_live()`
    std::string lose_next_for;   // this node misses the next sequenced delivery

    void release_reads() { release(held_reads_); }
    void release_live() { release(held_live_); }
    /// StreamStore's reads: answered now, or on release_reads() while held.
    void answer_read(HistoryPage page, Store::ReadDone done) {
        defer_read([done = std::move(done), page = std::move(page)]() mutable { done(std::move(page)); });
    }
    void defer_read(std::function<void()> answer) {
        if (hold_reads) held_reads_.push_back(std::move(answer));
        else answer();
    }

    void subscribe(const std::string& node, const std::string& room, Handler handler) override {
        subscribers_[room][node] = std::move(handler);
    }
    void unsubscribe(const std::string& node, const std::string& room) override {
        subscribers_[room].erase(node);
    }
    void publish(const BusEvent& event) override {
        if (down) return;
        deliver(event);
    }

    bool assigns_seq() const override { return true; }
    void append(SequencedMessage m, SeqDone done) override {
        if (down) return done(std::nullopt);
        auto& seq = seqs[m.room_id];
        seq = std::max(seq + 1, m.floor + 1);
        m.message.seq = seq;
        streams[m.room_id].push_back(make_stored(m.message));
        BusEvent event{m.origin_node, m.room_id,
                       make_frame(m.frame_head + std::to_string(seq) + m.frame_tail), seq,
                       m.message.author, {}};
        deliver(event);
        done(seq);
    }
    void room_head(const std::string& room, SeqDone done) override {
        if (down) return done(std::nullopt);
        done(seqs[room]);
    }

    bool shares_nicknames() const override { return true; }
    void claim_nick(const std::string& key, const std::string& token, ClaimDone done) override {
        if (down) return done(NickClaim::unavailable);
        auto it = nicks.find(key);
        if (it != nicks.end() && it->second != token) return done(NickClaim::taken);
        nicks[key] = token;
        done(NickClaim::granted);
    }
    void release_nick(const std::string& key, const std::string& token) override {
        auto it = nicks.find(key);
        if (it != nicks.end() && it->second == token) nicks.erase(it);
    }

    void watch_directory(const std::string& node, DirectoryHandler handler) override {
        directory_[node] = std::move(handler);
    }
    void room_changed(const std::string& node, const RoomRecord& room, std::size_t n) override {
        counts_[room.id][node] = n;
        records_[room.id] = room;
        for (auto& [other, handler] : directory_) {
            if (other == node) continue;
            DirectoryEvent e;
            e.room = room;
            for (const auto& [who, count] : counts_[room.id])
                if (who != other) e.remote_members += count;
            handler(e);
        }
    }
    void room_removed(const std::string& node, const std::string& room) override {
        counts_.erase(room);
        for (auto& [other, handler] : directory_) {
            if (other == node) continue;
            DirectoryEvent e;
            e.kind = DirectoryEvent::Kind::removed;
            e.room.id = room;
            handler(e);
        }
    }

    void send_direct(const std::string& origin, const std::string& key, SharedFrame frame,
                     DirectDone done) override {
        if (down || !nicks.count(key)) return done(false);
        for (auto& [node, handler] : direct_)
            if (node != origin) handler(key, frame);
        done(true);
    }
    void watch_direct(const std::string& node, DirectHandler handler) override {
        direct_[node] = std::move(handler);
    }

    /// Replays a sequenced event as a duplicate delivery would.
    void redeliver(const std::string& room, std::uint64_t seq, const std::string& origin) {
        const auto& stored = *streams[room].at(seq - 1);
        deliver(BusEvent{origin, room, make_frame(detail::encode_message(room, stored)), seq,
                         stored.message.author, {}});
    }

    std::map<std::string, std::uint64_t> seqs;
    std::map<std::string, std::vector<StoredMessagePtr>> streams;
    std::map<std::string, std::string> nicks;

private:
    void deliver(const BusEvent& event) {
        auto targets = subscribers_[event.room_id];
        for (auto& [node, handler] : targets) {
            if (event.seq == 0 && node == event.origin_node) continue;
            if (event.seq != 0 && node == lose_next_for) {
                lose_next_for.clear();
                continue;
            }
            if (event.seq != 0 && node == hold_live_for) {
                held_live_.push_back([handler = handler, event] { handler(event); });
                continue;
            }
            handler(event);
        }
    }

    static void release(std::vector<std::function<void()>>& held) {
        auto now = std::move(held);
        held.clear();
        for (auto& fn : now) fn();
    }

    std::vector<std::function<void()>> held_reads_;
    std::vector<std::function<void()>> held_live_;

    std::map<std::string, std::map<std::string, Handler>> subscribers_;
    std::map<std::string, DirectoryHandler> directory_;
    std::map<std::string, DirectHandler> direct_;
    std::map<std::string, std::map<std::string, std::size_t>> counts_;
    std::map<std::string, RoomRecord> records_;
};

using TwoNodes = cluster_test::TwoNodes<FakeCluster>;
using cluster_test::last_error;
using cluster_test::messages;

}  // namespace

TEST_CASE("clustered: both nodes deliver one sequence, the sender sees its message once") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();

    say(alice, "a1");
    say(bob, "b1");
    say(alice, "a2");
    c.t.run_until_idle();
    const std::vector<std::string> expected{"1:a1", "2:b1", "3:a2"};
    CHECK(messages(alice) == expected);
    CHECK(messages(bob) == expected);
    CHECK(c.cluster->seqs["general"] == 3);
}

TEST_CASE("clustered: a message delivered twice reaches members once") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();
    say(alice, "once");
    c.t.run_until_idle();
    c.cluster->redeliver("general", 1, "A");
    c.t.run_until_idle();
    CHECK(messages(alice) == std::vector<std::string>{"1:once"});
    CHECK(messages(bob) == std::vector<std::string>{"1:once"});
}

TEST_CASE("clustered: a nickname held on one node is taken on the other until released") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), impostor(c.t, c.b);
    hello(alice, "alice");
    c.t.run_until_idle();
    hello(impostor, "ALICE");
    c.t.run_until_idle();
    CHECK(last_error(impostor) == "nick_taken");

    alice.client()->closed(1000);  // a clean close frees the name everywhere
    c.t.run_until_idle();
    CHECK(c.cluster->nicks.empty());
    hello(impostor, "alice");
    c.t.run_until_idle();
    CHECK(impostor.count("welcome") == 1);
}

TEST_CASE("clustered: the lobby lists rooms created on another node with members summed") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b), carol(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(carol, "carol");
    carol.send(R"({"type":"watch_lobby"})");
    alice.send(R"({"type":"create_room","name":"Across"})");
    c.t.run_until_idle();
    const auto created = alice.last("room_created");
    REQUIRE(created);
    const std::string id = (*created)["room"]["id"].GetString();

    join(alice, id);
    join(bob, id);
    c.t.run_until_idle();
    for (auto* lobby : {&c.a, &c.b}) {
        std::vector<RoomInfo> list;
        lobby->rooms([&](std::vector<RoomInfo> r) { list = std::move(r); });
        c.t.run_until_idle();
        auto it = std::find_if(list.begin(), list.end(), [&](const RoomInfo& r) { return r.id == id; });
        REQUIRE(it != list.end());
        CHECK(it->members == 2);
    }
    const auto update = carol.last("room_update");
    REQUIRE(update);
    CHECK((*update)["room"]["members"].GetUint64() == 2);

    // Messages in it cross too.
    say(bob, "hi", id);
    c.t.run_until_idle();
    CHECK(messages(alice) == std::vector<std::string>{"1:hi"});
}

TEST_CASE("clustered: resuming on the other node serves the gap from the shared history") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.a);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();
    say(alice, "seen");
    c.t.run_until_idle();
    bob.disconnect();
    c.t.run_until_idle();
    say(alice, "gap1");
    say(alice, "gap2");
    c.t.run_until_idle();

    MockPeer back(c.t, c.b);  // node B has never had a member in general
    hello(back, "bob2");
    join(back, "general", R"(,"since":1,"epoch":"shared")");
    c.t.run_until_idle();
    const auto joined = back.last("joined");
    REQUIRE(joined);
    REQUIRE((*joined)["messages"].Size() == 2);
    CHECK(std::string((*joined)["messages"][0]["text"].GetString()) == "gap1");
    CHECK(std::string((*joined)["messages"][1]["text"].GetString()) == "gap2");
    CHECK((*joined)["complete"].GetBool());

    say(alice, "live");
    c.t.run_until_idle();
    CHECK(messages(back) == std::vector<std::string>{"4:live"});
}

TEST_CASE("clustered: while the backend is down sends and new nicknames are refused as unavailable") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), late(c.t, c.b);
    hello(alice, "alice");
    join(alice, "general");
    c.t.run_until_idle();

    c.cluster->down = true;
    say(alice, "lost");
    hello(late, "late");
    c.t.run_until_idle();
    CHECK(last_error(alice) == "unavailable");
    CHECK(last_error(late) == "unavailable");
    CHECK(alice.count("message") == 0);
    alice.send(R"({"type":"ping"})");  // the node still serves its members
    c.t.run_until_idle();
    CHECK(alice.count("pong") == 1);

    c.cluster->down = false;
    say(alice, "back");
    c.t.run_until_idle();
    CHECK(messages(alice) == std::vector<std::string>{"1:back"});
    CHECK(c.a.metrics().snapshot().error_count(ErrorCode::unavailable) == 1);
}

TEST_CASE("clustered: a direct message reaches a user on the other node") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    c.t.run_until_idle();
    alice.send(R"({"type":"dm","to":"Bob","text":"psst"})");
    alice.send(R"({"type":"dm","to":"nobody","text":"hello?"})");
    c.t.run_until_idle();
    REQUIRE(bob.count("dm") == 1);
    CHECK(std::string((*bob.last("dm"))["text"].GetString()) == "psst");
    CHECK(alice.count("dm") == 1);  // the sender's copy
    CHECK(last_error(alice) == "user_not_found");
}

TEST_CASE("clustered: two joins at once on a node, the second learning a newer head, lose nothing") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), carol(c.t, c.b), dave(c.t, c.b);
    hello(alice, "alice");
    hello(carol, "carol");
    hello(dave, "dave");
    join(alice, "general");
    c.t.run_until_idle();
    say(alice, "m1");
    say(alice, "m2");
    c.t.run_until_idle();

    // Carol's join on B learns head 2, then its replay read stays in flight.
    c.cluster->hold_reads = true;
    c.cluster->hold_live_for = "B";
    join(carol, "general");
    c.t.run_until_idle();
    // m3 is on its way to B when Dave's join learns head 3 (nobody listed on B yet).
    say(alice, "m3");
    c.t.run_until_idle();
    join(dave, "general");
    c.t.run_until_idle();
    // The replies arrive, then the live m3.
    c.cluster->hold_reads = false;
    c.cluster->release_reads();
    c.t.run_until_idle();
    c.cluster->hold_live_for.clear();
    c.cluster->release_live();
    c.t.run_until_idle();
    say(alice, "m4");
    c.t.run_until_idle();

    for (auto* peer : {&carol, &dave}) {
        const auto joined = peer->last("joined");
        REQUIRE(joined);
        std::vector<std::string> seen;
        for (const auto& m : (*joined)["messages"].GetArray())
            seen.push_back(std::to_string(m["seq"].GetUint64()) + ":" + m["text"].GetString());
        for (const auto& m : messages(*peer)) seen.push_back(m);
        CHECK(seen == std::vector<std::string>{"1:m1", "2:m2", "3:m3", "4:m4"});
    }
}

TEST_CASE("clustered: a missed live delivery is read from the store and delivered in order") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();
    say(alice, "m1");
    c.t.run_until_idle();

    c.cluster->lose_next_for = "B";  // B's subscription misses m2
    say(alice, "m2");
    c.t.run_until_idle();
    c.cluster->hold_reads = true;  // B's read of the gap is slow: m4 arrives meanwhile
    say(alice, "m3");
    c.t.run_until_idle();
    say(alice, "m4");
    c.t.run_until_idle();
    CHECK(messages(bob) == std::vector<std::string>{"1:m1"});
    c.cluster->hold_reads = false;
    c.cluster->release_reads();
    c.t.run_until_idle();
    CHECK(messages(bob) == std::vector<std::string>{"1:m1", "2:m2", "3:m3", "4:m4"});

    // The window has them too: a history request is served whole.
    bob.send(R"({"type":"history","room":"general","limit":10})");
    c.t.run_until_idle();
    const auto history = bob.last("history");
    REQUIRE(history);
    CHECK((*history)["messages"].Size() == 4);
    CHECK((*history)["complete"].GetBool());
}

TEST_CASE("clustered: a gap the store cannot fill is skipped once, not asked again") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();
    c.cluster->lose_next_for = "B";
    say(alice, "m1");
    c.t.run_until_idle();
    c.cluster->streams["general"].clear();  // trimmed away before B asks
    say(alice, "m2");
    c.t.run_until_idle();
    CHECK(messages(bob) == std::vector<std::string>{"2:m2"});
    say(alice, "m3");
    c.t.run_until_idle();
    CHECK(messages(bob) == std::vector<std::string>{"2:m2", "3:m3"});
}
