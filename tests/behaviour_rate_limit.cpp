// Rate limiting under load and virtual time: the token bucket, its refill, and
// the strikes that turn a flood (valid or not) into a 1008 close.
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

void ping(MockPeer& peer, const std::string& ref) {
    peer.send(R"({"type":"ping","ref":")" + ref + R"("})");
}

std::vector<std::string> pong_refs(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& frame : peer.all("pong")) out.emplace_back(frame["ref"].GetString());
    return out;
}

struct World {
    MockTransport t;
    Lobby<MockTransport> lobby;

    explicit World(Limits limits = {}) : lobby(t, options(limits)) {}
    ~World() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }
    static LobbyOptions options(Limits limits) {
        LobbyOptions o;
        o.seed = 11;
        o.limits = limits;
        return o;
    }
    MetricsSnapshot metrics() const { return lobby.metrics().snapshot(); }
};

/// A small bucket (5 requests, one per second) and few strikes (3, one forgiven per second).
Limits tight() {
    Limits l;
    l.rate_burst = 5;
    l.rate_per_second = 1;
    l.abuse_strikes = 3;
    l.abuse_forgiveness_per_second = 1;
    return l;
}

}  // namespace

TEST_CASE("a burst of rate_burst requests passes and the next is rate_limited with its ref echoed") {
    World w;
    REQUIRE(w.lobby.limits().rate_burst == 20);
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");  // request 1
    std::vector<std::string> refs;
    for (int i = 2; i <= 20; ++i) {
        refs.push_back("r" + std::to_string(i));
        ping(alice, refs.back());
    }
    w.t.run_until_idle();
    REQUIRE(alice.count("welcome") == 1);
    CHECK(pong_refs(alice) == refs);
    CHECK(alice.count("error") == 0);

    ping(alice, "one-too-many");
    alice.send(R"({"type":"ping","ref":77})");
    w.t.run_until_idle();
    const auto errors = alice.all("error");
    REQUIRE(errors.size() == 2);
    CHECK(std::string(errors[0]["code"].GetString()) == "rate_limited");
    CHECK(std::string(errors[0]["ref"].GetString()) == "one-too-many");
    CHECK(std::string(errors[1]["code"].GetString()) == "rate_limited");
    CHECK(errors[1]["ref"].GetInt() == 77);
    CHECK(alice.count("pong") == 19);
    CHECK(alice.is_open());

    const auto m = w.metrics();
    CHECK(m.rate_limited == 2);
    CHECK(m.error_count(ErrorCode::rate_limited) == 2);
    CHECK(m.policy_closes == 0);
}

TEST_CASE("rate limit tokens refill with virtual time up to rate_burst") {
    World w(tight());
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    for (int i = 0; i < 4; ++i) ping(alice, "burst");
    w.t.run_until_idle();
    REQUIRE(alice.count("pong") == 4);

    ping(alice, "empty");
    w.t.run_until_idle();
    CHECK(error_codes(alice) == std::vector<std::string>{"rate_limited"});

    w.t.advance(500ms);  // half a token
    ping(alice, "half");
    w.t.run_until_idle();
    CHECK(alice.count("pong") == 4);
    CHECK(alice.count("error") == 2);

    w.t.advance(500ms);  // one whole token
    ping(alice, "whole");
    ping(alice, "no more");
    w.t.run_until_idle();
    CHECK(pong_refs(alice).back() == "whole");
    CHECK(alice.count("pong") == 5);
    CHECK(alice.count("error") == 3);

    w.t.advance(3s);  // strikes are forgiven at the same pace
    for (int i = 0; i < 4; ++i) ping(alice, "after three seconds");
    w.t.run_until_idle();
    CHECK(alice.count("pong") == 8);
    CHECK(alice.count("error") == 4);

    w.t.advance(1h);  // refill is capped at rate_burst
    for (int i = 0; i < 6; ++i) ping(alice, "after an hour");
    w.t.run_until_idle();
    CHECK(alice.count("pong") == 13);
    CHECK(alice.count("error") == 5);
    CHECK(alice.is_open());
}

