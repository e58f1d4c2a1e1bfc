#!/usr/bin/env bash
# bench/cluster/run.sh: cross-node delivery through Redis next to the same load on
# one node, with the real generator (parley-load) and a Release parley-server built
# with hiredis. bench/run calls it for `--scenarios cluster`; it can run alone:
#
#   bench/cluster/run.sh --load build-bench/bench/parley-load --server build-bench/parley-server \
#       --out build-bench/results/cluster [--quick]
#
# Three topologies, each started fresh for every load (nodes on --port 0, the port
# read from the "listening on" line, then /healthz polled until Redis is up):
#   single        one node without Redis (history in memory, PARLEY_DB=:memory:)
#   single-redis  one node with REDIS_URL: every message makes the round trip
#                 through the append script and the node's subscription
#   cross         two nodes on one Redis: the senders on node A (--port), every
#                 other member on node B (--receive-port); only B's members are measured
# and two loads on each:
#   cluster-chat   1000 members in one room, 10 senders, 100 messages/s in total: latency
#   cluster-flood  1000 members in one room, 100 of them flooding (window 4, at most 200
#                  in flight): deliveries/s
# parley-load watches node A, node B and redis-server (--watch-pid) for CPU and RSS.
#
# Appends one JSON line per measurement to OUT/results.jsonl (bench/report.py turns
# them into the "Two nodes through Redis" table of docs/benchmarks.md) and the
# commands to OUT/commands.txt. Environment: PARLEY_RATE (the servers' per-connection
# rate limit, default 1000000), REDIS_SERVER_BIN (default redis-server), PARLEY_BENCH_NICE.
set -uo pipefail
{
LOAD=""
SERVER=""
OUT=""
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --load) LOAD="$2"; shift ;;
        --server) SERVER="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --quick) QUICK=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "bench/cluster/run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$LOAD" ] || { echo "bench/cluster/run.sh: --load must name parley-load" >&2; exit 2; }
[ -x "$SERVER" ] || { echo "bench/cluster/run.sh: --server must name parley-server" >&2; exit 2; }
[ -n "$OUT" ] || { echo "bench/cluster/run.sh: --out is required" >&2; exit 2; }
REDIS_BIN="${REDIS_SERVER_BIN:-redis-server}"
command -v "$REDIS_BIN" >/dev/null || { echo "bench/cluster/run.sh: no $REDIS_BIN" >&2; exit 1; }
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
COMMANDS="$OUT/commands.txt"
touch "$RESULTS" "$COMMANDS"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

NICE=()
if [ -n "${PARLEY_BENCH_NICE:-}" ] && [ "${PARLEY_BENCH_NICE}" != 0 ]; then NICE=(nice -n "$PARLEY_BENCH_NICE"); fi
RATE="${PARLEY_RATE:-1000000}"
NODE_ARGS=(--host 127.0.0.1 --port 0 --rate-per-second "$RATE" --rate-burst "$RATE" --db :memory:)

if [ "$QUICK" = 1 ]; then CHAT_DUR=5; FLOOD_DUR=3; else CHAT_DUR=20; FLOOD_DUR=8; fi

# --- processes ---------------------------------------------------------------------

PIDS=()
REDIS_PID="" REDIS_PORT=""
A_PID="" A_PORT="" B_PID="" B_PORT=""

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_redis() {
    REDIS_PORT="$(free_port)"
    "${NICE[@]}" "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --loglevel warning >"$OUT/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "redis-server did not start (see $OUT/redis.log)"
    return 1
}

