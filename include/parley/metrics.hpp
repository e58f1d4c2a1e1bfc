// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/error_code.hpp>
#include <parley/version.hpp>

#include <array>
#include <atomic>
#include <cstdint>

PARLEY_NAMESPACE_BEGIN

/// A plain copy of the counters, safe to read and format anywhere.
struct MetricsSnapshot {
    std::uint64_t connections_opened = 0;
    std::uint64_t connections_closed = 0;
    std::uint64_t connections_active = 0;
    std::uint64_t identified_sessions = 0;
    std::uint64_t rooms = 0;
    std::uint64_t rooms_created = 0;
    std::uint64_t rooms_removed = 0;
    std::uint64_t messages_in = 0;        ///< chat messages accepted (room and direct)
    std::uint64_t messages_out = 0;       ///< chat messages delivered to connections
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t rate_limited = 0;
    std::uint64_t slow_consumer_closes = 0;
    std::uint64_t policy_closes = 0;
    std::uint64_t protocol_closes = 0;  ///< 1007 and 1009
    std::uint64_t gap_read_retries = 0;  ///< clustered: reads of skipped seqs tried again after a failure
    std::uint64_t gap_reads_failed = 0;  ///< clustered: skipped seqs given up after the last read failed
    std::array<std::uint64_t, error_code_count> errors{};

    std::uint64_t errors_total() const noexcept {
        std::uint64_t total = 0;
        for (auto n : errors) total += n;
        return total;
    }
    std::uint64_t error_count(ErrorCode code) const noexcept {
        return errors[static_cast<std::size_t>(code)];
    }
};

/// Counters updated from every lane; relaxed atomics because each is independent.
class Metrics {
public:
    using Counter = std::atomic<std::uint64_t>;

    Counter connections_opened{0};
    Counter connections_closed{0};
    Counter identified_sessions{0};
    Counter rooms{0};
    Counter rooms_created{0};
    Counter rooms_removed{0};
    Counter messages_in{0};
    Counter messages_out{0};
    Counter frames_in{0};
    Counter frames_out{0};
    Counter bytes_in{0};
    Counter bytes_out{0};
    Counter rate_limited{0};
    Counter slow_consumer_closes{0};
    Counter policy_closes{0};
    Counter protocol_closes{0};
    Counter gap_read_retries{0};
    Counter gap_reads_failed{0};
    std::array<Counter, error_code_count> errors{};

    static void add(Counter& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
    static void sub(Counter& c, std::uint64_t n = 1) noexcept {
        c.fetch_sub(n, std::memory_order_relaxed);
    }
    void count_error(ErrorCode code) noexcept { add(errors[static_cast<std::size_t>(code)]); }

    MetricsSnapshot snapshot() const noexcept {
        auto r = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
        MetricsSnapshot s;
        s.connections_opened = r(connections_opened);
        s.connections_closed = r(connections_closed);
        s.connections_active = s.connections_opened - s.connections_closed;
        s.identified_sessions = r(identified_sessions);
        s.rooms = r(rooms);
        s.rooms_created = r(rooms_created);
        s.rooms_removed = r(rooms_removed);
        s.messages_in = r(messages_in);
        s.messages_out = r(messages_out);
        s.frames_in = r(frames_in);
        s.frames_out = r(frames_out);
        s.bytes_in = r(bytes_in);
        s.bytes_out = r(bytes_out);
        s.rate_limited = r(rate_limited);
        s.slow_consumer_closes = r(slow_consumer_closes);
        s.policy_closes = r(policy_closes);
        s.protocol_closes = r(protocol_closes);
        s.gap_read_retries = r(gap_read_retries);
        s.gap_reads_failed = r(gap_reads_failed);
        for (std::size_t i = 0; i < error_code_count; ++i) s.errors[i] = r(errors[i]);
        return s;
    }
};

PARLEY_NAMESPACE_END
