// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/frame.hpp>
#include <parley/task.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace testing {

/// The outcome of one check of `transport_conformance`.
struct ConformanceResult {
    std::string check;  ///< what was checked, as a sentence
    bool passed = true;
    std::string detail;  ///< the first thing that went wrong, when it failed
};

/*
transport_conformance: the Transport policy's promises (include/parley/transport.hpp,
docs/embedding.md), checked against a real transport and a real peer.

The transport supplies an *adapter*, made fresh for every check by `make()`
(returning a std::unique_ptr<Adapter>):

| member                                        | meaning |
|-----------------------------------------------|-----------------------------------------------------------|
| `Adapter::transport_type`                     | the Transport under test | | `a.transport() ->
transport_type&`            | the transport                                              | |
`a.open() -> handle_type`                     | a new, open connection whose peer reads what it is
sent    | | `a.run_until(done, within) -> bool`           | drives the transport (its executor, its
clock) until `done()` is true or `within` has passed (virtual time for a virtual clock); returns
`done()`. Called on the test's thread; `done` may read what the tasks record | | `a.received(h) ->
std::vector<std::string>`   | the text frames the peer read, in order                    | |
`a.close_code(h) -> std::optional<std::uint16_t>` | the code of the close frame the peer read, if
any      | | `a.close_reported(h) -> bool`                 | the transport reported the connection's
end (the embedder's `Client::closed`) | | `a.stall(h)` / `a.resume(h)`                  | the peer
stops / starts again reading                      |

Run it from any test framework:

    for (const auto& r : parley::testing::transport_conformance(make_adapter)) {
        INFO(r.check << ": " << r.detail);
        CHECK(r.passed);
    }
*/

}  // namespace testing

// Internals live in parley::detail: a parley::testing::detail would make
// `detail::` ambiguous for tests that use both namespaces.
namespace detail {

/// Thrown by a failed expectation inside one check; ends that check only.
struct ConformanceFailure {
    std::string what;
};

inline void conformance_expect(bool condition, std::string what) {
    if (!condition) throw ConformanceFailure{std::move(what)};
}

/// A text frame of `size` bytes (a JSON string, so it is valid chat output).
inline SharedFrame conformance_frame(std::size_t size, char fill) {
    if (size < 2) size = 2;
    return make_frame("\"" + std::string(size - 2, fill) + "\"");
}

template <class Adapter>
struct ConformanceChecks {
    using Transport = typename Adapter::transport_type;
    using handle_type = typename Transport::handle_type;
    using lane_type = typename Transport::lane_type;
    using ms = std::chrono::milliseconds;

    static constexpr ms patience{5000};  // for real sockets; virtual time runs it at once

    static bool received_count(Adapter& a, const handle_type& h, std::size_t n) {
        return a.run_until([&] { return a.received(h).size() >= n; }, patience);
    }

    /// Frames reach the peer whole and in send order, whatever their sizes.
    static void ordering(Adapter& a) {
        auto& t = a.transport();
        const auto h = a.open();
        std::vector<std::string> sent;
        for (std::size_t i = 0; i < 50; ++i) {
            auto frame = conformance_frame(10 + (i * 997) % 3000, static_cast<char>('a' + i % 26));
            sent.emplace_back(frame->text());
            t.send(h, frame);
        }
        conformance_expect(received_count(a, h, sent.size()),
                           "the peer did not read every frame sent");
        conformance_expect(a.received(h) == sent,
                           "the peer read the frames out of order or altered");
    }

    /// One frame shared by several connections reaches each of them.
    static void shared_frame(Adapter& a) {
        auto& t = a.transport();
        const auto one = a.open();
        const auto two = a.open();
        auto frame = conformance_frame(300, 's');
        t.send(one, frame);
        t.send(two, frame);
        conformance_expect(received_count(a, one, 1) && received_count(a, two, 1),
                           "a frame sent to two connections did not reach both");
        conformance_expect(
            a.received(one).front() == frame->text() && a.received(two).front() == frame->text(),
            "a shared frame arrived altered");
    }

