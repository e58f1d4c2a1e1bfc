// One busy scenario (joins, messages, leave and resume, an abrupt drop, a
// stalled reader) replayed under 200 shuffled schedules of the manual
// executor, with the invariants every schedule must keep checked after each.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace std::chrono_literals;

constexpr std::size_t clients = 6;

std::string nick_of(std::size_t i) { return "u" + std::to_string(i); }

/// What one peer saw of one room, replayed from its frames.
struct View {
    std::vector<std::uint64_t> seqs;  // joined replays and live messages, in arrival order
    std::set<std::string> members;    // joined.members, then presence events
    bool member = false;              // between joined and left
    std::uint64_t last_seq = 0;
    std::string epoch;
    std::size_t joins = 0;
};

struct Scenario {
    MockTransport t;
    Lobby<MockTransport> lobby;
    std::vector<MockPeer> peers;
    std::string side;
    /// The test's model: who is in which room, and every client_id sent per room.
    std::map<std::string, std::set<std::string>> members;
    std::map<std::string, std::vector<std::string>> sent;
    std::set<std::size_t> dropped;         // peers that vanished (their views are partial)
    std::set<std::size_t> server_dropped;  // of those, the ones the server closed

    explicit Scenario(Limits limits) : lobby(t, options(limits)) {
        for (std::size_t i = 0; i < clients; ++i) peers.emplace_back(t, lobby);
    }

    static LobbyOptions options(Limits limits) {
        LobbyOptions o;
        o.seed = 77;
        o.limits = limits;
        return o;
    }

