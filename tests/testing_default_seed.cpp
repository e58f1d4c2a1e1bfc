// A Lobby on the test kit's MockTransport replays the same ids and tokens on every
// run without the test setting LobbyOptions::seed (MockTransport::default_seed).
#include <catch2/catch.hpp>
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <cstdint>
#include <string>

namespace {

using parley::Lobby;
using parley::testing::MockPeer;
using parley::testing::MockTransport;

/// What a fresh Lobby hands its first user: node id, session name and resume token.
struct FirstWelcome {
    std::string node_id;
    std::string session;
    std::string token;
};

FirstWelcome first_welcome(parley::LobbyOptions options = {}) {
    MockTransport t;
    Lobby<MockTransport> lobby(t, options);
    MockPeer alice(t, lobby);
    alice.send(R"({"type":"hello","nick":"alice"})");
    t.run_until_idle();
    const auto welcome = alice.last("welcome");
    REQUIRE(welcome);
    FirstWelcome out{lobby.node_id(), (*welcome)["session"].GetString(), (*welcome)["token"].GetString()};
    lobby.shutdown("test over");
    t.run_until_idle();
    return out;
}

/// A transport type that declares no default seed (the trait looks at nothing else).
struct TransportWithoutSeed {};

}  // namespace

TEST_CASE("two Lobbies on MockTransport without a seed hand out the same node id and token") {
    const FirstWelcome first = first_welcome();
    const FirstWelcome second = first_welcome();
    CHECK(first.node_id == second.node_id);
    CHECK(first.session == second.session);
    CHECK(first.token == second.token);
}

TEST_CASE("an explicit LobbyOptions::seed still decides the sequence on MockTransport") {
    parley::LobbyOptions options;
    options.seed = 77;
    const FirstWelcome seeded = first_welcome(options);
    const FirstWelcome defaulted = first_welcome();
    CHECK(seeded.token != defaulted.token);
    CHECK(seeded.token == first_welcome(options).token);
}

TEST_CASE("the default seed is MockTransport's and zero (unpredictable) for other transports") {
    CHECK(parley::default_seed_v<MockTransport> == MockTransport::default_seed);
    CHECK(MockTransport::default_seed != 0);
    CHECK(parley::default_seed_v<TransportWithoutSeed> == 0);
}
