// Two Lobbies (two server processes) sharing one LocalBus on one transport:
// a room's broadcasts cross between nodes, never echo back, and a node stops
// listening to a room once it has no local member left.
#include "behaviour_fixture.hpp"

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;
using namespace behaviour_test;

/// A LocalBus that records what goes through it: who subscribes, and which
/// node's handler received which origin's events.
class RecordingBus final : public Bus {
public:
    struct Delivery {
        std::string to_node;
        std::string origin;
        std::string room;
    };

    void subscribe(const std::string& node, const std::string& room_id, Handler handler) override {
        subscribed.emplace_back(node, room_id);
        inner_.subscribe(node, room_id, [this, node, handler = std::move(handler)](const BusEvent& e) {
            deliveries.push_back(Delivery{node, e.origin_node, e.room_id});
            handler(e);
        });
    }
    void unsubscribe(const std::string& node, const std::string& room_id) override {
        unsubscribed.emplace_back(node, room_id);
        inner_.unsubscribe(node, room_id);
    }
    void publish(const BusEvent& event) override {
        ++published;
        inner_.publish(event);
    }
    std::size_t subscribed_nodes() const override { return inner_.subscribed_nodes(); }

    std::size_t delivered_to(const std::string& node) const {
        std::size_t n = 0;
        for (const auto& d : deliveries) n += d.to_node == node;
        return n;
    }

    std::vector<std::pair<std::string, std::string>> subscribed, unsubscribed;
    std::vector<Delivery> deliveries;
    std::size_t published = 0;

private:
    LocalBus inner_;
};

LobbyOptions node(const std::string& id, std::shared_ptr<Bus> bus, std::uint64_t seed) {
    LobbyOptions o;
    o.node_id = id;
    o.bus = std::move(bus);
    o.seed = seed;
    return o;
}

/// Two nodes, "A" and "B", on one transport and one bus.
struct Cluster {
    MockTransport t;
    std::shared_ptr<RecordingBus> bus = std::make_shared<RecordingBus>();
    Lobby<MockTransport> a{t, node("A", bus, 1)};
    Lobby<MockTransport> b{t, node("B", bus, 2)};

    ~Cluster() {
        a.shutdown("test over");
        b.shutdown("test over");
        t.run_until_idle();
    }
};

std::vector<std::string> texts_of_messages(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& m : peer.all("message")) out.emplace_back(m["text"].GetString());
    return out;
}

}  // namespace

TEST_CASE("a message in a room on node A reaches the room's members on node B") {
    Cluster c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b), carol(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(carol, "carol");
    join(alice, "general");
    join(bob, "general");
    join(carol, "general");
    c.t.run_until_idle();

    say(alice, "hello from A");
    c.t.run_until_idle();
    CHECK(texts_of_messages(bob) == std::vector<std::string>{"hello from A"});
    CHECK(texts_of_messages(carol) == std::vector<std::string>{"hello from A"});
    const auto m = bob.last("message");
    CHECK(std::string((*m)["from"].GetString()) == "alice");
    CHECK((*m)["seq"].GetUint64() == 1);
    // In one process the very same encoded frame crosses the bus.
    CHECK(bob.connection().sent_pointers.back() == alice.connection().sent_pointers.back());
    CHECK(carol.connection().sent_pointers.back() == alice.connection().sent_pointers.back());

    say(bob, "and back from B");
    c.t.run_until_idle();
    CHECK(texts_of_messages(alice) == std::vector<std::string>{"hello from A", "and back from B"});
}

TEST_CASE("a node does not get its own bus events back") {
    Cluster c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    c.t.run_until_idle();
    const auto to_a = c.bus->delivered_to("A");
    const auto to_b = c.bus->delivered_to("B");

    for (int i = 0; i < 3; ++i) say(alice, "from A " + std::to_string(i));
    say(bob, "from B");
    c.t.run_until_idle();

    CHECK(alice.count("message") == 4);  // its own three once each, and bob's
    CHECK(bob.count("message") == 4);
    REQUIRE_FALSE(c.bus->deliveries.empty());
    for (const auto& d : c.bus->deliveries) CHECK(d.to_node != d.origin);
    // A hears B's one message; B hears A's three.
    CHECK(c.bus->delivered_to("A") - to_a == 1);
    CHECK(c.bus->delivered_to("B") - to_b == 3);
}

TEST_CASE("presence crosses nodes too") {
    Cluster c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    c.t.run_until_idle();
    join(bob, "general");
    c.t.run_until_idle();
    const auto p = alice.last("presence");
    REQUIRE(p);
    CHECK(std::string((*p)["event"].GetString()) == "join");
    CHECK(std::string((*p)["nick"].GetString()) == "bob");
}