    void join(std::size_t i, const std::string& room, const std::string& extra = "") {
        peers[i].send(R"({"type":"join","room":")" + room + "\"" + extra + "}");
        members[room].insert(nick_of(i));
    }
    void leave(std::size_t i, const std::string& room) {
        peers[i].send(R"({"type":"leave","room":")" + room + R"("})");
        members[room].erase(nick_of(i));
    }
    void say(std::size_t i, const std::string& room) {
        const auto id = nick_of(i) + "-" + room + "-" + std::to_string(sent[room].size());
        peers[i].send(R"({"type":"send","room":")" + room + R"(","text":"hi","client_id":")" + id +
                      R"("})");
        sent[room].push_back(id);
    }
    void drop(std::size_t i) {
        peers[i].disconnect();
        dropped.insert(i);
        for (auto& [room, nicks] : members) nicks.erase(nick_of(i));
    }

    /// Replays peer `i`'s frames for `room`, checking the per-member invariants
    /// on the way, and records which client_id got which seq.
    View replay(std::size_t i, const std::string& room, std::map<std::uint64_t, std::string>& ids) {
        View v;
        for (const auto& text : peers[i].texts()) {
            const auto doc = parse_frame(text);
            const auto type = frame_type(doc);
            if (type == "error") FAIL("unexpected error frame for " << nick_of(i) << ": " << text);
            if (!doc.HasMember("room")) continue;
            const auto& r = doc["room"];
            const std::string id = r.IsObject() ? r["id"].GetString() : r.GetString();
            if (id != room) continue;
            auto record = [&](const rapidjson::Value& m) {
                const auto seq = m["seq"].GetUint64();
                const std::string cid = m["client_id"].GetString();
                auto [at, fresh] = ids.emplace(seq, cid);
                if (!fresh) CHECK(at->second == cid);  // one seq, one message
                v.seqs.push_back(seq);
                v.last_seq = seq;
            };
            if (type == "joined") {
                CHECK_FALSE(v.member);
                v.member = true;
                ++v.joins;
                CHECK(doc["complete"].GetBool());
                v.epoch = doc["epoch"].GetString();
                v.members.clear();
                for (const auto& n : doc["members"].GetArray()) v.members.insert(n.GetString());
                for (const auto& m : doc["messages"].GetArray()) record(m);
            } else if (type == "left") {
                CHECK(v.member);
                v.member = false;
            } else if (type == "message") {
                CHECK(v.member);  // never a message outside membership
                record(doc);
            } else if (type == "presence") {
                CHECK(v.member);
                const std::string nick = doc["nick"].GetString();
                if (std::string(doc["event"].GetString()) == "join")
                    CHECK(v.members.insert(nick).second);
                else
                    CHECK(v.members.erase(nick) == 1);
            }
        }
        // While a member (and across a leave and a resume with `since`) the seqs
        // go up by exactly one: no duplicate, no gap.
        for (std::size_t k = 0; k < v.seqs.size(); ++k) CHECK(v.seqs[k] == k + 1);
        return v;
    }

    std::map<std::string, std::size_t> lobby_counts() {
        std::map<std::string, std::size_t> counts;
        bool answered = false;
        lobby.rooms([&](std::vector<RoomInfo> rooms) {
            for (const auto& r : rooms) counts[r.id] = r.members;
            answered = true;
        });
        t.run_until_idle();
        REQUIRE(answered);
        return counts;
    }

    void check_invariants() {
        const auto counts = lobby_counts();
        for (const std::string& room : {std::string("general"), side}) {
            CAPTURE(room);
            std::map<std::uint64_t, std::string> ids;
            std::map<std::size_t, std::uint64_t> last_read;  // member -> newest seq it read
            for (std::size_t i = 0; i < clients; ++i) {
                CAPTURE(i);
                const auto v = replay(i, room, ids);
                if (dropped.count(i)) continue;
                const bool member = members[room].count(nick_of(i)) == 1;
                CHECK(v.member == member);
                if (member) CHECK(v.members == members[room]);
                if (member) last_read[i] = v.last_seq;
                if (room == "general" && i == 4) CHECK(v.joins == 2);  // left and resumed
            }
            // Every message sent got exactly one seq, the seqs run 1..n, and
            // every member at the end has read up to the newest.
            // (A connection the server dropped may lose the requests it still had
            // queued; one the peer dropped had its frames read before the drop.)
            std::multiset<std::string> got;
            std::uint64_t expect = 1;
            for (const auto& [seq, cid] : ids) {
                CHECK(seq == expect++);
                got.insert(cid);
            }
            std::size_t lost = 0;
            for (const auto& cid : sent[room]) {
                CAPTURE(cid);
                const std::size_t sender = std::stoul(cid.substr(1, cid.find('-') - 1));
                if (got.count(cid) == 0 && server_dropped.count(sender)) ++lost;
                else CHECK(got.count(cid) == 1);
            }
            CHECK(got.size() + lost == sent[room].size());
            for (const auto& [i, seq] : last_read) {
                CAPTURE(i);
                CHECK(seq == ids.size());
            }
            CHECK(counts.at(room) == members[room].size());
        }
    }

    /// The whole story; a seed shuffles the interleaving, none keeps post order.
    void play(std::optional<std::uint64_t> seed) {
        if (seed) t.executor().shuffle(*seed);
        for (std::size_t i = 0; i < clients; ++i)
            peers[i].send(R"({"type":"hello","nick":")" + nick_of(i) + R"("})");
        peers[0].send(R"({"type":"create_room","name":"side"})");
        t.run_until_idle();
        const auto created = peers[0].last("room_created");
        REQUIRE(created);
        side = (*created)["room"]["id"].GetString();

        // Everyone joins and talks at once; u5 has stopped reading.
        peers[5].stall();
        for (std::size_t i = 0; i < clients; ++i) join(i, "general");
        for (std::size_t i = 0; i < 4; ++i) join(i, side);
        for (std::size_t i = 0; i < clients; ++i) say(i, "general");
        for (std::size_t i = 0; i < 4; ++i) say(i, side);
        for (std::size_t i = 0; i < clients; ++i) say(i, "general");
        peers[4].send(R"({"type":"typing","room":"general","active":true})");
        t.run_until_idle();
        if (!peers[5].is_open()) {  // dropped as a slow consumer (small outbound limits)
            dropped.insert(5);
            server_dropped.insert(5);
            for (auto& [room, nicks] : members) nicks.erase(nick_of(5));
        }

        // u4 leaves, u3 says one more thing and drops, u5 catches up, talk goes on.
        leave(4, "general");
        say(3, "general");
        drop(3);
        say(1, "general");
        say(2, side);
        peers[5].resume();
        say(0, side);
        if (!dropped.count(5)) say(5, "general");
        t.run_until_idle();

        // u4 comes back where it left off while others keep talking.
        std::map<std::uint64_t, std::string> scratch;
        const auto before = replay(4, "general", scratch);
        join(4, "general",
             R"(,"since":)" + std::to_string(before.last_seq) + R"(,"epoch":")" + before.epoch + "\"");
        say(0, "general");
        say(1, "general");
        say(4, "general");
        say(1, side);
        t.run_until_idle();
    }

    /// Shuts down and checks nothing is left running or scheduled.
    void finish() {
        int done = 0;
        lobby.shutdown("end of run", [&] { ++done; });
        t.run_until_idle();
        CHECK(done == 1);
        CHECK(t.executor().pending() == 0);
        CHECK(t.clock().timer_count() == 0);
    }
};

}  // namespace

TEST_CASE("every interleaving keeps each member's seqs gapless, every message numbered once and "
          "the lobby's counts true") {
    Limits limits;
    std::set<std::string> orders;  // who got which seq in "general", per schedule
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        CAPTURE(seed);
        Scenario s(limits);
        s.play(seed);
        s.check_invariants();
        std::string order;
        for (const auto& m : s.peers[1].all("message"))
            if (std::string(m["room"].GetString()) == "general") order += m["client_id"].GetString();
        orders.insert(order);
        s.t.advance(10s);  // typing expiry runs out on a room u4 left
        s.finish();
    }
    // The seeds really explored different schedules.
    CHECK(orders.size() >= 50);
}

