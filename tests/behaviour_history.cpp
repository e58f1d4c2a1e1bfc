// History under trimming and a slow store: resuming with `since`, the epoch,
// paging, and a store that answers later than the Hub asks.
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;
using namespace std::chrono_literals;

using Seqs = std::vector<std::uint64_t>;

Seqs range(std::uint64_t first, std::uint64_t last) {
    Seqs out;
    for (auto s = first; s <= last; ++s) out.push_back(s);
    return out;
}

Seqs seqs_of(const rapidjson::Value& messages) {
    Seqs out;
    for (const auto& m : messages.GetArray()) out.push_back(m["seq"].GetUint64());
    return out;
}

/// A Store that keeps everything and answers each read only when the test
/// says so, with what it held when the read was made (a database round trip).
class DeferredStore final : public Store {
public:
    std::vector<RoomRecord> load_rooms() override { return {}; }
    void save_room(const RoomRecord&) override {}
    void remove_room(const std::string& room_id) override { rooms_.erase(room_id); }
    void append(const std::string& room_id, StoredMessagePtr message) override {
        rooms_[room_id].push_back(std::move(message));
    }
    void update(const std::string& room_id, const MessagePatch&, StoredMessagePtr changed) override {
        for (auto& m : rooms_[room_id])
            if (m->message.seq == changed->message.seq) m = changed;
    }
    void read(const std::string& room_id, HistoryQuery query, ReadDone done) override {
        HistoryPage page;
        for (const auto& m : rooms_[room_id]) {
            const auto seq = m->message.seq;
            if (seq > query.after && (query.before == 0 || seq < query.before))
                page.messages.push_back(m);
        }
        if (page.messages.size() > query.limit)
            page.messages.erase(page.messages.begin(),
                                page.messages.end() - static_cast<std::ptrdiff_t>(query.limit));
        queries.push_back(query);
        waiting_.push_back([done = std::move(done), page = std::move(page)] { done(page); });
    }

    /// Answers every read made so far, oldest first.
    std::size_t answer_all() {
        auto waiting = std::move(waiting_);
        waiting_.clear();
        for (auto& answer : waiting) answer();
        return waiting.size();
    }
    std::size_t waiting() const { return waiting_.size(); }

    std::vector<HistoryQuery> queries;

private:
    std::unordered_map<std::string, std::vector<StoredMessagePtr>> rooms_;
    std::vector<std::function<void()>> waiting_;
};

struct World {
    MockTransport t;
    Lobby<MockTransport> lobby;
    MockPeer alice;

    World(std::size_t window, std::shared_ptr<Store> store)
        : lobby(t, options(window, std::move(store))), alice(t, lobby) {
        hello(alice, "alice");
        alice.send(R"({"type":"join","room":"general"})");
        t.run_until_idle();
        REQUIRE(alice.count("joined") == 1);
    }
    ~World() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }
    static LobbyOptions options(std::size_t window, std::shared_ptr<Store> store) {
        LobbyOptions o;
        o.seed = 21;
        o.limits.history_window = window;
        o.limits.rate_burst = 1000;  // these tests send in bulk on purpose
        o.store = std::move(store);
        return o;
    }
    void say(int n) {
        for (int i = 0; i < n; ++i)
            alice.send(R"({"type":"send","room":"general","text":"line"})");
        t.run_until_idle();
    }
    std::string epoch() const { return alice.last("joined").value()["epoch"].GetString(); }

    /// A new member that joins with `extra` fields; returns its joined frame.
    rapidjson::Document join(MockPeer& peer, const std::string& nick, const std::string& extra) {
        hello(peer, nick);
        peer.send(R"({"type":"join","room":"general")" + extra + "}");
        t.run_until_idle();
        auto joined = peer.last("joined");
        REQUIRE(joined);
        return std::move(*joined);
    }
};

std::shared_ptr<Store> small_memory_store() { return std::make_shared<MemoryStore>(5); }

}  // namespace

