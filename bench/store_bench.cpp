// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Store micro-benchmark (not a test; not run in CI). Two measurements:
//
//  throughput  appends as fast as one thread can, spread over rooms, and reports
//              the messages per second the SqliteStore commits (the clock stops
//              when `flush()` says everything is on disk).
//  latency     appends at a fixed rate, as Hubs do, and reports how long the
//              `append` call itself takes (what a store adds to a broadcast on the
//              Hub's lane): SqliteStore against MemoryStore.
//
// Build and run (see docs/benchmarks.md):
//   cmake -S bench -B build/bench -DCMAKE_BUILD_TYPE=Release && cmake --build build/bench
//   build/bench/store_bench [--messages N] [--rooms N] [--text-bytes N] [--rate N]
//                           [--seconds N] [--dir PATH]

#include <parley/memory_store.hpp>
#include <parley/store/sqlite.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace {

using clock_type = std::chrono::steady_clock;

/// CPU time (user + system) of the whole process so far, in seconds.
double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Config {
    std::uint64_t messages = 200000;
    std::size_t rooms = 20;
    std::size_t text_bytes = 80;
    double rate = 5000;   // messages per second in the latency run
    double seconds = 3;   // length of each latency run
    std::string dir = std::filesystem::temp_directory_path().string();
};

Config parse(int argc, char** argv) {
    Config c;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        const std::string value = argv[i + 1];
        if (key == "--messages") c.messages = std::stoull(value);
        else if (key == "--rooms") c.rooms = std::stoul(value);
        else if (key == "--text-bytes") c.text_bytes = std::stoul(value);
        else if (key == "--rate") c.rate = std::stod(value);
        else if (key == "--seconds") c.seconds = std::stod(value);
        else if (key == "--dir") c.dir = value;
        else {
            std::fprintf(stderr, "unknown option %s\n", key.c_str());
            std::exit(2);
        }
    }
    return c;
}

std::string fresh_db(const Config& c, const std::string& name) {
    const auto path = (std::filesystem::path(c.dir) / name).string();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    return path;
}

void remove_db(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

parley::StoredMessagePtr make_message(std::uint64_t seq, const std::string& text) {
    parley::ChatMessage m;
    m.seq = seq;
    m.ts = 1767225600000 + static_cast<std::int64_t>(seq);
    m.from = "user" + std::to_string(seq % 97);
    m.text = text;
    return parley::make_stored(std::move(m));
}

/// Chat-like texts of about `bytes` bytes: words from a vocabulary of 5000 with a
/// skewed (roughly Zipf) frequency, so the full-text index sees realistic terms.
std::vector<std::string> texts(std::size_t bytes, std::size_t count = 4096) {
    std::vector<std::string> out;
    std::uint32_t state = 12345;
    for (std::size_t i = 0; i < count; ++i) {
        std::string text;
        while (text.size() < bytes) {
            state = state * 1103515245u + 12345u;
            const std::uint32_t r = (state >> 8) % 5000;
            text += (text.empty() ? "w" : " w") + std::to_string(r * r / 5000);
        }
        out.push_back(std::move(text));
    }
    return out;
}

std::vector<std::string> room_ids(std::size_t rooms) {
    std::vector<std::string> ids;
    for (std::size_t r = 0; r < rooms; ++r) ids.push_back("room" + std::to_string(r));
    return ids;
}

void throughput(const Config& c, std::size_t max_batch) {
    const auto path = fresh_db(c, "parley-store-bench.db");
    parley::SqliteStoreOptions options;
    options.max_batch = max_batch;
    options.max_pending = std::max<std::size_t>(options.max_pending, c.messages + c.rooms);
    double seconds = 0;
    double cpu = 0;
    parley::SqliteStoreStats stats;
    {
        parley::SqliteStore store(path, options);
        const auto ids = room_ids(c.rooms);
        for (const auto& id : ids) store.save_room(parley::RoomRecord{id, id, false, "e", 0});
        store.flush();
        const auto words = texts(c.text_bytes);
        // Messages are built first: the run measures the store, not make_stored.
        std::vector<parley::StoredMessagePtr> messages;
        messages.reserve(c.messages);
        for (std::uint64_t i = 0; i < c.messages; ++i)
            messages.push_back(make_message(i / c.rooms + 1, words[i % words.size()]));
        const auto start = clock_type::now();
        const double cpu_start = cpu_seconds();
        for (std::uint64_t i = 0; i < c.messages; ++i) store.append(ids[i % c.rooms], messages[i]);
        const bool ok = store.flush();
        seconds = std::chrono::duration<double>(clock_type::now() - start).count();
        cpu = cpu_seconds() - cpu_start;
        stats = store.stats();
        if (!ok) std::fprintf(stderr, "flush failed: %s\n", stats.last_error.c_str());
    }
    std::printf("throughput  max_batch=%-6zu %8llu messages: %7.3f s wall = %8.0f messages/s; "
                "%6.3f s CPU = %8.0f messages per CPU-second (%llu commits)\n",
                max_batch, static_cast<unsigned long long>(c.messages), seconds,
                static_cast<double>(c.messages) / seconds, cpu, static_cast<double>(c.messages) / cpu,
                static_cast<unsigned long long>(stats.commits));
    remove_db(path);
}

struct Percentiles {
    double p50, p99, p999, max;
};

Percentiles percentiles(std::vector<double> ns) {
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) { return ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * ns.size()))]; };
    return {at(0.50), at(0.99), at(0.999), ns.back()};
}