    /// While the peer does not read, the buffered counts rise with every send;
    /// once it reads again they fall back to zero.
    static void backpressure(Adapter& a) {
        auto& t = a.transport();
        const auto h = a.open();
        conformance_expect(t.buffered_amount(h) == 0 && t.buffered_frames(h) == 0,
                           "a new connection reports output buffered");
        a.stall(h);
        auto frame = conformance_frame(1024, 'b');
        std::size_t sent = 0;
        // Enough to fill whatever buffers lie between the transport and the
        // peer; each round settles, so what is still buffered after it stays.
        while (sent < 4096 && t.buffered_frames(h) < 8) {
            for (int i = 0; i < 64; ++i, ++sent) t.send(h, frame);
            a.run_until([] { return false; }, ms(20));
        }
        conformance_expect(t.buffered_frames(h) >= 8,
                           "4096 unread frames left fewer than 8 buffered");
        const auto amount = t.buffered_amount(h);
        const auto frames = t.buffered_frames(h);
        conformance_expect(amount >= frames * frame->size(),
                           "buffered_amount counts less than its frames hold");
        for (int i = 0; i < 10; ++i, ++sent) t.send(h, frame);
        conformance_expect(t.buffered_frames(h) >= frames + 10,
                           "buffered_frames did not rise with sends");
        conformance_expect(t.buffered_amount(h) >= amount + 10 * frame->size(),
                           "buffered_amount did not rise with sends");
        a.resume(h);
        conformance_expect(
            a.run_until([&] { return t.buffered_amount(h) == 0 && t.buffered_frames(h) == 0; },
                        patience),
            "the buffered counts did not fall to zero once the peer read");
        conformance_expect(received_count(a, h, sent),
                           "the peer did not read every frame after resuming");
    }

    /// After close: the close frame carries the code, nothing follows it, and
    /// send, ping, close and the counts are harmless, before and after the
    /// close was reported.
    static void calls_after_close(Adapter& a) {
        auto& t = a.transport();
        const auto h = a.open();
        auto frame = conformance_frame(20, 'c');
        t.send(h, frame);
        t.close(h, close_code::going_away, "bye");
        t.send(h, frame);
        t.ping(h);
        t.close(h, close_code::policy, "again");
        (void)t.buffered_amount(h);
        (void)t.buffered_frames(h);
        conformance_expect(a.run_until([&] { return a.close_reported(h); }, patience),
                           "the close was never reported");
        t.send(h, frame);
        t.ping(h);
        t.close(h, close_code::policy, "after the report");
        (void)t.buffered_amount(h);
        (void)t.buffered_frames(h);
        a.run_until([] { return false; }, ms(50));
        conformance_expect(a.close_code(h) == std::optional<std::uint16_t>(close_code::going_away),
                           "the peer did not read the first close's code");
        conformance_expect(a.received(h).size() == 1, "frames sent after close reached the peer");
    }

    /// Tasks posted on a lane run in post order and never inside post; timers
    /// fire in deadline order on their lane; a cancelled timer does not fire.
    static void lanes_and_timers(Adapter& a) {
        auto& t = a.transport();
        lane_type lane = t.make_lane();
        std::mutex mutex;  // tasks may run on the transport's threads
        std::vector<int> order;
        auto record = [&](int n) {
            return [&mutex, &order, n] {
                std::lock_guard<std::mutex> lock(mutex);
                order.push_back(n);
            };
        };
        auto recorded = [&] {
            std::lock_guard<std::mutex> lock(mutex);
            return order;
        };
        t.post(lane, Task(record(1)));
        t.post(lane, Task(record(2)));
        t.post(lane, Task(record(3)));
        conformance_expect(a.run_until([&] { return recorded().size() == 3; }, patience),
                           "posted tasks did not all run");
        conformance_expect(recorded() == std::vector<int>{1, 2, 3},
                           "posted tasks ran out of order");

        typename Transport::timer_type idle{};
        t.cancel_timer(idle);  // a timer never started: harmless
        auto late = t.start_timer(lane, ms(150), Task(record(30)));
        auto early = t.start_timer(lane, ms(50), Task(record(10)));
        auto cancelled = t.start_timer(lane, ms(100), Task(record(20)));
        t.cancel_timer(cancelled);
        conformance_expect(a.run_until([&] { return recorded().size() == 5; }, patience),
                           "timers did not fire");
        a.run_until([] { return false; }, ms(200));  // a cancelled one would have fired by now
        conformance_expect(recorded() == std::vector<int>{1, 2, 3, 10, 30},
                           "timers fired out of deadline order, or a cancelled one fired");
        t.cancel_timer(early);  // fired: harmless
        (void)late;
        const auto before = t.now();
        a.run_until([] { return false; }, ms(20));
        conformance_expect(t.now() >= before, "now() went back");
    }

