// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/frame.hpp>
#include <parley/testing/manual_executor.hpp>
#include <parley/testing/virtual_clock.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace testing {

/// A Transport (see transport.hpp) for tests: a ManualExecutor for the lanes,
/// a VirtualClock for time, and in-memory connections whose peers the test
/// scripts: they read at once, stall (stop reading), vanish silently or drop.
///
/// Everything runs on the test's thread when it calls `run_until_idle()` or
/// `advance()`, so a test replays the exact same schedule every run.
class MockTransport {
public:
    using handle_type = std::uint64_t;
    using lane_type = ManualExecutor::LaneId;

    /// The seed of a Lobby on this transport unless `LobbyOptions::seed` names
    /// another (see `default_seed_v`): node id, room ids, epochs and resume
    /// tokens are the same on every run of a test.
    static constexpr std::uint64_t default_seed = 1;

    /// A one-shot timer; the default value names no timer.
    struct timer_type {
        VirtualClock::TimerId id = 0;
    };

    /// What the test knows about one connection, from the peer's side.
    struct Connection {
        handle_type id = 0;
        bool open = true;
        /// The peer stopped reading: sends pile up in `unread` (a slow consumer).
        bool stalled = false;
        /// The peer vanished without a close (a half-open TCP connection):
        /// writes still succeed but reach nobody and pings go unanswered, so
        /// only the core's liveness timeout can notice.
        bool failed = false;
        /// When false, pings are never answered even by a healthy peer.
        bool auto_pong = true;
        /// Set by a `close` from the core; stays empty after an abrupt drop.
        std::optional<std::uint16_t> close_code;
        std::string close_reason;
        std::size_t pings = 0;
        /// Frames the peer has read, in order.
        std::vector<SharedFrame> received;
        /// Frames sent and not yet read (only while stalled).
        std::deque<SharedFrame> unread;
        std::size_t unread_bytes = 0;
        /// Every frame the core sent, as the address of its shared buffer, so
        /// a test can check that a broadcast reused ONE buffer for everyone.
        std::vector<const Frame*> sent_pointers;
        /// Sends the core made after the connection closed (ignored).
        std::size_t sends_after_close = 0;
        /// Set once the close was reported to the library (`on_closed` ran).
        bool close_reported = false;
        /// Calls the core made for the connection after its close was reported
        /// (send, close, ping, buffered_amount, buffered_frames): harmless here,
        /// a use-after-free for an embedder whose handle is a raw pointer.
        mutable std::size_t calls_after_report = 0;
        /// Sends swallowed because the peer had failed.
        std::size_t lost_frames = 0;
        /// Pings that arrived while stalled, answered on `resume`.
        std::size_t pongs_owed = 0;
        /// The embedder's side: how the transport reports into the library.
        std::function<void(std::uint16_t)> on_closed;
        std::function<void()> on_pong;
    };

    MockTransport() : transport_lane_(executor_.make_lane()) {}
    MockTransport(const MockTransport&) = delete;
    MockTransport& operator=(const MockTransport&) = delete;

    // --- the Transport policy -------------------------------------------

    lane_type make_lane() { return executor_.make_lane(); }
    void post(lane_type lane, Task task) { executor_.post(lane, std::move(task)); }
    std::chrono::steady_clock::time_point now() const { return clock_.now(); }
    std::chrono::system_clock::time_point wall_now() const { return clock_.wall_now(); }

    /// When the delay has passed the task is posted onto `lane`, so it runs
    /// in that lane's order like any other work, never from inside the clock.
    timer_type start_timer(lane_type lane, std::chrono::milliseconds delay, Task task) {
        const auto id = clock_.schedule(clock_.now() + delay,
                                        [this, lane, task = std::move(task)]() mutable {
                                            executor_.post(lane, std::move(task));
                                        });
        return timer_type{id};
    }

    /// Cancels the timer if it has not fired; a fired timer's task may already
    /// be queued on its lane and still runs (the policy allows that).
    void cancel_timer(const timer_type& timer) { clock_.cancel(timer.id); }

    void send(const handle_type& h, SharedFrame frame) {
        Connection& conn = connection(h);
        note_call(conn);
        if (!conn.open) {
            ++conn.sends_after_close;
            return;
        }
        conn.sent_pointers.push_back(frame.get());
        ++frames_sent_;
        bytes_sent_ += frame->size();
        if (conn.failed) {
            ++conn.lost_frames;
        } else if (conn.stalled) {
            conn.unread_bytes += frame->size();
            conn.unread.push_back(std::move(frame));
        } else {
            conn.received.push_back(std::move(frame));
        }
    }

    /// Records the code and reason, drops unread output at once and reports
    /// the close to the library later, from the transport's own lane.
    void close(const handle_type& h, std::uint16_t code, std::string_view reason) {
        Connection& conn = connection(h);
        note_call(conn);
        if (!conn.open) {
            return;
        }
        conn.close_code = code;
        conn.close_reason = std::string(reason);
        shut(conn, code);
    }

    /// Counts the ping; a healthy, reading peer answers with a pong (as a
    /// browser does), delivered later from the transport's lane.
    void ping(const handle_type& h) {
        Connection& conn = connection(h);
        note_call(conn);
        if (!conn.open) {
            return;
        }
        ++conn.pings;
        if (conn.failed || !conn.auto_pong) {
            return;
        }
        if (conn.stalled) {
            ++conn.pongs_owed;  // the ping waits behind the unread frames
            return;
        }
        post_pong(conn.id);
    }