TEST_CASE("sustained abuse beyond abuse_strikes closes the connection with 1008") {
    World w(tight());
    MockPeer alice(w.t, w.lobby), bob(w.t, w.lobby);
    hello(alice, "alice");
    hello(bob, "bob");
    alice.send(R"({"type":"join","room":"general"})");
    bob.send(R"({"type":"join","room":"general"})");
    w.t.run_until_idle();  // alice spent 2 of her 5 tokens

    for (int i = 0; i < 3; ++i) ping(alice, "ok");
    for (int i = 0; i < 3; ++i) ping(alice, "strike");
    w.t.run_until_idle();
    CHECK(alice.count("pong") == 3);
    CHECK(error_codes(alice) == std::vector<std::string>{"rate_limited", "rate_limited", "rate_limited"});
    CHECK(alice.is_open());

    ping(alice, "the last straw");
    w.t.run_until_idle();
    CHECK_FALSE(alice.is_open());
    CHECK(alice.close_code() == close_code::policy);
    CHECK(alice.count("error") == 3);  // the closing request gets no reply

    ping(alice, "after the close");  // dropped by the closed socket
    w.t.run_until_idle();
    const auto m = w.metrics();
    CHECK(m.policy_closes == 1);
    CHECK(m.rate_limited == 4);
    CHECK(m.error_count(ErrorCode::rate_limited) == 3);
    CHECK(m.connections_active == 1);

    const auto leave = bob.last("presence");
    REQUIRE(leave);
    CHECK(std::string((*leave)["event"].GetString()) == "leave");
    CHECK(std::string((*leave)["nick"].GetString()) == "alice");
    CHECK(bob.is_open());
}

TEST_CASE("a client that backs off is forgiven its strikes and stays connected") {
    World w(tight());
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    for (int i = 0; i < 4; ++i) ping(alice, "ok");
    for (int i = 0; i < 3; ++i) ping(alice, "strike");  // every strike used
    w.t.run_until_idle();
    REQUIRE(alice.count("error") == 3);
    REQUIRE(alice.is_open());

    w.t.advance(3s);  // three tokens and three strikes back
    for (int i = 0; i < 3; ++i) ping(alice, "ok again");
    for (int i = 0; i < 3; ++i) ping(alice, "strike again");
    w.t.run_until_idle();
    CHECK(alice.count("pong") == 7);
    CHECK(alice.count("error") == 6);
    CHECK(alice.is_open());

    ping(alice, "too far");
    w.t.run_until_idle();
    CHECK(alice.close_code() == close_code::policy);
}

TEST_CASE("a flood of invalid JSON ends in a 1008 close") {
    World w;
    REQUIRE(w.lobby.limits().abuse_strikes == 50);
    MockPeer junk(w.t, w.lobby);
    for (int i = 0; i < 50; ++i) junk.send("{not json");
    w.t.run_until_idle();
    CHECK(junk.is_open());
    // The first rate_burst cost a token and a strike each; the rest only a strike.
    const auto m = w.metrics();
    CHECK(m.error_count(ErrorCode::bad_json) == 20);
    CHECK(m.error_count(ErrorCode::rate_limited) == 30);

    junk.send("{not json");
    w.t.run_until_idle();
    CHECK_FALSE(junk.is_open());
    CHECK(junk.close_code() == close_code::policy);
    CHECK(junk.count("error") == 50);
    CHECK(w.metrics().policy_closes == 1);
}

TEST_CASE("malformed frames cost strikes even while the bucket has tokens") {
    Limits l;
    l.abuse_strikes = 3;
    World w(l);
    MockPeer junk(w.t, w.lobby);
    junk.send("[1,2");
    junk.send(R"({"no type":true})");
    for (int i = 0; i < 5; ++i) junk.send(R"({"type":"warp"})");  // well-formed: a token, no strike
    junk.send(R"({"type":"ping"})");
    junk.send(R"({"type":"ping","ref":{}})");  // the third and last strike
    w.t.run_until_idle();
    CHECK(error_codes(junk) == std::vector<std::string>{"bad_json", "bad_request", "unknown_type",
                                                         "unknown_type", "unknown_type", "unknown_type",
                                                         "unknown_type", "bad_request"});
    CHECK(junk.count("pong") == 1);
    CHECK(junk.is_open());

    junk.send("nope");
    w.t.run_until_idle();
    CHECK(junk.close_code() == close_code::policy);
    CHECK(w.metrics().rate_limited == 0);
    CHECK(w.metrics().policy_closes == 1);
}

TEST_CASE("an abuser's nick is free at once after the policy close") {
    World w(tight());
    MockPeer alice(w.t, w.lobby);
    hello(alice, "alice");
    for (int i = 0; i < 8; ++i) ping(alice, "flood");
    w.t.run_until_idle();
    REQUIRE(alice.close_code() == close_code::policy);

    MockPeer other(w.t, w.lobby);
    hello(other, "alice");
    w.t.run_until_idle();
    REQUIRE(other.last("welcome"));
    CHECK(std::string(other.last("welcome").value()["nick"].GetString()) == "alice");
}
