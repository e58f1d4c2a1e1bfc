#!/usr/bin/env bash
# Instructions (callgrind Ir) per message of parley-core-bench's full path, for
# each room size: two runs that differ only in the number of messages, so the
# set-up (connect, hello, join) cancels out. Load-independent, unlike the timings.
#
#   bench/core/callgrind_per_message.sh BUILD/bench/parley-core-bench [10 100 1000 5000]
set -euo pipefail
BIN="$1"; shift
SIZES="${*:-10 100 1000 5000}"
OUT="$(mktemp -d)"
ir() { # members deliveries
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$1.$2" "$BIN" --only full --members "$1" \
        --deliveries "$2" --idle 0 >/dev/null 2>"$OUT/log.$1.$2"
    awk '/^summary:/ { print $2 }' "$OUT/cg.$1.$2"
}
for n in $SIZES; do
    m1=$((n >= 1000 ? 200 : 20000)); m2=$((m1 * 2))
    a=$(ir "$n" $((m1 * n))); b=$(ir "$n" $((m2 * n)))
    awk -v n="$n" -v a="$a" -v b="$b" -v m="$m1" \
        'BEGIN { printf "members %5d: %8.0f Ir per message, %6.1f Ir per delivery\n", n, (b - a) / m, (b - a) / m / n }'
done
rm -rf "$OUT"
