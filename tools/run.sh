#!/usr/bin/env bash
# Builds and starts parley-server (examples/server): the chat with its web app on
# one port. It prints "parley-server listening on http://HOST:PORT"; open that URL.
# Ctrl-C stops it gracefully. The README's main command.
#
#   tools/run.sh [server options...]     e.g. --port 9000, --host 0.0.0.0 (see --help)
#   tools/run.sh demo [demo arguments...]
#                                        the scripted demo on the mock transport instead,
#                                        printing its transcript (examples/demo)
# Environment: PARLEY_JOBS (build parallelism, default 2); the server's own
# variables (PORT, HOST, SHUTDOWN_TIMEOUT, ALLOWED_ORIGINS, THREADS, WEB_ROOT, PARLEY_DB,
# PARLEY_FLUSH_INTERVAL, PARLEY_KEEP_MESSAGES, PARLEY_KEEP_FOR, PARLEY_DB_MAX_BYTES); history
# goes to ./parley.db unless PARLEY_DB says otherwise.
set -euo pipefail

# shellcheck source=tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PARLEY_ROOT"

target=parley-server
source_file=examples/server/main.cpp
packages=(cmake g++ rapidjson-dev ninja-build libasio-dev libwebsocketpp-dev libsqlite3-dev)
if [ "${1:-}" = "demo" ]; then
    shift
    target=parley-demo
    source_file=examples/demo/main.cpp
    packages=(cmake g++ rapidjson-dev ninja-build)
fi

parley_ensure_packages "${packages[@]}"

[ -f "$source_file" ] || parley_die "$source_file does not exist yet"

dir=build/run
mkdir -p build
mapfile -t generator_args < <(parley_cmake_generator_args)
if [ -f "$dir/CMakeCache.txt" ] && [ "${#generator_args[@]}" -gt 0 ] &&
    ! grep -q "^CMAKE_GENERATOR:INTERNAL=${generator_args[1]}\$" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
fi
{
    cmake -S . -B "$dir" "${generator_args[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPARLEY_BUILD_TESTS=OFF -DPARLEY_BUILD_EXAMPLES=ON &&
        cmake --build "$dir" --target "$target" -j "$PARLEY_JOBS"
} >"$dir.log" 2>&1 || {
    cat "$dir.log" >&2
    parley_die "building $target failed (log: $dir.log)"
}

exec "$dir/$target" "$@"
