// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace testing {

/// An executor that runs nothing until the test says so.
///
/// Work is posted onto lanes: serial FIFO queues, the test-side model of a
/// strand. `run_one()` and `run_until_idle()` run the posted tasks on the
/// calling thread, so a test sees every interleaving step by step.
///
/// By default the next task is the one posted earliest among all lanes, which
/// makes a run fully deterministic. `shuffle(seed)` instead picks a random lane
/// among those with ready work, from a seeded generator of its own, so a seed
/// replays the same interleaving on every standard library; each lane still
/// runs its tasks in post order.
///
/// Not thread-safe, on purpose: a test drives everything from one thread, and
/// a lock here would only hide a core that wrongly posts from elsewhere.
class ManualExecutor {
public:
    using LaneId = std::uint64_t;

    ManualExecutor() = default;
    ManualExecutor(const ManualExecutor&) = delete;
    ManualExecutor& operator=(const ManualExecutor&) = delete;

    /// Creates a new, empty lane. Ids start at 1, so a default-initialised
    /// lane id (0) is never valid and is reported by `post`.
    LaneId make_lane() {
        lanes_.emplace_back();
        return static_cast<LaneId>(lanes_.size());
    }

    /// Queues `task` at the back of `lane`. Never runs it inline, even when
    /// the executor is idle: the core must not rely on re-entrancy.
    void post(LaneId lane, Task task) {
        Lane& target = lane_at(lane);
        const bool was_empty = target.queue.empty();
        target.queue.push_back(Entry{next_sequence_++, std::move(task)});
        if (was_empty && !target.running) {
            mark_ready(lane);
        }
    }

    /// Runs one ready task; returns false when there is none.
    bool run_one() {
        if (ready_by_order_.empty()) {
            return false;
        }
        const LaneId lane = shuffled_ ? pick_random_ready_lane() : ready_by_order_.begin()->second;
        Lane& source = lane_at(lane);
        Task task = std::move(source.queue.front().task);
        source.queue.pop_front();
        unmark_ready(lane);

        // The lane stays busy while its task runs, so a task that drives the
        // executor itself (run_one inside a task) cannot break the lane's
        // one-at-a-time guarantee.
        source.running = true;
        const LaneGuard guard{*this, lane};
        task();
        return true;
    }

    /// Runs tasks until none is ready or `max_tasks` have run; tasks posted by
    /// running tasks are run too. Returns how many ran. The cap turns a
    /// livelock (tasks re-posting forever) into a test failure, not a hang.
    std::size_t run_until_idle(std::size_t max_tasks = 10'000'000) {
        std::size_t ran = 0;
        while (ran < max_tasks && run_one()) {
            ++ran;
        }
        return ran;
    }

    /// Tasks posted and not yet run, over all lanes.
    std::size_t pending() const {
        std::size_t total = 0;
        for (const Lane& lane : lanes_) {
            total += lane.queue.size();
        }
        return total;
    }

    /// From now on, choose among lanes with ready work at random, replayably
    /// from `seed`. Per-lane FIFO order is kept.
    void shuffle(std::uint64_t seed) {
        shuffled_ = true;
        random_state_ = seed;
    }

    /// Back to the deterministic global post order.
    void unshuffle() { shuffled_ = false; }

private:
    struct Entry {
        std::uint64_t sequence;
        Task task;
    };

    struct Lane {
        std::deque<Entry> queue;
        bool running = false;
        std::uint64_t ready_sequence = 0;  ///< key in ready_by_order_ while ready
        std::size_t ready_slot = 0;        ///< index in ready_lanes_ while ready
    };

    /// Clears the running flag even when the task throws, so one failing
    /// assertion does not wedge the lane for the rest of the test.
    struct LaneGuard {
        ManualExecutor& executor;
        LaneId lane;
        ~LaneGuard() {
            Lane& finished = executor.lane_at(lane);
            finished.running = false;
            if (!finished.queue.empty()) {
                executor.mark_ready(lane);
            }
        }
    };

    Lane& lane_at(LaneId lane) {
        if (lane == 0 || lane > lanes_.size()) {
            throw std::out_of_range("parley::testing::ManualExecutor: unknown lane");
        }
        return lanes_[static_cast<std::size_t>(lane - 1)];
    }

    // A lane is ready when it has work and is not running. It is then listed
    // twice: by the sequence of its front task (the default order) and in a
    // flat vector (O(1) random choice when shuffled).
    void mark_ready(LaneId lane) {
        Lane& ready = lane_at(lane);
        ready.ready_sequence = ready.queue.front().sequence;
        ready_by_order_.emplace(ready.ready_sequence, lane);
        ready.ready_slot = ready_lanes_.size();
        ready_lanes_.push_back(lane);
    }

    void unmark_ready(LaneId lane) {
        Lane& done = lane_at(lane);
        ready_by_order_.erase({done.ready_sequence, lane});
        const LaneId moved = ready_lanes_.back();
        ready_lanes_[done.ready_slot] = moved;
        lane_at(moved).ready_slot = done.ready_slot;
        ready_lanes_.pop_back();
    }

    LaneId pick_random_ready_lane() { return ready_lanes_[bounded_random(ready_lanes_.size())]; }

    /// splitmix64: tiny, well mixed, and identical everywhere, unlike the
    /// standard distributions whose output differs between libraries.
    std::uint64_t next_random() {
        std::uint64_t z = (random_state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    /// Uniform in [0, bound) by rejection, so small bounds are not biased.
    std::size_t bounded_random(std::size_t bound) {
        const std::uint64_t range = static_cast<std::uint64_t>(bound);
        const std::uint64_t threshold = (0 - range) % range;
        std::uint64_t value = next_random();
        while (value < threshold) {
            value = next_random();
        }
        return static_cast<std::size_t>(value % range);
    }

    std::vector<Lane> lanes_;
    std::set<std::pair<std::uint64_t, LaneId>> ready_by_order_;
    std::vector<LaneId> ready_lanes_;
    std::uint64_t next_sequence_ = 0;
    bool shuffled_ = false;
    std::uint64_t random_state_ = 0;
};

}  // namespace testing
PARLEY_NAMESPACE_END