# start_node <name> [redis url]: sets NODE_PID and NODE_PORT once the node listens
# (and, with Redis, once /healthz says the Redis link is up).
start_node() {
    local name="$1" url="${2:-}" logf="$OUT/node-$1.log" line=""
    : >"$logf"
    if [ -n "$url" ]; then
        REDIS_URL="$url" NODE_ID="$name" "${NICE[@]}" "$SERVER" "${NODE_ARGS[@]}" >"$logf" 2>&1 &
    else
        "${NICE[@]}" "$SERVER" "${NODE_ARGS[@]}" >"$logf" 2>&1 &
    fi
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    NODE_PORT=""
    for _ in $(seq 1 200); do
        # Complete lines only (wc -l counts newlines): a port read from a line still
        # being written could be cut short ("808" of "8081").
        line="$(head -n "$(wc -l <"$logf")" "$logf" | grep -m1 -a '^parley-server listening on http://' || true)"
        if [ -n "$line" ]; then
            NODE_PORT="${line##*:}"
            break
        fi
        kill -0 "$NODE_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$NODE_PORT" ] || { log "node $name did not start (see $logf)"; return 1; }
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NODE_PORT/healthz")" = 200 ] && return 0
        sleep 0.05
    done
    log "node $name never became healthy (see $logf)"
    return 1
}

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 70); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PIDS=()
    REDIS_PID="" A_PID="" B_PID=""
    sleep 0.5  # let the kernel finish the closes before the next start
}
trap 'stop_all' EXIT INT TERM

# start_topology <single|single-redis|cross>: the processes, fresh.
start_topology() {
    case "$1" in
        single)
            start_node a || return 1
            A_PID=$NODE_PID A_PORT=$NODE_PORT ;;
        single-redis)
            start_redis || return 1
            start_node a "redis://127.0.0.1:$REDIS_PORT" || return 1
            A_PID=$NODE_PID A_PORT=$NODE_PORT ;;
        cross)
            start_redis || return 1
            start_node a "redis://127.0.0.1:$REDIS_PORT" || return 1
            A_PID=$NODE_PID A_PORT=$NODE_PORT
            start_node b "redis://127.0.0.1:$REDIS_PORT" || return 1
            B_PID=$NODE_PID B_PORT=$NODE_PORT ;;
    esac
}

# measure <scenario> <topology> <parley-load args...>: one load on fresh processes.
measure() {
    local scenario="$1" topo="$2"
    shift 2
    if ! start_topology "$topo"; then
        stop_all
        return 0
    fi
    local args=(--port "$A_PORT" --server-pid "$A_PID" --watch-pid "A=$A_PID")
    local shown="--port \$A --server-pid \$A_PID --watch-pid A=\$A_PID"
    if [ -n "$B_PID" ]; then
        args+=(--receive-port "$B_PORT" --watch-pid "B=$B_PID")
        shown+=" --receive-port \$B --watch-pid B=\$B_PID"
    fi
    if [ -n "$REDIS_PID" ]; then
        args+=(--watch-pid "redis=$REDIS_PID")
        shown+=" --watch-pid redis=\$REDIS_PID"
    fi
    local load1 line
    load1="$(cut -d' ' -f1 /proc/loadavg)"
    echo "$scenario $topo: parley-load $shown $*" >>"$COMMANDS"
    log "$scenario on $topo"
    line="$(timeout 600 "${NICE[@]}" "$LOAD" "${args[@]}" --quiet "$@" 2>>"$OUT/load-stderr.log" | tail -1)"
    if [ -n "$line" ] && [ "${line:0:1}" = "{" ]; then
        echo "{\"target\":\"$topo\",\"scenario\":\"$scenario\",\"param\":\"$topo\",\"load1\":$load1,\"args\":\"$*\",${line:1}" >>"$RESULTS"
        printf '    %s\n' "$(echo "$line" | grep -o '"msgs_per_s":[0-9.]*\|"deliveries_per_s":[0-9.]*\|"p50":[0-9.]*\|"p99":[0-9.]*\|"total":[0-9]*' | tr '\n' ' ')" >&2
    else
        log "  no result (see $OUT/load-stderr.log)"
    fi
    stop_all
}

for topo in single single-redis cross; do
    measure cluster-chat "$topo" --clients 1000 --rooms 1 --senders 10 --rate 100 \
        --duration "$CHAT_DUR" --warmup 2 --label "cluster-chat:$topo"
done
for topo in single single-redis cross; do
    measure cluster-flood "$topo" --clients 1000 --rooms 1 --senders 100 --flood --window 4 --max-inflight 200 \
        --duration "$FLOOD_DUR" --warmup 2 --label "cluster-flood:$topo"
done
log "results: $RESULTS"
exit 0
}
