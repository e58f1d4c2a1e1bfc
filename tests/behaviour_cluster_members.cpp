// Cluster-wide member lists: two Lobbies sharing a fake of a Redis-like member
// hash (Bus::shares_members). A joiner's `joined` list holds every node's
// members; changes during its read are neither lost nor doubled; a node that
// stops or dies takes its members with it. Deterministic on the manual executor.
#include "behaviour_fixture.hpp"
#include "cluster_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;

/// One shared "Redis" for member lists: a hash per room (node, member) -> nick,
/// changes published to the other nodes' watchers with the write, as the
/// RedisBus script does. Reads can be held to script races: a held read takes
/// its snapshot either when asked (then the changes made meanwhile arrive as
/// events only) or when released (then they are in the snapshot and also
/// arrive as events), the two orders a real read can land in.
class FakeMembers final : public Bus {
public:
    bool hold_reads = false;
    bool snapshot_on_release = false;
    std::set<std::string> dead;         // nodes whose liveness expired: a read skips them
    std::string lose_events_for;        // this node misses member events (a pub/sub gap)

    void release_reads() {
        auto held = std::move(held_reads_);
        held_reads_.clear();
        for (auto& answer : held) answer();
    }
    std::size_t reads_waiting() const { return held_reads_.size(); }

    /// The surviving nodes notice `node` is gone (expired, or its `bye`).
    void node_gone(const std::string& node) {
        for (auto& [room, members] : hash)
            for (auto it = members.begin(); it != members.end();)
                it = it->first.first == node ? members.erase(it) : std::next(it);
        MemberEvent e;
        e.kind = MemberEvent::Kind::node_gone;
        e.node = node;
        tell_all(e, node);
    }
    /// Every watcher re-reads (what a reconnect or a peer's `hello` causes).
    void resync() {
        MemberEvent e;
        e.kind = MemberEvent::Kind::resync;
        tell_all(e, "");
    }

    void subscribe(const std::string& node, const std::string& room, Handler handler) override {
        subscribers_[room][node] = std::move(handler);
    }
    void unsubscribe(const std::string& node, const std::string& room) override {
        subscribers_[room].erase(node);
    }
    void publish(const BusEvent& event) override {
        auto targets = subscribers_[event.room_id];
        for (auto& [node, handler] : targets)
            if (node != event.origin_node) handler(event);
    }

    bool shares_members() const override { return true; }
    void member_listed(const std::string& node, const std::string& room, const std::string& member,
                       const std::string& nick, SharedFrame) override {
        hash[room][{node, member}] = nick;
        MemberEvent e{MemberEvent::Kind::listed, node, member, nick};
        tell(room, e);
    }
    void member_unlisted(const std::string& node, const std::string& room, const std::string& member,
                         SharedFrame) override {
        hash[room].erase({node, member});
        MemberEvent e{MemberEvent::Kind::unlisted, node, member, {}};
        tell(room, e);
    }
    void read_members(const std::string& node, const std::string& room, MembersDone done) override {
        ++reads;
        auto snapshot = [this, node, room] {
            std::vector<RemoteMember> out;
            for (const auto& [key, nick] : hash[room])
                if (key.first != node && !dead.count(key.first)) out.push_back({key.first, key.second, nick});
            return out;
        };
        if (!hold_reads) return done(snapshot());
        if (snapshot_on_release)
            held_reads_.push_back([done = std::move(done), snapshot] { done(snapshot()); });
        else
            held_reads_.push_back([done = std::move(done), found = snapshot()] { done(found); });
    }
    void watch_members(const std::string& node, const std::string& room, MemberHandler handler) override {
        watchers_[room][node] = std::move(handler);
    }
    void unwatch_members(const std::string& node, const std::string& room) override {
        watchers_[room].erase(node);
    }

    std::map<std::string, std::map<std::pair<std::string, std::string>, std::string>> hash;
    int reads = 0;

private:
    void tell(const std::string& room, const MemberEvent& e) {
        auto targets = watchers_[room];
        for (auto& [node, handler] : targets)
            if (node != e.node && node != lose_events_for) handler(e);
    }
    void tell_all(const MemberEvent& e, const std::string& except) {
        auto all = watchers_;
        for (auto& [room, targets] : all)
            for (auto& [node, handler] : targets)
                if (node != except) handler(e);
    }

    std::vector<std::function<void()>> held_reads_;
    std::map<std::string, std::map<std::string, Handler>> subscribers_;
    std::map<std::string, std::map<std::string, MemberHandler>> watchers_;
};

using TwoNodes = cluster_test::TwoNodes<FakeMembers, false>;

std::multiset<std::string> joined_members(const MockPeer& peer) {
    std::multiset<std::string> out;
    const auto joined = peer.last("joined");
    if (!joined) return out;
    for (const auto& nick : (*joined)["members"].GetArray()) out.insert(nick.GetString());
    return out;
}

/// The presence and nick_changed frames `peer` got, as "join alice", "leave bob", "nick a>b".
std::vector<std::string> presence(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& text : peer.texts()) {
        rapidjson::Document d;
        d.Parse(text.c_str());
        const std::string type = d["type"].GetString();
        if (type == "presence")
            out.push_back(std::string(d["event"].GetString()) + " " + d["nick"].GetString());
        else if (type == "nick_changed" && d.HasMember("room"))
            out.push_back(std::string("nick ") + d["old"].GetString() + ">" + d["nick"].GetString());
    }
    return out;
}

using Set = std::multiset<std::string>;
using List = std::vector<std::string>;

}  // namespace