TEST_CASE("a join with since inside the history window gets exactly the gap, complete") {
    World w(5, small_memory_store());
    w.say(12);  // seqs 1..12; the window keeps 8..12
    const auto epoch = w.epoch();

    MockPeer bob(w.t, w.lobby), carol(w.t, w.lobby), dave(w.t, w.lobby);
    auto gap = w.join(bob, "bob", R"(,"since":9,"epoch":")" + epoch + "\"");
    CHECK(seqs_of(gap["messages"]) == range(10, 12));
    CHECK(gap["complete"].GetBool());

    auto whole = w.join(carol, "carol", R"(,"since":7,"epoch":")" + epoch + "\"");
    CHECK(seqs_of(whole["messages"]) == range(8, 12));  // the gap just fits
    CHECK(whole["complete"].GetBool());

    auto none = w.join(dave, "dave", R"(,"since":12,"epoch":")" + epoch + "\"");
    CHECK(none["messages"].Size() == 0);
    CHECK(none["complete"].GetBool());
}

TEST_CASE("a join with since older than the trimmed history gets what is left, incomplete") {
    World w(5, small_memory_store());
    w.say(12);
    MockPeer bob(w.t, w.lobby);
    auto joined = w.join(bob, "bob", R"(,"since":3,"epoch":")" + w.epoch() + "\"");
    CHECK(seqs_of(joined["messages"]) == range(8, 12));  // 4..7 are gone
    CHECK_FALSE(joined["complete"].GetBool());
}

TEST_CASE("a join with since from another epoch is told its history is incomplete") {
    World w(5, small_memory_store());
    w.say(12);
    MockPeer bob(w.t, w.lobby), carol(w.t, w.lobby);
    auto other = w.join(bob, "bob", R"(,"since":10,"epoch":"not-this-one")");
    CHECK_FALSE(other["complete"].GetBool());
    CHECK(std::string(other["epoch"].GetString()) == w.epoch());
    CHECK(seqs_of(other["messages"]) == range(8, 12));  // the latest, not the gap after 10

    auto ahead = w.join(carol, "carol", R"(,"since":40,"epoch":")" + w.epoch() + "\"");
    CHECK_FALSE(ahead["complete"].GetBool());  // a seq this room never issued
}

TEST_CASE("history pages walk back through the whole window and say where it was trimmed") {
    World w(5, small_memory_store());
    w.say(12);
    auto page = [&](const std::string& extra) {
        w.alice.send(R"({"type":"history","room":"general","limit":2)" + extra + "}");
        w.t.run_until_idle();
        auto history = w.alice.last("history");
        REQUIRE(history);
        return std::move(*history);
    };
    auto p1 = page("");
    CHECK(seqs_of(p1["messages"]) == Seqs{11, 12});
    CHECK(p1["complete"].GetBool());
    auto p2 = page(R"(,"before":11)");
    CHECK(seqs_of(p2["messages"]) == Seqs{9, 10});
    CHECK(p2["complete"].GetBool());
    auto p3 = page(R"(,"before":9)");
    CHECK(seqs_of(p3["messages"]) == Seqs{8});  // 7 was trimmed
    CHECK_FALSE(p3["complete"].GetBool());
    auto p4 = page(R"(,"before":8)");
    CHECK(p4["messages"].Size() == 0);
    CHECK_FALSE(p4["complete"].GetBool());
}

TEST_CASE("history pages of an untrimmed room end with an empty complete page") {
    World w(5, small_memory_store());
    w.say(5);
    std::optional<std::uint64_t> before;
    Seqs seen;
    for (int i = 0; i < 3; ++i) {
        w.alice.send(R"({"type":"history","room":"general","limit":2)" +
                     (before ? R"(,"before":)" + std::to_string(*before) : std::string()) + "}");
        w.t.run_until_idle();
        auto history = w.alice.last("history");
        REQUIRE(history);
        CHECK((*history)["complete"].GetBool());
        auto got = seqs_of((*history)["messages"]);
        REQUIRE_FALSE(got.empty());
        seen.insert(seen.begin(), got.begin(), got.end());
        before = got.front();
    }
    CHECK(seen == range(1, 5));
    w.alice.send(R"({"type":"history","room":"general","before":1})");
    w.t.run_until_idle();
    auto last = w.alice.last("history");
    CHECK((*last)["messages"].Size() == 0);
    CHECK((*last)["complete"].GetBool());
}

