// The Transport policy is all the core needs: a no-op archetype that models
// exactly the documented requirements instantiates every core type, and types
// that miss a requirement are rejected by the detector.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace archetype {

/// Every requirement of the policy but `ping` and `buffered_frames`, each in
/// its weakest documented form, doing nothing but count its calls.
struct CommonOps {
    using handle_type = int;
    using lane_type = int;
    using timer_type = int;

    lane_type make_lane() {
        ++lanes;
        return 0;
    }
    void post(lane_type&, parley::Task) { ++posts; }
    std::chrono::steady_clock::time_point now() { return {}; }
    std::chrono::system_clock::time_point wall_now() { return {}; }
    timer_type start_timer(lane_type&, std::chrono::milliseconds, parley::Task) {
        ++timers;
        return 0;
    }
    void cancel_timer(timer_type&) {}
    void send(const handle_type&, parley::SharedFrame) { ++sends; }
    void close(const handle_type&, std::uint16_t, std::string_view) { ++closes; }
    std::size_t buffered_amount(const handle_type&) { return 0; }

    int lanes = 0;
    int posts = 0;
    int timers = 0;
    int sends = 0;
    int closes = 0;
};

/// The complete archetype.
struct NoopTransport : CommonOps {
    void ping(const handle_type&) {}
    std::size_t buffered_frames(const handle_type&) { return 0; }
};

struct MissingPing : CommonOps {
    std::size_t buffered_frames(const handle_type&) { return 0; }
};

struct MissingBufferedFrames : CommonOps {
    void ping(const handle_type&) {}
};

/// `now()` on the wall clock: timeouts would jump with the system time.
struct WallClockNow : NoopTransport {
    std::chrono::system_clock::time_point now() { return {}; }
};

/// `post` that takes no lane: no serial lanes, no actors.
struct PostWithoutLane : NoopTransport {
    void post(parley::Task) {}
};

struct NoTypes {};

}  // namespace archetype

static_assert(parley::is_transport_v<archetype::NoopTransport>,
              "the no-op archetype models the Transport policy");
static_assert(parley::is_transport_v<parley::testing::MockTransport>);
static_assert(!parley::is_transport_v<int>);
static_assert(!parley::is_transport_v<archetype::NoTypes>);
static_assert(!parley::is_transport_v<archetype::CommonOps>);
static_assert(!parley::is_transport_v<archetype::MissingPing>);
static_assert(!parley::is_transport_v<archetype::MissingBufferedFrames>);
static_assert(!parley::is_transport_v<archetype::WallClockNow>);
static_assert(!parley::is_transport_v<archetype::PostWithoutLane>);

// Every member of the core types, for the archetype: whatever the core calls
// on its Transport must be in the policy, or this does not compile.
template class parley::Lobby<archetype::NoopTransport>;
template class parley::Hub<archetype::NoopTransport>;
template class parley::Client<archetype::NoopTransport>;

TEST_CASE("a Lobby runs on the no-op archetype transport and only posts work") {
    archetype::NoopTransport t;
    parley::Lobby<archetype::NoopTransport> lobby(t);
    CHECK(t.lanes == 2);  // the Lobby's and the permanent "general" room's
    CHECK(t.posts == 0);

    auto client = lobby.connect(7);
    REQUIRE(client);
    CHECK(client->handle() == 7);
    CHECK_FALSE(client->is_closed());
    CHECK(t.lanes == 3);  // the connection's own lane
    const auto posts = t.posts;
    CHECK(posts > 0);

    client->receive(R"({"type":"hello","nick":"archie"})");
    CHECK(t.posts == posts + 1);  // handled on the connection's lane, never inline
    client->pong();
    client->closed(parley::close_code::normal);
    CHECK(t.posts == posts + 3);

    bool listed = false;
    lobby.rooms([&](std::vector<parley::RoomInfo>) { listed = true; });
    CHECK_FALSE(listed);  // the executor never runs anything
    lobby.shutdown("bye");

    CHECK(t.sends == 0);
    CHECK(t.closes == 0);
    CHECK(t.timers == 0);  // timers are armed on lanes, which never ran
}

TEST_CASE("a connection refused while stopping uses only the archetype's close") {
    archetype::NoopTransport t;
    parley::Lobby<archetype::NoopTransport> lobby(t);
    lobby.shutdown("bye");
    auto client = lobby.connect(1);
    REQUIRE(client);
    CHECK(t.closes == 1);  // refused on the spot with 1001
    CHECK(t.sends == 0);
}
