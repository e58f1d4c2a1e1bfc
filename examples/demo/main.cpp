// parley-demo: a scripted chat session on the mock transport, printed as a
// transcript. It runs the real Lobby, Hubs and Clients with virtual time, so the
// output is the same on every run: a quick look at the protocol without a network.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

using parley::Lobby;
using parley::testing::MockPeer;
using parley::testing::MockTransport;

struct Actor {
    std::string name;
    MockPeer peer;
};

/// Sends one request and prints it, then lets every lane run.
void say(MockTransport& net, Actor& who, std::string_view json) {
    std::printf("%-6s -> %.*s\n", who.name.c_str(), static_cast<int>(json.size()), json.data());
    who.peer.send(json);
    net.run_until_idle();
}

/// Prints what each actor received since the last call.
void show(std::vector<Actor*> actors) {
    for (auto* a : actors)
        for (const auto& frame : a->peer.take()) std::printf("%-6s <- %s\n", a->name.c_str(), frame.c_str());
}

}  // namespace

int main() {
    MockTransport net;
    parley::LobbyOptions options;
    options.seed = 2026;  // fixed ids and tokens: the transcript is reproducible
    options.node_id = "demo";
    Lobby<MockTransport> lobby(net, options);

    Actor alice{"alice", MockPeer(net, lobby)};
    Actor bob{"bob", MockPeer(net, lobby)};
    std::vector<Actor*> both{&alice, &bob};

    std::puts("# Two people pick nicknames; a taken one is refused");
    say(net, alice, R"({"type":"hello","nick":"alice"})");
    say(net, bob, R"({"type":"hello","nick":"Alice"})");
    say(net, bob, R"({"type":"hello","nick":"민수"})");
    show(both);

    std::puts("\n# They meet in the lobby's default room");
    say(net, alice, R"({"type":"join","room":"general","ref":1})");
    say(net, bob, R"({"type":"join","room":"general","ref":2})");
    show(both);

    std::puts("\n# Typing, a message, and the indicator expiring on its own");
    say(net, bob, R"({"type":"typing","room":"general","active":true})");
    say(net, alice, R"({"type":"send","room":"general","text":"안녕, welcome!","client_id":"a-1"})");
    net.advance(std::chrono::seconds(6));
    show(both);

    std::puts("\n# Mistakes get error frames and the connection stays up");
    say(net, bob, R"({"type":"send","room":"general","text":""})");
    say(net, bob, R"({"type":"delete","room":"general","seq":1,"ref":"d1"})");
    say(net, bob, R"({not json)");
    show(both);

    std::puts("\n# A direct message, then bob leaves");
    say(net, alice, R"({"type":"dm","to":"민수","text":"psst"})");
    say(net, bob, R"({"type":"leave","room":"general"})");
    show(both);

    std::puts("\n# The server shuts down");
    lobby.shutdown("demo finished");
    net.run_until_idle();
    show(both);
    for (auto* a : both)
        std::printf("%-6s closed with %u\n", a->name.c_str(), static_cast<unsigned>(a->peer.close_code().value_or(0)));

    const auto m = lobby.metrics().snapshot();
    std::printf("\nmetrics: %llu connections, %llu messages in, %llu frames out, %llu errors\n",
                static_cast<unsigned long long>(m.connections_opened),
                static_cast<unsigned long long>(m.messages_in),
                static_cast<unsigned long long>(m.frames_out),
                static_cast<unsigned long long>(m.errors_total()));
    return 0;
}
