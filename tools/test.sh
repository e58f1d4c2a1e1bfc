#!/usr/bin/env bash
# Builds and runs every parley test: the README's test command, and what CI runs.
#
#   tools/test.sh                 all stages, in order, stopping at the first failure
#   tools/test.sh gcc_cxx17 meson only the named stages (tools/test.sh --list names them)
#
# Each stage is a function `stage_<name>` listed in STAGES below; to add one (say,
# server integration tests) write the function and append its name to STAGES.
# Build trees live under build/ and are reused between runs.
# Environment: PARLEY_JOBS (build and test parallelism, default 2).
set -uo pipefail

# shellcheck source=tools/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PARLEY_ROOT" || exit 1

PACKAGES=(cmake g++ clang libasio-dev libwebsocketpp-dev rapidjson-dev catch2 meson ninja-build python3 pkg-config libsqlite3-dev redis-server libhiredis-dev)

STAGES=(
    amalgamation
    gcc_cxx17
    gcc_cxx20
    clang_cxx17
    clang_cxx20
    sanitizers
    meson
    server
    web_e2e
    redis
)

# --- helpers --------------------------------------------------------------------

# cmake_build_and_test <build dir> <cmake configure args...>: configure, build, ctest.
cmake_build_and_test() {
    local dir="$1"
    shift
    local generator_args
    mapfile -t generator_args < <(parley_cmake_generator_args)
    # A tree configured with another generator cannot be reused.
    if [ -f "$dir/CMakeCache.txt" ] && [ "${#generator_args[@]}" -gt 0 ] &&
        ! grep -q "^CMAKE_GENERATOR:INTERNAL=${generator_args[1]}\$" "$dir/CMakeCache.txt"; then
        rm -rf "$dir"
    fi
    cmake -S . -B "$dir" "${generator_args[@]}" -DCMAKE_BUILD_TYPE=Debug "$@" &&
        cmake --build "$dir" -j "$PARLEY_JOBS" &&
        ctest --test-dir "$dir" --output-on-failure -j "$PARLEY_JOBS" --timeout 300
}

# cmake_build_target <build dir> <target> <cmake configure args...>: configure, build one target.
cmake_build_target() {
    local dir="$1" target="$2"
    shift 2
    local generator_args
    mapfile -t generator_args < <(parley_cmake_generator_args)
    if [ -f "$dir/CMakeCache.txt" ] && [ "${#generator_args[@]}" -gt 0 ] &&
        ! grep -q "^CMAKE_GENERATOR:INTERNAL=${generator_args[1]}\$" "$dir/CMakeCache.txt"; then
        rm -rf "$dir"
    fi
    cmake -S . -B "$dir" "${generator_args[@]}" -DCMAKE_BUILD_TYPE=Debug "$@" &&
        cmake --build "$dir" --target "$target" -j "$PARLEY_JOBS"
}

# The example server, built in the gcc_cxx17 tree (a no-op after that stage).
SERVER_BIN=build/gcc-cxx17/parley-server
build_server() {
    cmake_build_target build/gcc-cxx17 parley-server -DCMAKE_CXX_COMPILER=g++ -DPARLEY_CXX_STANDARD=17
}

# npm_install <dir>: a Node test package's dev dependencies (npm ci when it has a lock file).
npm_install() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        parley_ensure_packages nodejs npm
    fi
    if [ -f "$1/package-lock.json" ]; then
        (cd "$1" && npm ci --no-audit --no-fund)
    else
        (cd "$1" && npm install --no-audit --no-fund)
    fi
}

# --- stages ---------------------------------------------------------------------

stage_amalgamation() {
    python3 tools/amalgamate.py --check
}

stage_gcc_cxx17() {
    cmake_build_and_test build/gcc-cxx17 -DCMAKE_CXX_COMPILER=g++ -DPARLEY_CXX_STANDARD=17
}

# The stages after the first skip the single-header variant and the package tests:
# those check the generated header and the install rules, which do not depend on the
# compiler or the standard. Header hygiene runs once per compiler (C++17). The C++20
# stages check the core only: websocketpp 0.8.2 (the server, its transport) is C++17.
stage_gcc_cxx20() {
    cmake_build_and_test build/gcc-cxx20 -DCMAKE_CXX_COMPILER=g++ -DPARLEY_CXX_STANDARD=20 \
        -DPARLEY_BUILD_SINGLE_HEADER_TESTS=OFF -DPARLEY_PACKAGE_TESTS=OFF -DPARLEY_HYGIENE_TESTS=OFF \
        -DPARLEY_WEBSOCKETPP=OFF
}

stage_clang_cxx17() {
    cmake_build_and_test build/clang-cxx17 -DCMAKE_CXX_COMPILER=clang++ -DPARLEY_CXX_STANDARD=17 \
        -DPARLEY_BUILD_SINGLE_HEADER_TESTS=OFF -DPARLEY_PACKAGE_TESTS=OFF
}

stage_clang_cxx20() {
    cmake_build_and_test build/clang-cxx20 -DCMAKE_CXX_COMPILER=clang++ -DPARLEY_CXX_STANDARD=20 \
        -DPARLEY_BUILD_SINGLE_HEADER_TESTS=OFF -DPARLEY_PACKAGE_TESTS=OFF -DPARLEY_HYGIENE_TESTS=OFF \
        -DPARLEY_WEBSOCKETPP=OFF
}