TEST_CASE("a reader dropped as a slow consumer mid-conversation never disturbs the others, under "
          "any interleaving") {
    Limits limits;
    limits.max_outbound_frames = 6;  // u5's backlog passes it during the first burst
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        CAPTURE(seed);
        Scenario s(limits);
        s.play(seed);
        CHECK(s.dropped.count(5) == 1);
        CHECK(s.peers[5].close_code() == close_code::try_again_later);
        CHECK(s.lobby.metrics().snapshot().slow_consumer_closes == 1);
        s.check_invariants();
        s.finish();
    }
}

TEST_CASE("a shutdown in the middle of traffic ends every session and leaves nothing scheduled, "
          "under any interleaving") {
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        CAPTURE(seed);
        Scenario s(Limits{});
        s.t.executor().shuffle(seed);
        for (std::size_t i = 0; i < clients; ++i)
            s.peers[i].send(R"({"type":"hello","nick":")" + nick_of(i) + R"("})");
        s.peers[0].send(R"({"type":"create_room","name":"side"})");
        s.t.run_until_idle();
        const std::string side = s.peers[0].last("room_created").value()["room"]["id"].GetString();
        for (std::size_t i = 0; i < clients; ++i) s.join(i, i % 2 ? "general" : side);
        s.t.run_until_idle();
        for (std::size_t i = 0; i < clients; ++i) {
            s.peers[i].send(std::string(R"({"type":"typing","room":")") +
                            (i % 2 ? "general" : side) + R"(","active":true})");
            s.say(i, i % 2 ? "general" : side);
        }
        s.peers[5].disconnect();
        MockPeer late(s.t, s.lobby);  // connected, not yet registered
        int done = 0;
        s.lobby.shutdown("maintenance", [&] { ++done; });
        MockPeer later(s.t, s.lobby);  // refused
        s.t.run_until_idle();

        CHECK(done == 1);
        for (std::size_t i = 0; i < 5; ++i) {
            CHECK(s.peers[i].close_code() == close_code::going_away);
            const auto shutdown = s.peers[i].last("shutdown");
            REQUIRE(shutdown);
            CHECK(std::string((*shutdown)["reason"].GetString()) == "maintenance");
        }
        CHECK(late.close_code() == close_code::going_away);
        CHECK(later.close_code() == close_code::going_away);
        CHECK(s.lobby.metrics().snapshot().connections_active == 0);
        CHECK(s.t.executor().pending() == 0);
        CHECK(s.t.clock().timer_count() == 0);
        CHECK(s.t.advance(1h) == 0);
    }
}

TEST_CASE("the interleavings scenario keeps its invariants in plain post order too") {
    Scenario s(Limits{});
    s.play(std::nullopt);
    s.check_invariants();
    s.finish();
}

TEST_CASE("a nick reclaimed from a new connection that rejoins at once stays listed, under any "
          "interleaving") {
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        CAPTURE(seed);
        Scenario s(Limits{});
        s.t.executor().shuffle(seed);
        s.peers[0].send(R"({"type":"hello","nick":"alice"})");
        s.peers[1].send(R"({"type":"hello","nick":"bob"})");
        s.join(0, "general");
        s.join(1, "general");
        s.t.run_until_idle();
        const std::string token = s.peers[0].last("welcome").value()["token"].GetString();

        // A second tab takes the nick over with the token and goes straight back in.
        MockPeer tab(s.t, s.lobby);
        tab.send(R"({"type":"hello","nick":"alice","token":")" + token + R"("})");
        tab.send(R"({"type":"join","room":"general"})");
        s.t.run_until_idle();

        CHECK(s.peers[0].close_code() == close_code::normal);
        REQUIRE(tab.last("joined"));
        // bob's picture of the room, from his joined frame and the presence events since.
        // Never a join for a name already listed nor a leave for one that is not.
        std::set<std::string> view;
        const auto bob_joined = s.peers[1].last("joined");
        for (const auto& n : (*bob_joined)["members"].GetArray()) view.insert(n.GetString());
        for (const auto& p : s.peers[1].all("presence")) {
            const std::string nick = p["nick"].GetString();
            if (std::string(p["event"].GetString()) == "join") CHECK(view.insert(nick).second);
            else CHECK(view.erase(nick) == 1);
        }
        CHECK(view == std::set<std::string>{"alice", "bob"});
        CHECK(tab.count("presence") == 0);  // never told that its own name left
        std::multiset<std::string> listed;
        const auto tab_joined = tab.last("joined");
        for (const auto& n : (*tab_joined)["members"].GetArray()) listed.insert(n.GetString());
        CHECK(listed == std::multiset<std::string>{"alice", "bob"});
        CHECK(s.lobby_counts().at("general") == 2);
        s.finish();
    }
}
