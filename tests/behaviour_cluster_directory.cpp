// The cluster directory seams of the Bus: nickname look-ups, room names unique
// cluster-wide, direct messages only to connected holders, and the retried read
// of seqs a live delivery skipped. Two Lobbies share one in-memory fake of a
// Redis-like backend on the manual executor, so every schedule is replayed exactly.
#include "behaviour_fixture.hpp"
#include "cluster_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;
using namespace std::chrono_literals;

/// One shared "Redis": sequenced room messages with their streams, nickname
/// owners and online marks, room name claims. No room directory: a node learns
/// nothing of the other's rooms, so only the name claim can refuse a duplicate.
class FakeDirectory final : public Bus {
public:
    bool down = false;
    std::string lose_next_for;    // this node misses the next sequenced delivery
    std::size_t failing_reads = 0;  // store reads that fail before they work again
    std::size_t reads = 0;          // store reads asked for

    /// StreamStore's reads: answered at once, failed while `failing_reads` lasts.
    void answer_read(HistoryPage page, Store::ReadDone done) {
        ++reads;
        if (failing_reads > 0) {
            --failing_reads;
            page.messages.clear();
            page.failed = true;
        }
        done(std::move(page));
    }

    void subscribe(const std::string& node, const std::string& room, Handler handler) override {
        subscribers_[room][node] = std::move(handler);
    }
    void unsubscribe(const std::string& node, const std::string& room) override {
        subscribers_[room].erase(node);
    }
    void publish(const BusEvent& event) override {
        if (!down) deliver(event);
    }

    bool assigns_seq() const override { return true; }
    void append(SequencedMessage m, SeqDone done) override {
        if (down) return done(std::nullopt);
        const auto seq = ++seqs[m.room_id];
        m.message.seq = seq;
        streams[m.room_id].push_back(make_stored(m.message));
        deliver(BusEvent{m.origin_node, m.room_id, make_frame(m.frame_head + std::to_string(seq) + m.frame_tail),
                         seq, m.message.author, {}});
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
        nick_online(key, token, false);
    }

    void nick_held(const std::string& key, HeldDone done) override {
        if (down) return done(std::nullopt);
        done(nicks.count(key) != 0);
    }
    bool shares_room_names() const override { return true; }
    void claim_room_name(const std::string& key, const std::string& room_id, ClaimDone done) override {
        if (down) return done(NickClaim::unavailable);
        auto it = room_names.find(key);
        if (it != room_names.end() && it->second != room_id) return done(NickClaim::taken);
        room_names[key] = room_id;
        done(NickClaim::granted);
    }
    void release_room_name(const std::string& key, const std::string& room_id) override {
        auto it = room_names.find(key);
        if (it != room_names.end() && it->second == room_id) room_names.erase(it);
    }
    void nick_online(const std::string& key, const std::string& token, bool on) override {
        if (on) return void(online[key] = token);
        auto it = online.find(key);
        if (it != online.end() && it->second == token) online.erase(it);
    }

    void send_direct(const std::string& origin, const std::string& key, SharedFrame frame,
                     DirectDone done) override {
        if (down || !online.count(key)) return done(false);
        for (auto& [node, handler] : direct_)
            if (node != origin) handler(key, frame);
        done(true);
    }
    void watch_direct(const std::string& node, DirectHandler handler) override {
        direct_[node] = std::move(handler);
    }

    std::map<std::string, std::uint64_t> seqs;
    std::map<std::string, std::vector<StoredMessagePtr>> streams;
    std::map<std::string, std::string> nicks;       // folded nick -> token
    std::map<std::string, std::string> online;      // folded nick -> token, holder connected
    std::map<std::string, std::string> room_names;  // folded name -> room id

private:
    void deliver(const BusEvent& event) {
        auto targets = subscribers_[event.room_id];
        for (auto& [node, handler] : targets) {
            if (event.seq == 0 && node == event.origin_node) continue;
            if (event.seq != 0 && node == lose_next_for) {
                lose_next_for.clear();
                continue;
            }
            handler(event);
        }
    }

    std::map<std::string, std::map<std::string, Handler>> subscribers_;
    std::map<std::string, DirectHandler> direct_;
};

using TwoNodes = cluster_test::TwoNodes<FakeDirectory>;
using cluster_test::last_error;
using cluster_test::messages;

/// What `nick_available` answers on `lobby`: "free", or the failure's code.
std::string availability(TwoNodes& c, Lobby<MockTransport>& lobby, const std::string& nick) {
    std::string answer = "no answer";
    lobby.nick_available(nick, [&answer](Lobby<MockTransport>::Failure failure) {
        answer = failure ? std::string(to_string(*failure)) : "free";
    });
    c.t.run_until_idle();
    return answer;
}

