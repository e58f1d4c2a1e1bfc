// Fan-out: a broadcast is encoded once and the same buffer reaches every member,
// and the traffic metrics add up to exactly what crossed the transport.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace parley;
using namespace parley::testing;

/// A lobby whose test counts every frame it feeds in.
struct World {
    MockTransport t;
    Lobby<MockTransport> lobby;
    std::vector<MockPeer> peers;
    std::size_t frames_in = 0;
    std::size_t bytes_in = 0;

    explicit World(std::vector<std::string> nicks) : lobby(t, options()) {
        for (const auto& nick : nicks) {
            peers.emplace_back(t, lobby);
            send(peers.back(), R"({"type":"hello","nick":")" + nick + R"("})");
            send(peers.back(), R"({"type":"join","room":"general"})");
            t.run_until_idle();
        }
    }
    ~World() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }
    static LobbyOptions options() {
        LobbyOptions o;
        o.seed = 3;
        return o;
    }
    void send(MockPeer& peer, std::string_view text) {
        ++frames_in;
        bytes_in += text.size();
        peer.send(text);
    }
    MetricsSnapshot metrics() const { return lobby.metrics().snapshot(); }
};

const Frame* last_sent(const MockPeer& peer) { return peer.connection().sent_pointers.back(); }

}  // namespace

TEST_CASE("one message is one frame buffer shared by every member of the room") {
    World w({"alice", "bob", "carol", "dave", "erin"});
    std::vector<std::size_t> before;
    for (auto& p : w.peers) before.push_back(p.connection().sent_pointers.size());

    w.send(w.peers[2], R"({"type":"send","room":"general","text":"one for all"})");
    w.t.run_until_idle();

    const Frame* shared = last_sent(w.peers[0]);
    REQUIRE(shared != nullptr);
    CHECK(std::string(parse_frame(shared->text())["text"].GetString()) == "one for all");
    for (std::size_t i = 0; i < w.peers.size(); ++i) {
        const auto& conn = w.peers[i].connection();
        CHECK(conn.sent_pointers.size() == before[i] + 1);
        CHECK(conn.sent_pointers.back() == shared);
        CHECK(conn.received.back().get() == shared);
    }
}

TEST_CASE("presence and typing broadcasts share one buffer and skip whoever caused them") {
    World w({"alice", "bob", "carol", "dave"});
    auto& alice = w.peers[0];
    const auto alice_sent = alice.connection().sent_pointers.size();

    w.send(alice, R"({"type":"typing","room":"general","active":true})");
    w.t.run_until_idle();
    CHECK(alice.connection().sent_pointers.size() == alice_sent);
    const Frame* typing = last_sent(w.peers[1]);
    CHECK(frame_type(parse_frame(typing->text())) == "typing");
    CHECK(last_sent(w.peers[2]) == typing);
    CHECK(last_sent(w.peers[3]) == typing);

    MockPeer erin(w.t, w.lobby);
    w.send(erin, R"({"type":"hello","nick":"erin"})");
    w.send(erin, R"({"type":"join","room":"general"})");
    w.t.run_until_idle();
    const Frame* presence = last_sent(alice);
    CHECK(frame_type(parse_frame(presence->text())) == "presence");
    for (std::size_t i = 1; i < w.peers.size(); ++i) CHECK(last_sent(w.peers[i]) == presence);
    CHECK(frame_type(parse_frame(last_sent(erin)->text())) == "joined");
}

TEST_CASE("frames_out, bytes_out, messages_in and messages_out add up exactly for a broadcast") {
    World w({"alice", "bob", "carol", "dave", "erin"});
    const auto before = w.metrics();
    const auto transport_frames = w.t.frames_sent();
    const auto transport_bytes = w.t.bytes_sent();

    w.send(w.peers[0], R"({"type":"send","room":"general","text":"count me"})");
    w.t.run_until_idle();
    const auto size = last_sent(w.peers[0])->size();

    const auto after = w.metrics();
    CHECK(after.messages_in - before.messages_in == 1);
    CHECK(after.messages_out - before.messages_out == 5);
    CHECK(after.frames_out - before.frames_out == 5);
    CHECK(after.bytes_out - before.bytes_out == 5 * size);
    CHECK(w.t.frames_sent() - transport_frames == 5);
    CHECK(w.t.bytes_sent() - transport_bytes == 5 * size);
}

TEST_CASE("over a whole conversation the metrics equal what crossed the transport") {
    World w({"alice", "bob", "carol", "dave", "erin", "frank"});
    for (int round = 0; round < 6; ++round) {
        for (int sender : {0, 2, 4}) {
            w.send(w.peers[static_cast<std::size_t>(sender)],
                   R"({"type":"send","room":"general","text":"round )" + std::to_string(round) +
                       R"("})");
        }
    }
    w.send(w.peers[1], R"({"type":"typing","room":"general","active":true})");
    w.send(w.peers[3], R"({"type":"dm","to":"frank","text":"psst"})");
    w.send(w.peers[5], R"({"type":"ping","ref":1})");
    w.send(w.peers[5], R"({"type":"history","room":"general","limit":5})");
    w.send(w.peers[5], "{broken");
    w.t.run_until_idle();

    const auto m = w.metrics();
    CHECK(m.messages_in == 18 + 1);      // 18 room messages and one direct message
    CHECK(m.messages_out == 18 * 6 + 2);  // six members each, the DM to both ends
    CHECK(m.frames_out == w.t.frames_sent());
    CHECK(m.bytes_out == w.t.bytes_sent());
    CHECK(m.frames_in == w.frames_in);
    CHECK(m.bytes_in == w.bytes_in);
    CHECK(m.error_count(ErrorCode::bad_json) == 1);
    for (const auto& peer : w.peers) CHECK(peer.count("message") == 18);
}

TEST_CASE("a direct message is one frame shared by its sender and recipient") {
    World w({"alice", "bob"});
    w.send(w.peers[0], R"({"type":"dm","to":"bob","text":"just us"})");
    w.t.run_until_idle();
    const Frame* dm = last_sent(w.peers[0]);
    CHECK(frame_type(parse_frame(dm->text())) == "dm");
    CHECK(last_sent(w.peers[1]) == dm);
    CHECK(w.metrics().messages_in == 1);
    CHECK(w.metrics().messages_out == 2);
}