    /// Each code parley closes with reaches the peer in a close frame.
    static void close_codes(Adapter& a) {
        auto& t = a.transport();
        for (std::uint16_t code : {close_code::normal, close_code::going_away, close_code::policy,
                                   close_code::too_big, close_code::try_again_later}) {
            const auto h = a.open();
            t.send(h, conformance_frame(40, 'k'));
            t.close(h, code, "conformance");
            conformance_expect(a.run_until([&] { return a.close_code(h).has_value(); }, patience),
                               "no close frame reached the peer for code " + std::to_string(code));
            conformance_expect(*a.close_code(h) == code, "the peer read close code " +
                                                             std::to_string(*a.close_code(h)) +
                                                             " for " + std::to_string(code));
        }
    }

    /// A slow consumer's 1013 reaches a peer that reads only after the close.
    static void close_while_stalled(Adapter& a) {
        auto& t = a.transport();
        const auto h = a.open();
        a.stall(h);
        auto frame = conformance_frame(1024, 'w');
        for (int i = 0; i < 256; ++i) t.send(h, frame);
        a.run_until([] { return false; }, ms(20));
        t.close(h, close_code::try_again_later, "slow consumer");
        a.resume(h);
        conformance_expect(a.run_until([&] { return a.close_code(h).has_value(); }, patience),
                           "a stalled peer never read the 1013 close frame");
        conformance_expect(*a.close_code(h) == close_code::try_again_later,
                           "a stalled peer read another code");
        for (const auto& text : a.received(h))
            conformance_expect(text == frame->text(), "a stalled peer read a cut or altered frame");
    }
};

}  // namespace detail

namespace testing {

/// Runs every check of the Transport policy's conformance suite (see above),
/// each on a fresh adapter from `make()`, and returns one result per check.
template <class MakeAdapter>
std::vector<ConformanceResult> transport_conformance(MakeAdapter make) {
    using Adapter = typename decltype(make())::element_type;
    using Checks = detail::ConformanceChecks<Adapter>;
    static_assert(is_transport_v<typename Adapter::transport_type>,
                  "parley: the adapter's transport_type must model the Transport policy");
    const std::pair<const char*, void (*)(Adapter&)> checks[] = {
        {"frames reach the peer whole and in send order", &Checks::ordering},
        {"one frame shared by two connections reaches both", &Checks::shared_frame},
        {"buffered counts rise with sends while the peer stalls and fall to zero when it reads",
         &Checks::backpressure},
        {"send, ping, close and the counts are harmless after close and after its report",
         &Checks::calls_after_close},
        {"lanes run in post order; timers fire in deadline order and cancel",
         &Checks::lanes_and_timers},
        {"close codes 1000, 1001, 1008, 1009 and 1013 reach the peer", &Checks::close_codes},
        {"a stalled peer reads whole frames and then 1013", &Checks::close_while_stalled},
    };
    std::vector<ConformanceResult> results;
    for (const auto& [name, check] : checks) {
        ConformanceResult result;
        result.check = name;
        try {
            auto adapter = make();
            check(*adapter);
        } catch (const detail::ConformanceFailure& failure) {
            result.passed = false;
            result.detail = failure.what;
        } catch (const std::exception& e) {
            result.passed = false;
            result.detail = std::string("exception: ") + e.what();
        }
        results.push_back(std::move(result));
    }
    return results;
}

}  // namespace testing
PARLEY_NAMESPACE_END
