// The Transport policy is all the core needs: a no-op archetype that models
// exactly the documented requirements instantiates every core type, and types
// that miss a requirement are rejected by the detector.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The policy's two parts, each detectable alone: an executor knows nothing of
// connections, a connection port nothing of lanes and timers.
static_assert(parley::is_executor_v<archetype::NoopTransport>);
static_assert(parley::is_connection_port_v<archetype::NoopTransport>);
static_assert(parley::is_executor_v<archetype::MissingPing>);
static_assert(!parley::is_connection_port_v<archetype::MissingPing>);
static_assert(!parley::is_executor_v<archetype::PostWithoutLane>);
static_assert(parley::is_connection_port_v<archetype::PostWithoutLane>);
static_assert(parley::is_executor_v<parley::testing::MockTransport> &&
              parley::is_connection_port_v<parley::testing::MockTransport>);

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

namespace {

using parley::testing::MockPeer;
using parley::testing::MockTransport;

/// Two members of "general", identified and joined.
struct Room {
    MockTransport t;
    parley::Lobby<MockTransport> lobby{t};
    MockPeer alice{t, lobby};
    MockPeer bob{t, lobby};

    Room() {
        alice.send(R"({"type":"hello","nick":"alice"})");
        bob.send(R"({"type":"hello","nick":"bob"})");
        alice.send(R"({"type":"join","room":"general"})");
        bob.send(R"({"type":"join","room":"general"})");
        t.run_until_idle();
    }
    ~Room() {
        lobby.shutdown("test over");
        t.run_until_idle();
    }
};

}  // namespace

TEST_CASE("after a connection's close is reported the core calls its handle at most for a broadcast under way") {
    Room r;
    // Alice's message reaches the room's lane after bob's close report and
    // before his session has left the room: the broadcast still lists him and
    // may send to him (harmless by the contract; broadcasts do not check, to
    // keep a load per member off the hot path). Nothing else calls the handle.
    r.alice.send(R"({"type":"send","room":"general","text":"still there?"})");
    r.t.disconnect(r.bob.handle());
    r.t.run_until_idle();
    CHECK(r.bob.connection().close_reported);
    // One delivery: the budget check reads the two buffered counts, then sends.
    CHECK(r.bob.connection().calls_after_report <= 3);
    CHECK(r.alice.count("message") == 1);
    const auto after_broadcast = r.bob.connection().calls_after_report;
    // He has left the room: later messages and timers due after the report
    // (keepalive, identify) leave the handle alone.
    r.alice.send(R"({"type":"send","room":"general","text":"gone?"})");
    r.t.advance(std::chrono::minutes(5));
    CHECK(r.alice.count("message") == 2);
    CHECK(r.bob.connection().calls_after_report == after_broadcast);
}

TEST_CASE("a server close racing the close report calls nothing on the handle after it") {
    Room r;
    // The drop is reported first; bob's last frame, over the size limit, is
    // handled after the report and before his session ends: it would close
    // him with 1009.
    r.t.disconnect(r.bob.handle());
    r.bob.client()->receive(std::string(20 * 1024, 'x'));
    r.t.run_until_idle();
    CHECK(r.bob.connection().close_reported);
    CHECK(r.bob.connection().calls_after_report == 0);
}

/// A timer handle the core could not declare as a member before starting it.
struct TimerWithoutDefault : archetype::NoopTransport {
    struct timer_type {
        explicit timer_type(int) {}
    };
    timer_type start_timer(lane_type&, std::chrono::milliseconds, parley::Task) { return timer_type{0}; }
    void cancel_timer(timer_type&) {}
};
static_assert(!parley::is_transport_v<TimerWithoutDefault>,
              "timer_type must be default-constructible");

namespace {

/// The conformance suite's adapter for MockTransport (or a variant of it): the
/// peer's view is the mock's record of the connection, time is virtual.
template <class T>
struct MockConformance {
    using transport_type = T;
    T t;

    T& transport() { return t; }
    MockTransport::handle_type open() { return t.open_connection(); }
    template <class Done>
    bool run_until(Done&& done, std::chrono::milliseconds within) {
        t.run_until_idle();
        for (auto waited = std::chrono::milliseconds(0); !done() && waited < within;
             waited += std::chrono::milliseconds(1))
            t.advance(std::chrono::milliseconds(1));
        return done();
    }
    std::vector<std::string> received(const MockTransport::handle_type& h) const {
        std::vector<std::string> texts;
        for (const auto& frame : t.connection(h).received) texts.emplace_back(frame->text());
        return texts;
    }
    std::optional<std::uint16_t> close_code(const MockTransport::handle_type& h) const {
        return t.connection(h).close_code;
    }
    bool close_reported(const MockTransport::handle_type& h) const {
        return t.connection(h).close_reported;
    }
    void stall(const MockTransport::handle_type& h) { t.stall(h); }
    void resume(const MockTransport::handle_type& h) { t.resume(h); }
};

/// A mock that loses every third frame: the suite must notice.
struct LossyTransport : MockTransport {
    void send(const handle_type& h, parley::SharedFrame frame) {
        if (++sends % 3 != 0) MockTransport::send(h, std::move(frame));
    }
    std::size_t sends = 0;
};

}  // namespace

TEST_CASE("MockTransport passes the transport conformance suite") {
    const auto results = parley::testing::transport_conformance(
        [] { return std::make_unique<MockConformance<MockTransport>>(); });
    CHECK(results.size() == 7);
    for (const auto& r : results) {
        INFO(r.check << ": " << r.detail);
        CHECK(r.passed);
    }
}

TEST_CASE("the conformance suite fails a transport that loses frames") {
    const auto results = parley::testing::transport_conformance(
        [] { return std::make_unique<MockConformance<LossyTransport>>(); });
    REQUIRE(results.size() == 7);
    CHECK_FALSE(results.front().passed);
    CHECK(results.front().detail == "the peer did not read every frame sent");
}