stage_sanitizers() {
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        cmake_build_and_test build/sanitizers -DCMAKE_CXX_COMPILER=g++ -DPARLEY_SANITIZE=address,undefined \
        -DPARLEY_BUILD_SINGLE_HEADER_TESTS=OFF -DPARLEY_PACKAGE_TESTS=OFF -DPARLEY_HYGIENE_TESTS=OFF
}

stage_meson() {
    local dir=build/meson
    if [ -f "$dir/build.ninja" ]; then
        # Re-reads the list of test files (Meson does not glob by itself).
        meson setup --reconfigure "$dir" || return 1
    else
        rm -rf "$dir"
        meson setup "$dir" || return 1
    fi
    meson compile -C "$dir" -j "$PARLEY_JOBS" &&
        meson test -C "$dir" --print-errorlogs --num-processes "$PARLEY_JOBS"
}

# parley-server through its real HTTP, SSE and WebSocket surface on loopback,
# from Node (tests/server/*.test.mjs: node:test and the ws package).
stage_server() {
    build_server || return 1
    npm_install tests/server || return 1
    PARLEY_SERVER_BIN="$PWD/$SERVER_BIN" node --test tests/server/
}

# A cluster: two or three parley-server processes joined through Debian's
# redis-server, each started by the tests on a free loopback port
# (tests/cluster/*.test.mjs), and the Redis headers compiled alone.
stage_redis() {
    command -v redis-server >/dev/null 2>&1 || parley_ensure_packages redis-server
    # The target exists only when CMake found hiredis: then parley-server has REDIS_URL.
    cmake_build_target build/gcc-cxx17 parley_hygiene_redis_headers -DCMAKE_CXX_COMPILER=g++ \
        -DPARLEY_CXX_STANDARD=17 || return 1
    build_server || return 1
    npm_install tests/server || return 1
    # One file at a time: each starts its own Redis and nodes, and the timing
    # tests (TTL expiry) should not compete for the CPU.
    PARLEY_SERVER_BIN="$PWD/$SERVER_BIN" node --test --test-concurrency=1 tests/cluster/
}

# The browser app in Debian's chromium against a running parley-server
# (tests/web, when its end-to-end test exists), and against two nodes joined
# through redis-server (tests/web/cluster.test.mjs starts its own).
stage_web_e2e() {
    if [ ! -f tests/web/e2e.test.mjs ]; then
        echo "tests/web/e2e.test.mjs does not exist: nothing to run"
        return 0
    fi
    command -v chromium >/dev/null 2>&1 || parley_ensure_packages chromium
    command -v redis-server >/dev/null 2>&1 || parley_ensure_packages redis-server
    build_server || return 1
    npm_install tests/web || return 1
    # cluster.test.mjs uses tests/cluster/cluster.mjs, which uses tests/server's ws package.
    npm_install tests/server || return 1
    local log=build/web-e2e-server.log db=build/web-e2e.db url="" pid status
    rm -f "$db" "$db-wal" "$db-shm"
    "$SERVER_BIN" --port 0 --host 127.0.0.1 --db "$db" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        # Complete lines only: a line still being written could give a port cut short.
        url=$(head -n "$(wc -l <"$log")" "$log" | sed -n 's/^parley-server listening on //p')
        [ -n "$url" ] && break
        sleep 0.1
    done
    if [ -z "$url" ]; then
        cat "$log"
        kill "$pid" 2>/dev/null
        return 1
    fi
    # restart.test.mjs and cluster.test.mjs start (and stop) servers of their own.
    PARLEY_URL="$url" PARLEY_SERVER_BIN="$PWD/$SERVER_BIN" node --test tests/web/
    status=$?
    kill -TERM "$pid"
    if ! wait "$pid"; then
        echo "parley-server did not exit cleanly; its log:"
        cat "$log"
        status=1
    fi
    return "$status"
}

# --- driver ---------------------------------------------------------------------

if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "${STAGES[@]}"
    exit 0
fi
if [ "$#" -gt 0 ]; then
    for stage in "$@"; do
        declare -F "stage_$stage" >/dev/null || parley_die "unknown stage '$stage' (tools/test.sh --list)"
    done
    STAGES=("$@")
fi

parley_ensure_packages "${PACKAGES[@]}"

declare -A RESULT=()
declare -A SECONDS_TAKEN=()
status=0
failed=""
for stage in "${STAGES[@]}"; do
    if [ -n "$failed" ]; then
        RESULT[$stage]="not run"
        continue
    fi
    parley_log "stage $stage"
    start=$SECONDS
    if "stage_$stage"; then
        RESULT[$stage]="passed"
    else
        RESULT[$stage]="FAILED"
        failed="$stage"
        status=1
    fi
    SECONDS_TAKEN[$stage]=$((SECONDS - start))
done

parley_log "summary"
for stage in "${STAGES[@]}"; do
    if [ -n "${SECONDS_TAKEN[$stage]:-}" ]; then
        printf '  %-16s %-8s %5ss\n' "$stage" "${RESULT[$stage]}" "${SECONDS_TAKEN[$stage]}"
    else
        printf '  %-16s %-8s\n' "$stage" "${RESULT[$stage]}"
    fi
done
if [ "$status" -eq 0 ]; then
    printf '\nall %d stages passed in %ss\n' "${#STAGES[@]}" "$SECONDS"
else
    printf '\nstage %s FAILED (after %ss); later stages were not run\n' "$failed" "$SECONDS"
fi
exit "$status"
