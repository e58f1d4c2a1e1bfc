// parley-server: configuration from the environment and matching flags
// (flags win), with --help.
#pragma once

#include <parley/bus/redis/endpoint.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef PARLEY_SERVER_SOURCE_WEB_ROOT
#define PARLEY_SERVER_SOURCE_WEB_ROOT ""
#endif

namespace parley_server {

struct Config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::chrono::milliseconds shutdown_timeout{5000};
    /// Empty: same-origin only. `any_origin`: every Origin (ALLOWED_ORIGINS=*).
    std::vector<std::string> allowed_origins;
    bool any_origin = false;
    unsigned threads = 0;  ///< 0: one per core
    std::string web_root;  ///< empty: found next to the binary or in the source tree
    /// The SQLite file for rooms and history; ":memory:" keeps them in memory only.
    std::string db_path = "./parley.db";
    bool db_path_chosen = false;  ///< set by PARLEY_DB or --db rather than the default
    /// Longest an accepted message waits before it is committed to the file.
    std::chrono::milliseconds flush_interval{50};
    std::uint64_t keep_messages = 0;   ///< retention: messages kept per room (0: all)
    std::chrono::milliseconds keep_for{0};  ///< retention: oldest message kept (0: forever)
    std::uint64_t db_max_bytes = 0;  ///< quota on the database file (0: none)

    bool persistent() const { return db_path != ":memory:"; }
    /// Requests per second each connection may make, and its burst (parley's
    /// defaults, Limits::rate_per_second and rate_burst, unless set). Raised in
    /// load tests, where one connection sends far faster than a person types.
    unsigned rate_per_second = 10;
    unsigned rate_burst = 20;
    /// Empty: a single node. Else the Redis that joins this node to a cluster.
    std::string redis_url;
    std::optional<parley::RedisEndpoint> redis;  ///< parsed from redis_url
    /// How long a crashed node's members and nicknames outlive it (at most 30 s).
    std::chrono::milliseconds redis_ttl{15000};
    std::string node_id;  ///< empty: random
};

/// Thrown for a bad value; main prints it with the usage hint and exits 2.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr std::string_view usage_text =
    R"(usage: parley-server [options]

Serves the parley chat: the web app, the WebSocket endpoint /ws and the REST API,
on one port. Every option can also be set by the environment variable in brackets;
a flag wins over its variable.

  --host HOST               address to listen on [HOST] (default 127.0.0.1;
                            0.0.0.0 or :: to accept connections from other machines)
  --port N                  TCP port [PORT] (default 8080; 0 picks a free port,
                            printed in the "listening on" line)
  --shutdown-timeout D      how long a graceful shutdown may take before the
                            remaining connections are cut [SHUTDOWN_TIMEOUT]
                            (default 5s; units ms, s, m; a bare number is seconds)
  --allowed-origins LIST    comma-separated origins allowed to open WebSockets and
                            POST to the API, e.g. https://chat.example.com
                            [ALLOWED_ORIGINS] (default: same origin only; * allows
                            any origin, which a warning reminds you of)
  --threads N               I/O threads [THREADS] (default: one per core)
  --web-root DIR            directory holding the web app [WEB_ROOT] (default: the
                            installed share/parley/web, else the source tree's web/)
  --db PATH                 SQLite file keeping rooms and history across restarts
                            [PARLEY_DB] (default ./parley.db, created if missing;
                            :memory: keeps them in memory only, lost on exit)
  --flush-interval D        longest an accepted message waits before it is written
                            to the file [PARLEY_FLUSH_INTERVAL] (default 50ms, at
                            most 100ms): what a crash (kill -9) can lose
  --keep-messages N         retention: messages kept per room, oldest removed first
                            [PARLEY_KEEP_MESSAGES] (default 0: all)
  --keep-for D              retention: drop messages older than D
                            [PARLEY_KEEP_FOR] (default 0: forever; units ms, s, m,
                            h, d)
  --db-max-bytes N          quota on the database file; past it writes are kept in
                            memory, retried and reported in /metrics like a full
                            disk [PARLEY_DB_MAX_BYTES] (default 0: none)
  --rate-per-second N       requests each connection may make per second
                            [RATE_PER_SECOND] (default 10; more are answered
                            with rate_limited, and a flood is closed with 1008)
  --rate-burst N            requests a connection may make at once before the
                            rate applies [RATE_BURST] (default 20)
  --redis-url URL           join a cluster of parley-server processes through Redis
                            [REDIS_URL], e.g. redis://127.0.0.1:6379 or
                            redis://:password@host:port/db (default: none, a single
                            node). Redis must be reachable at start-up; later
                            outages are survived (see docs/scaling.md)
  --redis-ttl D             how long a crashed node's members stay in the counts and
                            its nicknames stay taken [REDIS_TTL] (default 15s, at most 30s)
  --node-id ID              this process's name in the cluster [NODE_ID] (default: random)
  -h, --help                print this help and exit