Percentiles paced_appends(const Config& c, parley::Store& store) {
    const auto ids = room_ids(c.rooms);
    for (const auto& id : ids) store.save_room(parley::RoomRecord{id, id, false, "e", 0});
    const auto words = texts(c.text_bytes);
    const auto total = static_cast<std::uint64_t>(c.rate * c.seconds);
    const auto step = std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(1.0 / c.rate));
    std::vector<double> ns;
    ns.reserve(total);
    auto next = clock_type::now();
    for (std::uint64_t i = 0; i < total; ++i) {
        auto message = make_message(i / c.rooms + 1, words[i % words.size()]);  // not timed
        std::this_thread::sleep_until(next);
        next += step;
        const auto t0 = clock_type::now();
        store.append(ids[i % c.rooms], std::move(message));
        ns.push_back(std::chrono::duration<double, std::nano>(clock_type::now() - t0).count());
    }
    return percentiles(std::move(ns));
}

void latency(const Config& c) {
    auto report = [&](const char* name, const Percentiles& p) {
        std::printf("latency     %-12s append() at %.0f/s: p50 %7.0f ns  p99 %7.0f ns  p99.9 %8.0f ns  max %9.0f ns\n",
                    name, c.rate, p.p50, p.p99, p.p999, p.max);
    };
    {
        parley::MemoryStore memory(500);
        report("MemoryStore", paced_appends(c, memory));
    }
    const auto path = fresh_db(c, "parley-store-bench-latency.db");
    {
        parley::SqliteStore sqlite(path);
        report("SqliteStore", paced_appends(c, sqlite));
        sqlite.flush();
        const auto stats = sqlite.stats();
        std::printf("            SqliteStore committed %llu writes in %llu commits, %llu errors\n",
                    static_cast<unsigned long long>(stats.writes), static_cast<unsigned long long>(stats.commits),
                    static_cast<unsigned long long>(stats.write_errors));
    }
    remove_db(path);
}

}  // namespace

int main(int argc, char** argv) {
    const Config c = parse(argc, argv);
    std::printf("SQLite %s; %llu messages of %zu bytes over %zu rooms; files in %s\n", sqlite3_libversion(),
                static_cast<unsigned long long>(c.messages), c.text_bytes, c.rooms, c.dir.c_str());
    for (std::size_t batch : {100u, 1000u, 10000u}) throughput(c, batch);
    latency(c);
}