void create_room(MockPeer& peer, const std::string& name) {
    peer.send(R"({"type":"create_room","name":")" + name + R"("})");
}

}  // namespace

// ---- nickname look-ups ---------------------------------------------------------------------

TEST_CASE("cluster directory: a nickname held on one node reads as taken on the other") {
    TwoNodes c;
    MockPeer alice(c.t, c.a);
    hello(alice, "alice");
    c.t.run_until_idle();
    CHECK(availability(c, c.b, "ALICE") == "nick_taken");
    CHECK(availability(c, c.a, "alice") == "nick_taken");
    CHECK(availability(c, c.b, "bob") == "free");

    alice.client()->closed(1000);  // a clean close frees it everywhere
    c.t.run_until_idle();
    CHECK(availability(c, c.b, "alice") == "free");
}

TEST_CASE("cluster directory: a nickname look-up without the backend is unavailable, never free") {
    TwoNodes c;
    c.cluster->down = true;
    CHECK(availability(c, c.b, "anyone") == "unavailable");
    CHECK(availability(c, c.b, "bad nick") == "nick_invalid");  // checked before asking
}

// ---- room names ----------------------------------------------------------------------------

TEST_CASE("cluster directory: a room name taken on one node is refused on the other, ignoring case") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    create_room(alice, "Across");
    c.t.run_until_idle();
    REQUIRE(alice.count("room_created") == 1);
    const std::string id = (*alice.last("room_created"))["room"]["id"].GetString();
    CHECK(c.cluster->room_names.at("across") == id);

    create_room(bob, "ACROSS");
    c.t.run_until_idle();
    CHECK(last_error(bob) == "room_exists");
    CHECK(bob.count("room_created") == 0);
    bool listed = false;  // B does not keep a room of its own under that name
    c.b.rooms([&listed](std::vector<RoomInfo> rooms) {
        for (const auto& r : rooms) listed = listed || r.name == "ACROSS";
    });
    c.t.run_until_idle();
    CHECK_FALSE(listed);

    // The permanent general room is on both nodes under one id: no conflict, and
    // its name is taken on each (every node has it), without a claim in the backend.
    join(alice, "general");
    join(bob, "general");
    create_room(bob, "General");
    c.t.run_until_idle();
    CHECK(alice.count("joined") == 1);
    CHECK(bob.count("joined") == 1);
    CHECK(last_error(bob) == "room_exists");
    CHECK(c.cluster->room_names.size() == 1);
}

TEST_CASE("cluster directory: the embedder API refuses a name held elsewhere as a user would") {
    TwoNodes c;
    std::optional<ErrorCode> first = ErrorCode::bad_request, second;
    c.a.create_room("Shared", [&first](Lobby<MockTransport>::Failure f, RoomInfo) { first = f; });
    c.t.run_until_idle();
    c.b.create_room("shared", [&second](Lobby<MockTransport>::Failure f, RoomInfo) { second = f; });
    c.t.run_until_idle();
    CHECK_FALSE(first);
    CHECK(second == ErrorCode::room_exists);
}

TEST_CASE("cluster directory: a removed room frees its name for the other node") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    create_room(alice, "brief");
    c.t.run_until_idle();
    REQUIRE(alice.count("room_created") == 1);
    CHECK(c.cluster->room_names.count("brief") == 1);
    c.t.advance(c.a.limits().empty_room_ttl + 1s);  // nobody joined: removed on A
    CHECK(c.cluster->room_names.count("brief") == 0);

    create_room(bob, "brief");
    c.t.run_until_idle();
    CHECK(bob.count("room_created") == 1);
}

TEST_CASE("cluster directory: without the backend a new room is refused as unavailable") {
    TwoNodes c;
    MockPeer alice(c.t, c.a);
    hello(alice, "alice");
    c.t.run_until_idle();
    c.cluster->down = true;
    create_room(alice, "later");
    c.t.run_until_idle();
    CHECK(last_error(alice) == "unavailable");
    CHECK(alice.count("room_created") == 0);

    c.cluster->down = false;  // nothing was left behind: the name is still free
    create_room(alice, "later");
    c.t.run_until_idle();
    CHECK(alice.count("room_created") == 1);
}

