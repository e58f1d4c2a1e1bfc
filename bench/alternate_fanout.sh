#!/usr/bin/env bash
# Fan-out through two parley-server builds, alternated, so machine drift shows as
# round-to-round change rather than as a difference between the builds.
#
#   bench/alternate_fanout.sh BEFORE/parley-server AFTER/parley-server PARLEY-LOAD [rounds] [sizes]
#
# The command per run is bench/run's fan-out scenario (SQLite store on, rate limit
# lifted, 8 s after a 2 s warm-up). One line per run: round, build, N, load average,
# deliveries/s, p99 (µs).
set -uo pipefail
BEFORE="$1"; AFTER="$2"; LOAD="$3"; ROUNDS="${4:-2}"; SIZES="${5:-10 1000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    for which in before after; do
        bin="$BEFORE"; [ "$which" = after ] && bin="$AFTER"
        for n in $SIZES; do
            inflight=$(( 200000 / n )); [ "$inflight" -gt 200 ] && inflight=200; [ "$inflight" -lt 20 ] && inflight=20
            rm -f "$WORK"/db*
            "$bin" --host 127.0.0.1 --port 0 --rate-per-second 1000000 --rate-burst 1000000 --db "$WORK/db" \
                >"$WORK/server.log" 2>&1 &
            pid=$!
            port=""
            for _ in $(seq 1 200); do
                port="$(grep -o 'listening on http://[^ ]*' "$WORK/server.log" | head -1 | sed 's/.*://')"
                [ -n "$port" ] && break
                sleep 0.05
            done
            line="$(timeout 120 "$LOAD" --port "$port" --server-pid "$pid" --quiet --clients "$n" --rooms 1 --flood \
                --window 4 --max-inflight "$inflight" --duration 8 --warmup 2 2>/dev/null | tail -1)"
            kill -TERM "$pid"; wait "$pid" 2>/dev/null
            echo "round $round $which N=$n load=$(cut -d' ' -f1 /proc/loadavg)" \
                "$(echo "$line" | grep -o '"deliveries_per_s":[0-9.]*\|"p99":[0-9.]*' | tr '\n' ' ')"
        done
    done
done