On SIGINT or SIGTERM every chat client is told `shutdown` and closed with 1001; the
process exits 0 once all are gone, or after the shutdown timeout, with every
accepted message written to the database.

Durability: a message broadcast more than the flush interval before the process is
killed (even with kill -9) is in the history after a restart.
)";

namespace detail {

inline std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t");
    return std::string(s.substr(b, e - b + 1));
}

inline unsigned long parse_unsigned(std::string_view what, std::string_view text,
                                    unsigned long max) {
    if (text.empty() || !std::all_of(text.begin(), text.end(),
                                     [](unsigned char c) { return std::isdigit(c); }))
        throw ConfigError(std::string(what) + ": expected a number, got \"" + std::string(text) + "\"");
    unsigned long value = 0;
    for (char c : text) {
        value = value * 10 + static_cast<unsigned long>(c - '0');
        if (value > max)
            throw ConfigError(std::string(what) + ": " + std::string(text) + " is over " +
                              std::to_string(max));
    }
    return value;
}

/// "5s", "500ms", "2m", "12h", "30d", or a bare number of seconds; at most ten years.
inline std::chrono::milliseconds parse_duration(std::string_view what, std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    const auto number = parse_unsigned(what, text.substr(0, digits), 10UL * 366 * 24 * 3600 * 1000);
    const auto unit = text.substr(digits);
    std::chrono::milliseconds::rep scale = 0;
    if (unit.empty() || unit == "s") scale = 1000;
    else if (unit == "ms") scale = 1;
    else if (unit == "m") scale = 60 * 1000;
    else if (unit == "h") scale = 3600 * 1000;
    else if (unit == "d") scale = 24 * 3600 * 1000;
    else
        throw ConfigError(std::string(what) + ": unknown unit in \"" + std::string(text) +
                          "\" (use ms, s, m, h or d)");
    const auto ms = static_cast<std::chrono::milliseconds::rep>(number) * scale;
    if (ms > std::chrono::milliseconds::rep(10) * 366 * 24 * 3600 * 1000)
        throw ConfigError(std::string(what) + ": " + std::string(text) + " is over ten years");
    return std::chrono::milliseconds(ms);
}