TEST_CASE("cluster directory: two creations of one name on one node at once, the second is refused") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), carol(c.t, c.a);
    hello(alice, "alice");
    hello(carol, "carol");
    c.t.run_until_idle();
    create_room(alice, "twin");
    create_room(carol, "Twin");
    c.t.run_until_idle();
    CHECK(alice.count("room_created") + carol.count("room_created") == 1);
    CHECK(last_error(alice) + last_error(carol) == "room_exists");
    const auto created = alice.count("room_created") ? alice.last("room_created") : carol.last("room_created");
    REQUIRE(created);
    CHECK(c.cluster->room_names == std::map<std::string, std::string>{{"twin", (*created)["room"]["id"].GetString()}});
}

// ---- direct messages and reconnect grace -----------------------------------------------------

TEST_CASE("cluster directory: a direct message to a nickname in grace on another node is refused as on one") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b), local(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(local, "local");
    c.t.run_until_idle();
    const std::string token = (*alice.last("welcome"))["token"].GetString();

    alice.disconnect();  // dropped: the name waits for the token holder
    local.disconnect();
    c.t.run_until_idle();
    REQUIRE(c.cluster->nicks.count("alice") == 1);

    bob.send(R"({"type":"dm","to":"local","text":"same node"})");
    c.t.run_until_idle();
    const auto single_node = last_error(bob);
    CHECK(single_node == "user_not_found");
    bob.send(R"({"type":"dm","to":"alice","text":"other node"})");
    c.t.run_until_idle();
    CHECK(last_error(bob) == single_node);
    CHECK(error_codes(bob).size() == 2);
    CHECK(bob.count("dm") == 0);

    MockPeer back(c.t, c.a);  // reclaimed with the token: reachable again
    hello(back, "alice", token);
    c.t.run_until_idle();
    bob.send(R"({"type":"dm","to":"alice","text":"welcome back"})");
    c.t.run_until_idle();
    CHECK(back.count("dm") == 1);
    CHECK(error_codes(bob).size() == 2);
}

// ---- gap reads -------------------------------------------------------------------------------

namespace {

/// Alice on A and Bob on B in general; B's subscription then misses m2, so m3
/// shows B a gap and B reads m2 from the store.
void gap_on_b(TwoNodes& c, MockPeer& alice, MockPeer& bob) {
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();
    say(alice, "m1");
    c.t.run_until_idle();
    c.cluster->lose_next_for = "B";
    say(alice, "m2");
    c.t.run_until_idle();
    c.cluster->reads = 0;
}

}  // namespace

TEST_CASE("cluster directory: a failed gap read is retried with doubling backoff, order kept") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    gap_on_b(c, alice, bob);
    c.cluster->failing_reads = 3;
    say(alice, "m3");
    c.t.run_until_idle();
    CHECK(c.cluster->reads == 1);
    say(alice, "m4");  // held behind the gap
    c.t.run_until_idle();
    CHECK(messages(bob) == std::vector<std::string>{"1:m1"});

    c.t.advance(99ms);
    CHECK(c.cluster->reads == 1);
    c.t.advance(1ms);  // 100 ms after the first failure
    CHECK(c.cluster->reads == 2);
    c.t.advance(199ms);
    CHECK(c.cluster->reads == 2);
    c.t.advance(1ms);  // 200 ms after the second
    CHECK(c.cluster->reads == 3);
    c.t.advance(400ms);  // the fourth read works
    CHECK(c.cluster->reads == 4);
    CHECK(messages(bob) == std::vector<std::string>{"1:m1", "2:m2", "3:m3", "4:m4"});
    const auto m = c.b.metrics().snapshot();
    CHECK(m.gap_read_retries == 3);
    CHECK(m.gap_reads_failed == 0);
}

TEST_CASE("cluster directory: a gap read failing every attempt is given up after the last, then skipped") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    gap_on_b(c, alice, bob);
    const auto& limits = c.b.limits();
    REQUIRE(limits.gap_read_attempts == 8);
    c.cluster->failing_reads = 100;
    say(alice, "m3");
    c.t.run_until_idle();
    // 100, 200, 400, 800, 1600, then capped at 2000 ms: 7.1 s for 7 retries.
    c.t.advance(7099ms);
    CHECK(c.cluster->reads == 7);
    CHECK(messages(bob) == std::vector<std::string>{"1:m1"});
    c.t.advance(1ms);
    CHECK(c.cluster->reads == 8);
    CHECK(messages(bob) == std::vector<std::string>{"1:m1", "3:m3"});
    c.t.advance(10s);
    CHECK(c.cluster->reads == 8);  // not asked again
    const auto m = c.b.metrics().snapshot();
    CHECK(m.gap_read_retries == 7);
    CHECK(m.gap_reads_failed == 1);

    c.cluster->failing_reads = 0;
    say(alice, "m4");
    c.t.run_until_idle();
    CHECK(messages(bob) == std::vector<std::string>{"1:m1", "3:m3", "4:m4"});
}