TEST_CASE("members: a joiner on one node is told the members on every node") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), carol(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(carol, "carol");
    hello(bob, "bob");
    join(alice, "general");
    join(carol, "general");
    c.t.run_until_idle();
    join(bob, "general");
    c.t.run_until_idle();

    CHECK(joined_members(bob) == Set{"alice", "bob", "carol"});
    CHECK(presence(alice) == List{"join carol", "join bob"});
    CHECK(c.cluster->hash["general"].size() == 3);
}

TEST_CASE("members: a remote leave and rename reach the list and the members here") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), kim(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(kim, "kim");
    hello(bob, "bob");
    join(alice, "general");
    join(kim, "general");
    c.t.run_until_idle();
    join(bob, "general");
    c.t.run_until_idle();

    alice.send(R"({"type":"leave","room":"general"})");
    kim.send(R"({"type":"nick","nick":"kimberly"})");
    c.t.run_until_idle();
    CHECK(presence(bob) == List{"leave alice", "nick kim>kimberly"});

    MockPeer dave(c.t, c.b);
    hello(dave, "dave");
    join(dave, "general");
    c.t.run_until_idle();
    CHECK(joined_members(dave) == Set{"bob", "dave", "kimberly"});

    kim.client()->closed(1000);  // a disconnect unlists too
    c.t.run_until_idle();
    CHECK(presence(dave) == List{"leave kimberly"});
    CHECK(c.cluster->hash["general"].size() == 2);
}

TEST_CASE("members: changes while the joiner's read is in flight are applied after it, once") {
    for (const bool snapshot_on_release : {false, true}) {
        DYNAMIC_SECTION("the read sees the hash " << (snapshot_on_release ? "after" : "before")
                                                  << " the changes") {
            TwoNodes c;
            MockPeer alice(c.t, c.a), carol(c.t, c.a), bob(c.t, c.b);
            hello(alice, "alice");
            hello(carol, "carol");
            hello(bob, "bob");
            join(alice, "general");
            c.t.run_until_idle();

            c.cluster->hold_reads = true;
            c.cluster->snapshot_on_release = snapshot_on_release;
            join(bob, "general");
            c.t.run_until_idle();
            REQUIRE(c.cluster->reads_waiting() == 1);
            REQUIRE(bob.count("joined") == 0);  // held until the list is known

            // Subscribed, not yet read: these reach node B as events now.
            join(carol, "general");
            c.t.run_until_idle();
            alice.send(R"({"type":"leave","room":"general"})");
            c.t.run_until_idle();
            c.cluster->release_reads();
            c.t.run_until_idle();

            // Neither the departed alice nor a missing carol; nothing told twice.
            CHECK(joined_members(bob) == Set{"bob", "carol"});
            CHECK(presence(bob).empty());

            carol.send(R"({"type":"leave","room":"general"})");
            c.t.run_until_idle();
            CHECK(presence(bob) == List{"leave carol"});
        }
    }
}

TEST_CASE("members: a second joiner while the list is known needs no read") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b), dave(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(dave, "dave");
    join(alice, "general");
    c.t.run_until_idle();
    join(bob, "general");
    c.t.run_until_idle();
    const auto reads = c.cluster->reads;
    join(dave, "general");
    c.t.run_until_idle();
    CHECK(c.cluster->reads == reads);
    CHECK(joined_members(dave) == Set{"alice", "bob", "dave"});
}

TEST_CASE("members: a node that is gone takes its members out of every list") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), kim(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(kim, "kim");
    hello(bob, "bob");
    join(alice, "general");
    join(kim, "general");
    c.t.run_until_idle();
    join(bob, "general");
    c.t.run_until_idle();
    REQUIRE(joined_members(bob) == Set{"alice", "bob", "kim"});

    // Node A stops heartbeating (kill -9): the survivors' Bus reports it gone.
    c.cluster->dead.insert("A");
    c.cluster->node_gone("A");
    c.t.run_until_idle();
    auto told = presence(bob);
    std::sort(told.begin(), told.end());
    CHECK(told == List{"leave alice", "leave kim"});

    MockPeer dave(c.t, c.b);
    hello(dave, "dave");
    join(dave, "general");
    c.t.run_until_idle();
    CHECK(joined_members(dave) == Set{"bob", "dave"});
}

TEST_CASE("members: a dead node's entries still in the hash are not listed") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    c.t.run_until_idle();
    c.cluster->dead.insert("A");  // expired before anyone here noticed
    join(bob, "general");
    c.t.run_until_idle();
    CHECK(joined_members(bob) == Set{"bob"});
}

TEST_CASE("members: a re-read after missed events tells the members here the difference") {
    TwoNodes c;
    MockPeer alice(c.t, c.a), carol(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(carol, "carol");
    hello(bob, "bob");
    join(alice, "general");
    c.t.run_until_idle();
    join(bob, "general");
    c.t.run_until_idle();

    c.cluster->lose_events_for = "B";  // B's subscription is away
    alice.send(R"({"type":"leave","room":"general"})");
    join(carol, "general");
    c.t.run_until_idle();
    CHECK(presence(bob).empty());

    c.cluster->lose_events_for.clear();
    c.cluster->resync();  // back: the Hub reads the list again
    c.t.run_until_idle();
    CHECK(presence(bob) == List{"leave alice", "join carol"});

    MockPeer dave(c.t, c.b);
    hello(dave, "dave");
    join(dave, "general");
    c.t.run_until_idle();
    CHECK(joined_members(dave) == Set{"bob", "carol", "dave"});
}

TEST_CASE("members: a single node (LocalBus) lists only its own members, as before") {
    MockTransport t;
    Lobby<MockTransport> lobby{t};
    MockPeer alice(t, lobby), bob(t, lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    t.run_until_idle();
    CHECK(joined_members(bob) == Set{"alice", "bob"});
    CHECK(presence(alice) == List{"join bob"});
    lobby.shutdown("test over");
    t.run_until_idle();
}