TEST_CASE("a node unsubscribes from a room after its last local member leaves") {
    Cluster c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b), carol(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    hello(carol, "carol");
    join(alice, "general");
    join(bob, "general");
    join(carol, "general");
    c.t.run_until_idle();
    using Sub = std::pair<std::string, std::string>;
    CHECK(c.bus->subscribed == std::vector<Sub>{{"A", "general"}, {"B", "general"}});

    bob.send(R"({"type":"leave","room":"general"})");
    c.t.run_until_idle();
    CHECK(c.bus->unsubscribed.empty());  // carol is still there
    say(alice, "still there, carol?");
    c.t.run_until_idle();
    CHECK(texts_of_messages(carol) == std::vector<std::string>{"still there, carol?"});

    carol.disconnect();
    c.t.run_until_idle();
    CHECK(c.bus->unsubscribed == std::vector<Sub>{{"B", "general"}});

    const auto before = c.bus->delivered_to("B");
    say(alice, "anyone on B?");
    c.t.run_until_idle();
    CHECK(c.bus->delivered_to("B") == before);
    CHECK(texts_of_messages(bob).empty());
    CHECK(alice.count("message") == 2);

    join(bob, "general");  // a local member again: subscribed again
    c.t.run_until_idle();
    CHECK(c.bus->subscribed.back() == Sub{"B", "general"});
    say(alice, "welcome back");
    c.t.run_until_idle();
    CHECK(texts_of_messages(bob) == std::vector<std::string>{"welcome back"});
}

TEST_CASE("two lobbies on one plain LocalBus exchange room messages") {
    MockTransport t;
    auto bus = std::make_shared<LocalBus>();
    Lobby<MockTransport> a(t, node("A", bus, 1));
    Lobby<MockTransport> b(t, node("B", bus, 2));
    MockPeer alice(t, a), bob(t, b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    join(bob, "general");
    t.run_until_idle();
    say(alice, "plain bus");
    t.run_until_idle();
    CHECK(texts_of_messages(bob) == std::vector<std::string>{"plain bus"});
    CHECK(alice.count("message") == 1);
    a.shutdown("test over");
    b.shutdown("test over");
    t.run_until_idle();
}

TEST_CASE("a LocalBus counts the nodes that hold a subscription") {
    LocalBus bus;
    auto ignore = [](const BusEvent&) {};
    CHECK(bus.subscribed_nodes() == 0);
    bus.subscribe("A", "r1", ignore);
    bus.subscribe("A", "r2", ignore);
    bus.subscribe("A", "r2", ignore);  // again: still one subscription
    CHECK(bus.subscribed_nodes() == 1);
    bus.subscribe("B", "r1", ignore);
    CHECK(bus.subscribed_nodes() == 2);
    bus.unsubscribe("A", "r1");
    CHECK(bus.subscribed_nodes() == 2);  // A still has r2
    bus.unsubscribe("A", "r2");
    CHECK(bus.subscribed_nodes() == 1);
    bus.unsubscribe("A", "r2");  // not subscribed: nothing changes
    bus.unsubscribe("C", "r9");
    CHECK(bus.subscribed_nodes() == 1);
    bus.unsubscribe("B", "r1");
    CHECK(bus.subscribed_nodes() == 0);
}

TEST_CASE("a node alone on the bus publishes nothing, and publishes again once another node listens") {
    Cluster c;
    MockPeer alice(c.t, c.a), bob(c.t, c.b);
    hello(alice, "alice");
    hello(bob, "bob");
    join(alice, "general");
    c.t.run_until_idle();
    // (Presence goes out through Bus::member_listed, which the Bus decides on.)
    auto published = c.bus->published;
    say(alice, "only A listens");
    c.t.run_until_idle();
    CHECK(alice.count("message") == 1);
    CHECK(c.bus->published == published);

    bob.send(R"({"type":"create_room","name":"Lounge"})");
    c.t.run_until_idle();
    const auto created = bob.last("room_created");
    REQUIRE(created);
    join(bob, (*created)["room"]["id"].GetString());  // B listens, to another room: A's go out again
    c.t.run_until_idle();
    REQUIRE(c.bus->subscribed_nodes() == 2);
    published = c.bus->published;
    say(alice, "B listens somewhere");
    c.t.run_until_idle();
    CHECK(c.bus->published == published + 1);
    CHECK(texts_of_messages(bob).empty());

    join(bob, "general");
    c.t.run_until_idle();
    say(alice, "now B hears it");
    c.t.run_until_idle();
    CHECK(texts_of_messages(bob) == std::vector<std::string>{"now B hears it"});
    CHECK(alice.count("message") == 3);
}
