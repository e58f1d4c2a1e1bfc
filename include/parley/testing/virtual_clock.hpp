// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace testing {

/// Time that moves only when the test moves it, with one-shot timers.
///
/// Timers fire in (deadline, insertion) order, as in gRPC's fuzzing event
/// engine, so two timers due at the same instant always fire in the order
/// they were scheduled. Not thread-safe, like the rest of the test kit.
class VirtualClock {
public:
    using TimerId = std::uint64_t;
    using time_point = std::chrono::steady_clock::time_point;
    using duration = std::chrono::steady_clock::duration;
    using wall_time_point = std::chrono::system_clock::time_point;

    /// Where `now()` starts: an hour after the clock's zero, so code that
    /// subtracts a timeout from `now()` never goes below the epoch.
    static constexpr time_point start_time() { return time_point{} + std::chrono::hours(1); }

    /// Where `wall_now()` starts: 2026-01-01T00:00:00Z, fixed so timestamps in
    /// golden frames do not depend on when the test ran.
    static constexpr wall_time_point wall_start_time() {
        return wall_time_point{std::chrono::seconds(1767225600)};
    }

    VirtualClock() = default;
    VirtualClock(const VirtualClock&) = delete;
    VirtualClock& operator=(const VirtualClock&) = delete;

    /// The current virtual steady time.
    time_point now() const { return now_; }

    /// The current virtual wall time; advances in step with `now()`.
    wall_time_point wall_now() const {
        return wall_start_time() +
               std::chrono::duration_cast<wall_time_point::duration>(now_ - start_time());
    }

    /// Schedules `on_due` to run when time reaches `deadline`. A deadline in
    /// the past fires at the next `advance`, even `advance(0)`. Ids start at 1.
    TimerId schedule(time_point deadline, std::function<void()> on_due) {
        const TimerId id = next_id_++;
        queue_.emplace(Key{deadline, id}, std::move(on_due));
        deadlines_.emplace(id, deadline);
        return id;
    }

    /// Removes a timer that has not fired yet; unknown or fired ids are ignored.
    void cancel(TimerId id) {
        const auto found = deadlines_.find(id);
        if (found == deadlines_.end()) {
            return;
        }
        queue_.erase(Key{found->second, id});
        deadlines_.erase(found);
    }

    /// True while the timer is scheduled and has neither fired nor been cancelled.
    bool pending(TimerId id) const { return deadlines_.count(id) != 0; }

    /// Moves time forward by `step`, firing every timer due on the way; see
    /// `advance_to`. Returns how many fired.
    std::size_t advance(duration step) {
        if (step < duration::zero()) {
            throw std::invalid_argument("parley::testing::VirtualClock: time cannot go back");
        }
        return advance_to(now_ + step);
    }

    /// Moves time forward to `target`, firing due timers one by one with
    /// `now()` set to each one's deadline, so a timer scheduled by a firing
    /// callback inside the window fires in the same call. Ends at `target`
    /// (never moves backwards). Returns how many fired.
    std::size_t advance_to(time_point target) {
        std::size_t fired = 0;
        while (fire_next(target)) {
            ++fired;
        }
        if (target > now_) {
            now_ = target;
        }
        return fired;
    }

    /// Fires only the earliest timer, if it is due at or before `limit`,
    /// moving `now()` up to its deadline first. Lets a driver run other work
    /// between two timers (MockTransport::advance does). Returns whether one fired.
    bool fire_next(time_point limit) {
        if (queue_.empty() || queue_.begin()->first.deadline > limit) {
            return false;
        }
        const auto first = queue_.begin();
        const Key key = first->first;
        // Unlinked before the call, so the callback may schedule or cancel freely.
        std::function<void()> on_due = std::move(first->second);
        queue_.erase(first);
        deadlines_.erase(key.id);
        if (key.deadline > now_) {
            now_ = key.deadline;
        }
        on_due();
        return true;
    }

    /// The earliest pending deadline, if any timer is pending.
    std::optional<time_point> next_deadline() const {
        if (queue_.empty()) {
            return std::nullopt;
        }
        return queue_.begin()->first.deadline;
    }

    /// Timers scheduled and not yet fired or cancelled.
    std::size_t timer_count() const { return queue_.size(); }

private:
    struct Key {
        time_point deadline;
        TimerId id;  ///< ids grow with every schedule, so they give insertion order

        bool operator<(const Key& other) const {
            if (deadline != other.deadline) {
                return deadline < other.deadline;
            }
            return id < other.id;
        }
    };

    time_point now_ = start_time();
    TimerId next_id_ = 1;
    std::map<Key, std::function<void()>> queue_;
    std::unordered_map<TimerId, time_point> deadlines_;
};

}  // namespace testing
PARLEY_NAMESPACE_END