/// Lower-case scheme://host[:port] without a trailing slash.
inline std::string normalize_origin(std::string_view origin) {
    std::string out = trim(origin);
    while (!out.empty() && out.back() == '/') out.pop_back();
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

inline void set_origins(Config& config, std::string_view list) {
    config.allowed_origins.clear();
    config.any_origin = false;
    std::string item;
    std::istringstream in{std::string(list)};
    while (std::getline(in, item, ',')) {
        auto origin = normalize_origin(item);
        if (origin.empty()) continue;
        if (origin == "*") {
            config.any_origin = true;
            continue;
        }
        if (origin.find("://") == std::string::npos)
            throw ConfigError("ALLOWED_ORIGINS: \"" + origin +
                              "\" is not an origin like https://chat.example.com");
        config.allowed_origins.push_back(origin);
    }
}

inline void set(Config& config, std::string_view key, std::string_view value) {
    if (key == "HOST") {
        if (value.empty()) throw ConfigError("HOST: empty");
        config.host = std::string(value);
    } else if (key == "PORT") {
        config.port = static_cast<std::uint16_t>(parse_unsigned("PORT", value, 65535));
    } else if (key == "SHUTDOWN_TIMEOUT") {
        config.shutdown_timeout = parse_duration("SHUTDOWN_TIMEOUT", value);
    } else if (key == "ALLOWED_ORIGINS") {
        set_origins(config, value);
    } else if (key == "THREADS") {
        config.threads = static_cast<unsigned>(parse_unsigned("THREADS", value, 1024));
        if (config.threads == 0) throw ConfigError("THREADS: at least 1");
    } else if (key == "WEB_ROOT") {
        config.web_root = std::string(value);
    } else if (key == "PARLEY_DB") {
        if (value.empty()) throw ConfigError("PARLEY_DB: empty (use :memory: to run without a file)");
        config.db_path = std::string(value);
        config.db_path_chosen = true;
    } else if (key == "PARLEY_FLUSH_INTERVAL") {
        config.flush_interval = parse_duration("PARLEY_FLUSH_INTERVAL", value);
        if (config.flush_interval > std::chrono::milliseconds(100))
            throw ConfigError("PARLEY_FLUSH_INTERVAL: at most 100ms");
    } else if (key == "PARLEY_KEEP_MESSAGES") {
        config.keep_messages = parse_unsigned("PARLEY_KEEP_MESSAGES", value, 1000000000UL);
    } else if (key == "PARLEY_DB_MAX_BYTES") {
        config.db_max_bytes = parse_unsigned("PARLEY_DB_MAX_BYTES", value, ~0UL / 10);
    } else if (key == "PARLEY_KEEP_FOR") {
        config.keep_for = parse_duration("PARLEY_KEEP_FOR", value);
    } else if (key == "RATE_PER_SECOND") {
        config.rate_per_second =
            static_cast<unsigned>(parse_unsigned("RATE_PER_SECOND", value, 100000000));
        if (config.rate_per_second == 0) throw ConfigError("RATE_PER_SECOND: at least 1");
    } else if (key == "RATE_BURST") {
        config.rate_burst = static_cast<unsigned>(parse_unsigned("RATE_BURST", value, 100000000));
        if (config.rate_burst == 0) throw ConfigError("RATE_BURST: at least 1");
    } else if (key == "REDIS_URL") {
        config.redis_url = trim(value);
        config.redis.reset();
        if (config.redis_url.empty()) return;
        try {
            config.redis = parley::parse_redis_url(config.redis_url);
        } catch (const parley::RedisUrlError& e) {
            throw ConfigError(e.what());
        }
    } else if (key == "REDIS_TTL") {
        config.redis_ttl = parse_duration("REDIS_TTL", value);
        if (config.redis_ttl < std::chrono::seconds(1) || config.redis_ttl > std::chrono::seconds(30))
            throw ConfigError("REDIS_TTL: between 1s and 30s");
    } else if (key == "NODE_ID") {
        for (char c : value)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
                throw ConfigError("NODE_ID: letters, digits, - and _ only");
        config.node_id = std::string(value);
    }
}

struct Flag {
    std::string_view flag;
    std::string_view key;
};
inline constexpr Flag flags[] = {
    {"--host", "HOST"},
    {"--port", "PORT"},
    {"--shutdown-timeout", "SHUTDOWN_TIMEOUT"},
    {"--allowed-origins", "ALLOWED_ORIGINS"},
    {"--threads", "THREADS"},
    {"--web-root", "WEB_ROOT"},
    {"--db", "PARLEY_DB"},
    {"--flush-interval", "PARLEY_FLUSH_INTERVAL"},
    {"--keep-messages", "PARLEY_KEEP_MESSAGES"},
    {"--keep-for", "PARLEY_KEEP_FOR"},
    {"--db-max-bytes", "PARLEY_DB_MAX_BYTES"},
    {"--rate-per-second", "RATE_PER_SECOND"},
    {"--rate-burst", "RATE_BURST"},
    {"--redis-url", "REDIS_URL"},
    {"--redis-ttl", "REDIS_TTL"},
    {"--node-id", "NODE_ID"},
};

}  // namespace detail

/// The result of reading the command line: a config, or "print help".
struct ParsedArgs {
    Config config;
    bool help = false;
};

/// Environment first, then flags (`--port 8080` or `--port=8080`).
inline ParsedArgs parse_config(int argc, char** argv) {
    ParsedArgs out;
    for (const auto& f : detail::flags)
        if (const char* v = std::getenv(std::string(f.key).c_str()); v && *v)
            detail::set(out.config, f.key, v);
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            out.help = true;
            return out;
        }
        std::string_view value;
        bool has_value = false;
        if (auto eq = arg.find('='); eq != std::string_view::npos && arg.substr(0, 2) == "--") {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        const detail::Flag* match = nullptr;
        for (const auto& f : detail::flags)
            if (f.flag == arg) match = &f;
        if (!match) throw ConfigError("unknown option " + std::string(arg));
        if (!has_value) {
            if (i + 1 >= argc) throw ConfigError(std::string(arg) + " needs a value");
            value = argv[++i];
        }
        detail::set(out.config, match->key, value);
    }
    return out;
}

/// The web app's directory: --web-root, else <prefix>/share/parley/web beside an
/// installed binary, else the source tree's web/ (compiled in).
inline std::filesystem::path resolve_web_root(const Config& config, const char* argv0) {
    namespace fs = std::filesystem;
    if (!config.web_root.empty()) return fs::path(config.web_root);
    std::error_code ec;
    auto exe = fs::canonical("/proc/self/exe", ec);
    if (ec && argv0) exe = fs::absolute(argv0, ec);
    if (!ec) {
        auto installed = exe.parent_path().parent_path() / "share" / "parley" / "web";
        if (fs::is_regular_file(installed / "index.html", ec)) return installed;
    }
    return fs::path(PARLEY_SERVER_SOURCE_WEB_ROOT);
}

}  // namespace parley_server
