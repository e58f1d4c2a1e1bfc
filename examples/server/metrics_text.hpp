// parley-server: GET /metrics, the Lobby's counters in the Prometheus text
// exposition format (version 0.0.4).
#pragma once

#include "persistence.hpp"

#include <parley/error_code.hpp>
#include <parley/metrics.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace parley_server {

/// Server-side numbers that are not the Lobby's.
struct ServerGauges {
    std::size_t sse_streams = 0;
    std::size_t websocket_connections = 0;
};

inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// One metric with its HELP and TYPE lines.
inline void append_metric(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help, std::uint64_t value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

/// The cluster link, for a node started with REDIS_URL.
struct RedisGauges {
    bool up = false;
    std::uint64_t reconnects = 0;
    std::uint64_t outages = 0;
    std::uint64_t refused = 0;
};

inline std::string redis_metrics_text(const RedisGauges& r) {
    std::string out;
    auto metric = [&out](std::string_view name, std::string_view type, std::string_view help,
                         std::uint64_t value) { append_metric(out, name, type, help, value); };
    metric("parley_redis_up", "gauge", "1 while this node reaches Redis (commands and subscriptions), else 0.",
           r.up ? 1 : 0);
    metric("parley_redis_reconnects_total", "counter", "Attempts to connect to Redis again after a failure.",
           r.reconnects);
    metric("parley_redis_outages_total", "counter", "Times a Redis connection was lost or could not be made.",
           r.outages);
    metric("parley_redis_refused_total", "counter",
           "Messages and nickname claims refused with `unavailable` while Redis was away.", r.refused);
    return out;
}

inline std::string metrics_text(const parley::MetricsSnapshot& m, const ServerGauges& g,
                                const StoreGauges& store = {}) {
    std::string out;
    auto metric = [&out](std::string_view name, std::string_view type, std::string_view help,
                         std::uint64_t value) { append_metric(out, name, type, help, value); };
    metric("parley_connections_opened_total", "counter", "WebSocket sessions started.",
           m.connections_opened);
    metric("parley_connections_closed_total", "counter", "WebSocket sessions ended.",
           m.connections_closed);
    metric("parley_connections_active", "gauge", "WebSocket sessions open now.",
           m.connections_active);
    metric("parley_identified_sessions", "gauge", "Sessions that have a nickname.",
           m.identified_sessions);
    metric("parley_rooms", "gauge", "Rooms in the lobby.", m.rooms);
    metric("parley_rooms_created_total", "counter", "Rooms created by users.", m.rooms_created);
    metric("parley_rooms_removed_total", "counter", "Rooms removed after staying empty.",
           m.rooms_removed);
    metric("parley_messages_in_total", "counter", "Chat messages accepted (room and direct).",
           m.messages_in);
    metric("parley_messages_out_total", "counter", "Chat messages delivered to connections.",
           m.messages_out);
    metric("parley_frames_in_total", "counter", "WebSocket frames received.", m.frames_in);
    metric("parley_frames_out_total", "counter", "WebSocket frames sent.", m.frames_out);
    metric("parley_bytes_in_total", "counter", "Payload bytes received.", m.bytes_in);
    metric("parley_bytes_out_total", "counter", "Payload bytes sent.", m.bytes_out);
    metric("parley_rate_limited_total", "counter", "Requests refused by the rate limit.",
           m.rate_limited);
    metric("parley_slow_consumer_closes_total", "counter",
           "Connections closed with 1013 because they did not read.", m.slow_consumer_closes);
    metric("parley_policy_closes_total", "counter", "Connections closed with 1008 for abuse.",
           m.policy_closes);
    metric("parley_protocol_closes_total", "counter",
           "Connections closed with 1007 or 1009 for bad frames.", m.protocol_closes);
    metric("parley_gap_read_retries_total", "counter",
           "Clustered: reads of messages a live delivery skipped, tried again after a failed read.",
           m.gap_read_retries);
    metric("parley_gap_reads_failed_total", "counter",
           "Clustered: skipped messages given up because every read attempt failed.",
           m.gap_reads_failed);

    out.append("# HELP parley_errors_total Error replies sent, by code.\n");
    out.append("# TYPE parley_errors_total counter\n");
    for (std::size_t i = 0; i < parley::error_code_count; ++i) {
        out.append("parley_errors_total{code=\"")
            .append(parley::to_string(static_cast<parley::ErrorCode>(i)))
            .append("\"} ")
            .append(std::to_string(m.errors[i]))
            .append("\n");
    }

    metric("parley_server_websocket_connections", "gauge",
           "WebSocket connections the server holds open (including closing ones).",
           g.websocket_connections);
    metric("parley_server_sse_streams", "gauge", "Open /api/lobby/events streams.", g.sse_streams);

    metric("parley_store_persistent", "gauge", "1 when rooms and history are kept in a database file.",
           store.persistent);
    metric("parley_store_failing", "gauge",
           "1 while the last commit to the database failed (writes are kept and retried).",
           store.failing);
    metric("parley_store_unclean_start", "gauge",
           "1 when the last run did not close the database (killed): rooms got new epochs.",
           store.unclean_start);
    metric("parley_store_pending_writes", "gauge", "Writes accepted and not yet committed.",
           store.pending);
    metric("parley_store_commits_total", "counter", "Database transactions committed.",
           store.commits);
    metric("parley_store_writes_total", "counter", "Messages, deletions and room changes committed.",
           store.writes);
    metric("parley_store_write_errors_total", "counter", "Failed commits (each is retried).",
           store.write_errors);
    metric("parley_store_read_errors_total", "counter", "Failed history reads and searches.",
           store.read_errors);
    metric("parley_store_dropped_writes_total", "counter",
           "Writes given up because too many were waiting for a failing disk.", store.dropped);
    metric("parley_store_trimmed_total", "counter", "Messages removed by retention.", store.trimmed);
    return out;
}

}  // namespace parley_server