    std::size_t buffered_amount(const handle_type& h) const {
        const Connection& conn = connection(h);
        note_call(conn);
        return conn.unread_bytes;
    }
    std::size_t buffered_frames(const handle_type& h) const {
        const Connection& conn = connection(h);
        note_call(conn);
        return conn.unread.size();
    }

    // --- connections and peer controls ---------------------------------

    /// Opens a new connection; ids start at 1.
    handle_type open_connection() {
        const handle_type id = next_handle_++;
        connections_[id].id = id;
        return id;
    }

    /// Wires the connection's inbound events into the library, as an embedder
    /// does: `on_closed(code)` once the connection is gone, `on_pong()` per pong.
    void set_callbacks(const handle_type& h, std::function<void(std::uint16_t)> on_closed,
                       std::function<void()> on_pong) {
        Connection& conn = connection(h);
        conn.on_closed = std::move(on_closed);
        conn.on_pong = std::move(on_pong);
    }

    /// The peer stops reading.
    void stall(const handle_type& h) { connection(h).stalled = true; }

    /// The peer reads everything it had left unread, in order, and answers
    /// the pings that waited behind it.
    void resume(const handle_type& h) {
        Connection& conn = connection(h);
        conn.stalled = false;
        for (SharedFrame& frame : conn.unread) {
            conn.received.push_back(std::move(frame));
        }
        drop_unread(conn);
        for (; conn.pongs_owed > 0; --conn.pongs_owed) {
            post_pong(conn.id);
        }
    }

    /// The peer vanishes silently (see `Connection::failed`).
    void fail(const handle_type& h) { connection(h).failed = true; }

    /// The peer drops the connection without a close frame: the library
    /// hears 1006 and no close code is recorded.
    void disconnect(const handle_type& h) {
        Connection& conn = connection(h);
        if (conn.open) {
            shut(conn, close_code::abnormal);
        }
    }

    /// The record of one connection; throws std::out_of_range for an unknown handle.
    Connection& connection(const handle_type& h) { return connections_.at(h); }
    const Connection& connection(const handle_type& h) const { return connections_.at(h); }

    // --- driving the test -----------------------------------------------

    ManualExecutor& executor() { return executor_; }
    VirtualClock& clock() { return clock_; }

    /// The lane on which close and pong notifications are delivered.
    lane_type transport_lane() const { return transport_lane_; }

    /// Runs posted work until nothing is ready; returns how many tasks ran.
    std::size_t run_until_idle() { return executor_.run_until_idle(); }

    /// Moves time forward by `step` the way a live server lives through it:
    /// work already posted runs first, then each timer fires at its deadline
    /// and everything it set off runs before the next timer is looked at.
    /// Returns how many timers fired.
    std::size_t advance(VirtualClock::duration step) {
        if (step < VirtualClock::duration::zero()) {
            throw std::invalid_argument("parley::testing::MockTransport: time cannot go back");
        }
        const auto target = clock_.now() + step;
        executor_.run_until_idle();
        std::size_t fired = 0;
        while (clock_.fire_next(target)) {
            ++fired;
            executor_.run_until_idle();
        }
        clock_.advance_to(target);
        executor_.run_until_idle();
        return fired;
    }

    /// Frames and bytes sent to all connections (closed ones not counted).
    std::size_t frames_sent() const { return frames_sent_; }
    std::size_t bytes_sent() const { return bytes_sent_; }

private:
    void shut(Connection& conn, std::uint16_t reported_code) {
        conn.open = false;
        drop_unread(conn);
        conn.pongs_owed = 0;
        const handle_type h = conn.id;
        executor_.post(transport_lane_, [this, h, reported_code] {
            // The callbacks are released with the report: after a close the
            // embedder holds nothing of the session, as a real one would.
            Connection& closed = connection(h);
            auto on_closed = std::move(closed.on_closed);
            closed.on_closed = nullptr;
            closed.on_pong = nullptr;
            closed.close_reported = true;
            if (on_closed) {
                on_closed(reported_code);
            }
        });
    }

    static void note_call(const Connection& conn) {
        if (conn.close_reported) ++conn.calls_after_report;
    }

    void post_pong(handle_type h) {
        executor_.post(transport_lane_, [this, h] {
            Connection& conn = connection(h);
            if (conn.open && conn.on_pong) {
                conn.on_pong();
            }
        });
    }

    /// Swaps with an empty queue: clear() alone may keep the blocks, and a
    /// slow consumer's backlog must be freed the moment it is dropped.
    static void drop_unread(Connection& conn) {
        std::deque<SharedFrame>().swap(conn.unread);
        conn.unread_bytes = 0;
    }

    ManualExecutor executor_;
    VirtualClock clock_;
    lane_type transport_lane_;
    std::map<handle_type, Connection> connections_;
    handle_type next_handle_ = 1;
    std::size_t frames_sent_ = 0;
    std::size_t bytes_sent_ = 0;
};

static_assert(parley::is_transport_v<MockTransport>,
              "parley::testing::MockTransport must model the Transport policy");

}  // namespace testing
PARLEY_NAMESPACE_END