TEST_CASE("history beyond the window comes from the store, whenever it answers") {
    auto store = std::make_shared<DeferredStore>();
    World w(5, store);
    w.say(20);  // the window keeps 16..20, the store all of them
    REQUIRE(store->waiting() == 0);

    w.alice.send(R"({"type":"history","room":"general","before":16,"limit":5,"ref":"old"})");
    w.t.run_until_idle();
    CHECK(w.alice.count("history") == 0);  // waiting on the store
    REQUIRE(store->waiting() == 1);
    CHECK(store->queries.back().after == 10);
    CHECK(store->queries.back().before == 16);
    CHECK(store->queries.back().limit == 5);

    w.t.advance(250ms);
    CHECK(store->answer_all() == 1);
    w.t.run_until_idle();
    auto history = w.alice.last("history");
    REQUIRE(history);
    CHECK(std::string((*history)["ref"].GetString()) == "old");
    CHECK(seqs_of((*history)["messages"]) == range(11, 15));
    CHECK((*history)["complete"].GetBool());

    // A page across the window's edge: 14..15 from the store, 16..17 from memory.
    w.alice.send(R"({"type":"history","room":"general","before":18,"limit":4})");
    w.t.run_until_idle();
    REQUIRE(store->answer_all() == 1);
    w.t.run_until_idle();
    CHECK(seqs_of(w.alice.last("history").value()["messages"]) == range(14, 17));

    std::optional<std::vector<StoredMessagePtr>> rest;
    bool rest_complete = false;
    w.lobby.room_history("general", 3, 10,
                         [&](Lobby<MockTransport>::Failure failure,
                             std::vector<StoredMessagePtr> messages, bool complete) {
                             CHECK_FALSE(failure);
                             rest = std::move(messages);
                             rest_complete = complete;
                         });
    w.t.run_until_idle();
    CHECK_FALSE(rest);
    REQUIRE(store->answer_all() == 1);
    w.t.run_until_idle();
    REQUIRE(rest);
    REQUIRE(rest->size() == 2);
    CHECK((*rest)[0]->message.seq == 1);
    CHECK((*rest)[1]->message.seq == 2);
    CHECK(rest_complete);
}

TEST_CASE("a join waiting on the store gets no live message before joined, and misses none") {
    auto store = std::make_shared<DeferredStore>();
    World w(5, store);
    w.say(20);

    MockPeer bob(w.t, w.lobby);
    hello(bob, "bob");
    bob.send(R"({"type":"join","room":"general","history":10})");
    w.t.run_until_idle();
    REQUIRE(store->waiting() == 1);
    CHECK(store->queries.back().after == 10);
    CHECK(store->queries.back().before == 16);

    w.say(1);  // seq 21, while bob's join waits
    CHECK(w.alice.count("message") == 21);
    CHECK(bob.count("joined") == 0);
    CHECK(bob.count("message") == 0);

    w.t.advance(100ms);
    store->answer_all();
    w.t.run_until_idle();
    w.say(1);  // seq 22, after the join

    const auto frames = bob.texts();
    REQUIRE(frames.size() == 3);
    CHECK(frame_type(parse_frame(frames[0])) == "welcome");
    CHECK(frame_type(parse_frame(frames[1])) == "joined");
    CHECK(frame_type(parse_frame(frames[2])) == "message");
    const auto joined = parse_frame(frames[1]);
    CHECK(seqs_of(joined["messages"]) == range(11, 21));
    CHECK(joined["complete"].GetBool());
    CHECK(parse_frame(frames[2])["seq"].GetUint64() == 22);
}

TEST_CASE("a join never claims complete history when the window moved on during the store read") {
    auto store = std::make_shared<DeferredStore>();
    World w(5, store);
    w.say(20);

    MockPeer bob(w.t, w.lobby);
    hello(bob, "bob");
    bob.send(R"({"type":"join","room":"general","history":10})");
    w.t.run_until_idle();
    REQUIRE(store->waiting() == 1);
    w.say(10);  // 21..30: more than the window holds, while the read is out
    store->answer_all();
    w.t.run_until_idle();
    w.say(1);  // seq 31

    auto joined = bob.last("joined");
    REQUIRE(joined);
    const auto got = seqs_of((*joined)["messages"]);
    REQUIRE_FALSE(got.empty());
    CHECK(std::is_sorted(got.begin(), got.end()));
    CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
    CHECK(got.back() == 30);
    if ((*joined)["complete"].GetBool()) CHECK(got == range(11, 30));
    CHECK(bob.last("message").value()["seq"].GetUint64() == 31);
    CHECK(bob.count("message") == 1);
}
