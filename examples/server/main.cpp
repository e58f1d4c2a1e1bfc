// parley-server: the example chat server. One port serves the web app (web/),
// the WebSocket endpoint /ws, the REST API and its lobby event stream, /healthz
// and /metrics. Configuration: config.hpp (or --help).
//
// Roles, one file each: config.hpp (settings), http_util.hpp (responses and
// the Origin policy), http_api.hpp (REST), sse.hpp (lobby events),
// static_files.hpp (the app), metrics_text.hpp (Prometheus), persistence.hpp
// (the store); this file wires them to websocketpp and runs the graceful shutdown.

#include "config.hpp"
#include "http_api.hpp"
#include "http_util.hpp"
#include "metrics_text.hpp"
#include "persistence.hpp"
#include "sse.hpp"
#include "static_files.hpp"

#include <parley/parley.hpp>
#include <parley/transport/websocketpp.hpp>
#if PARLEY_SERVER_REDIS
#include <parley/bus/redis.hpp>
#endif

#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace parley_server {
namespace {

void log(const std::string& line) {
    std::fprintf(stderr, "parley-server: %s\n", line.c_str());
    std::fflush(stderr);
}

/// Open WebSocket connections, so shutdown knows when the last one is gone
/// and can cut the rest at the deadline. Touched on open and close only.
class Connections {
public:
    void add(const ConnectionPtr& con) {
        std::lock_guard<std::mutex> lock(mutex_);
        open_[con.get()] = con;
    }
    /// Returns how many remain.
    std::size_t remove(const ConnectionPtr& con) {
        std::lock_guard<std::mutex> lock(mutex_);
        open_.erase(con.get());
        return open_.size();
    }
    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return open_.size();
    }
    std::size_t drop_all() {
        std::vector<ConnectionPtr> live;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& [key, weak] : open_)
                if (auto con = weak.lock()) live.push_back(std::move(con));
        }
        for (auto& con : live) Transport::drop(con);
        return live.size();
    }

private:
    mutable std::mutex mutex_;
    std::map<const void*, std::weak_ptr<Transport::connection_type>> open_;
};

#if PARLEY_SERVER_REDIS
using RedisBusPtr = std::shared_ptr<parley::RedisBus>;

/// The cluster link when REDIS_URL is set; null for a single node.
RedisBusPtr make_redis(const Config& config, asio::io_context& io) {
    if (!config.redis) return nullptr;
    parley::RedisBusOptions options;
    options.endpoint = *config.redis;
    options.ttl = config.redis_ttl;
    options.log = [](const std::string& line) { log(line); };
    return std::make_shared<parley::RedisBus>(io, options);
}

/// With a cluster, history lives in the Redis streams (every node serves it);
/// alone, in the server's own store.
void use_cluster(parley::LobbyOptions& options, const RedisBusPtr& redis) {
    if (!redis) return;
    options.bus = redis;
    options.store = std::make_shared<parley::RedisStore>(redis);
}
#else
struct NoRedis {
    struct Status {
        bool up = false;
        std::uint64_t reconnects = 0, outages = 0, refused = 0;
        std::string last_error;
    };
    Status status() const { return {}; }
    void start() {}
    void stop(std::function<void()> done) { done(); }
    void close_now() {}
};
using RedisBusPtr = std::shared_ptr<NoRedis>;

RedisBusPtr make_redis(const Config& config, asio::io_context&) {
    if (config.redis)
        throw parley::StoreError(config.redis->describe(),
                                 "this parley-server was built without Redis support (hiredis not found)");
    return nullptr;
}

void use_cluster(parley::LobbyOptions&, const RedisBusPtr&) {}
#endif


/// The Lobby's settings that the server's configuration overrides, its store
/// and, with REDIS_URL, the cluster.
parley::LobbyOptions lobby_options(const Config& config, const Persistence& persistence,
                                   const RedisBusPtr& redis) {
    parley::LobbyOptions options;
    options.node_id = config.node_id;
    options.store = persistence.store();
    options.limits.rate_per_second = config.rate_per_second;
    options.limits.rate_burst = config.rate_burst;
    use_cluster(options, redis);
    return options;
}

/// Nothing in the server reads a session's request headers after the
/// handshake (the Origin check runs in the validate handler), so they are not
/// kept for the life of each connection.
Transport::Options transport_options() {
    Transport::Options options;
    options.peer_headers = false;
    return options;
}

class App {
public:
    App(const Config& config, const std::filesystem::path& web_root, Persistence& persistence)
        : config_(config),
          persistence_(persistence),
          transport_(io_, transport_options()),
          redis_(make_redis(config, io_)),
          lobby_(transport_, lobby_options(config, persistence, redis_)),
          origins_(config),
          api_(lobby_, origins_),
          files_(web_root),
          signals_(io_, SIGINT, SIGTERM),
          control_(asio::make_strand(io_)),
          deadline_(control_) {}

    /// Listens and prints the URL; false (after a log line) when it cannot.
    bool start() {
        server_.init_asio(&io_);
        server_.set_reuse_addr(true);
        server_.clear_access_channels(websocketpp::log::alevel::all);
        server_.clear_error_channels(websocketpp::log::elevel::all);
        server_.set_error_channels(websocketpp::log::elevel::fatal);
        server_.set_user_agent("parley-server");
        // websocketpp's own cap on request bodies; the API has a smaller one and
        // answers 413 in JSON below this.
        server_.set_max_http_body_size(64 * 1024);

        transport_.bind(server_, lobby_);
        // bind() routed the WebSocket events to the Lobby; wrap open and close
        // to keep count for the shutdown.
        server_.set_open_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server_.get_con_from_hdl(hdl);
            connections_.add(con);
            transport_.open(con, lobby_);
        });
        server_.set_close_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server_.get_con_from_hdl(hdl);
            const auto local = con->get_local_close_code();
            if (local == websocketpp::close::status::message_too_big ||
                local == websocketpp::close::status::invalid_payload)
                parley::Metrics::add(lobby_.metrics().protocol_closes);
            Transport::closed(con);
            connections_.remove(con);
            if (stopping_) asio::post(control_, [this] { finish_if_done(); });
        });
        server_.set_validate_handler([this](websocketpp::connection_hdl hdl) {
            return validate(server_.get_con_from_hdl(hdl));
        });
        server_.set_http_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server_.get_con_from_hdl(hdl);
            try {
                http(con);
            } catch (const std::exception& e) {
                log(std::string("http handler failed: ") + e.what());
                respond_now(con, api_error(500, "internal", "internal error"));
            }
        });

        websocketpp::lib::error_code ec;
        server_.listen(config_.host, std::to_string(config_.port), ec);
        if (ec) {
            log("cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " +
                ec.message());
            return false;
        }
        server_.start_accept(ec);
        if (ec) {
            log("cannot accept: " + ec.message());
            return false;
        }
        asio::error_code aec;
        const auto local = server_.get_local_endpoint(aec);
        const auto address = local.address();
        const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
        std::cout << "parley-server listening on http://" << host << ":" << local.port() << std::endl;

        log("store: " + (redis_ ? std::string("history in the cluster's Redis streams")
                                : persistence_.description()));
        if (!files_.available())
            log("web root " + files_.root().string() + " not found: only the API and /ws are served");
        else
            log("serving the web app from " + files_.root().string());
        if (config_.any_origin)
            log("warning: ALLOWED_ORIGINS=* lets pages on any site open chat connections");
        if (redis_) {
            log("clustered through " + config_.redis->describe() + " (node " + lobby_.node_id() + ")");
            redis_->start();
        }
        wait_for_signal();
        return true;
    }

    /// Runs the I/O threads until the server has shut down.
    void run() {
        unsigned n = config_.threads ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
        std::vector<std::thread> threads;
        for (unsigned i = 1; i < n; ++i) threads.emplace_back([this] { io_.run(); });
        io_.run();
        for (auto& t : threads) t.join();
        websocketpp::lib::error_code ec;
        server_.stop_listening(ec);
        // Let whatever the lanes still had queued run before the Lobby goes away;
        // the flush commits every accepted message and brings back the answers of
        // reads still in flight, which the second poll hands to their lanes.
        io_.restart();
        io_.poll();
        if (!persistence_.flush())
            log("store: the last writes could not be committed: " + persistence_.gauges().last_error);
        io_.restart();
        io_.poll();
        if (redis_) redis_->close_now();
    }

private:
    bool validate(const ConnectionPtr& con) {
        auto reject = [&con](int status, std::string_view code, std::string_view message) {
            respond_now(con, api_error(status, code, message));
            return false;
        };
        if (split_target(con->get_resource()).path != "/ws")
            return reject(404, "not_found", "WebSockets are served on /ws");
        if (stopping_) return reject(503, "server_busy", "the server is shutting down");
        const auto& origin = con->get_request_header("Origin");
        if (!origins_.allows(origin, con->get_request_header("Host"))) {
            log("refused a WebSocket from origin " + origin);
            return reject(403, "forbidden", "origin not allowed");
        }
        return true;
    }

    /// 200 while serving; 503 while stopping, and while a cluster node is cut off
    /// from Redis (it still serves its own members, but a load balancer should
    /// prefer the others). A failing store keeps 200 (chat goes on and nothing
    /// accepted is lost) but is named in the body.
    Response health() const {
        if (stopping_) return json_response(503, R"({"status":"stopping"})");
        parley::detail::JsonWriter w;
        if (redis_) {
            const auto status = redis_->status();
            if (!status.up) {
                w.field("status", "degraded").field("redis", "down").field("error", status.last_error);
                return json_response(503, w.finish());
            }
            w.field("status", "ok").field("store", "redis").field("redis", "up");
            return json_response(200, w.finish());
        }
        const auto store = persistence_.gauges();
        w.field("status", "ok");
        w.field("store", !store.persistent ? "memory" : store.failing ? "failing" : "ok");
        if (store.failing) w.field("store_error", store.last_error);
        return json_response(200, w.finish());
    }

    void http(const ConnectionPtr& con) {
        const std::string& method = con->get_request().get_method();
        const auto target = split_target(con->get_resource());
        const std::string& path = target.path;
        if (path == "/healthz") {
            if (method != "GET" && method != "HEAD") return respond_now(con, HttpApi::not_allowed("GET, HEAD"));
            return respond_now(con, health());
        }
        if (path == "/metrics") {
            if (method != "GET" && method != "HEAD") return respond_now(con, HttpApi::not_allowed("GET, HEAD"));
            Response r;
            r.content_type = std::string(metrics_content_type);
            r.header("Cache-Control", "no-store");
            r.body = metrics_text(lobby_.metrics().snapshot(),
                                  ServerGauges{sse_.size(), connections_.size()},
                                  persistence_.gauges());
            if (redis_) {
                const auto status = redis_->status();
                r.body += redis_metrics_text(
                    RedisGauges{status.up, status.reconnects, status.outages, status.refused});
            }
            return respond_now(con, r);
        }
        if (stopping_) return respond_now(con, api_error(503, "server_busy", "the server is shutting down"));
        if (path == "/api/lobby/events") {
            if (method != "GET") return respond_now(con, HttpApi::not_allowed("GET"));
            return SseStream::open(con, lobby_, sse_);
        }
        if (path == "/api" || path.rfind("/api/", 0) == 0) {
            if (path == "/api") return respond_now(con, api_error(404, "not_found", "no API endpoint /api"));
            return api_.handle(con, method, path, target.query);
        }
        if (path == "/ws") return respond_now(con, api_error(426, "upgrade_required", "/ws is a WebSocket endpoint"));
        files_.handle(con, method, path);
    }

    // ---- shutdown (on control_) -----------------------------------------------------------

    void wait_for_signal() {
        signals_.async_wait(asio::bind_executor(control_, [this](const asio::error_code& ec, int signo) {
            if (ec) return;
            on_signal(signo);
        }));
    }

    void on_signal(int signo) {
        const std::string name = signo == SIGINT ? "SIGINT" : "SIGTERM";
        if (stopping_) {
            log(name + " again: not waiting any longer");
            return force();
        }
        // From here on every new request is answered 503 (and /healthz says
        // "stopping", so a load balancer drains us). The listening socket itself
        // is closed only once the I/O threads are gone: websocketpp's acceptor is
        // not thread-safe, and closing it while another thread completes an
        // accept is a data race.
        stopping_ = true;
        log(name + ": shutting down (up to " + std::to_string(config_.shutdown_timeout.count()) + " ms)");
        sse_.close_all();
        deadline_.expires_after(config_.shutdown_timeout);
        deadline_.async_wait([this](const asio::error_code& ec) {
            if (ec) return;
            log("shutdown timeout");
            force();
        });
        wait_for_signal();
        lobby_.shutdown("server shutting down", [this] {
            asio::post(control_, [this] {
                lobby_done_ = true;
                finish_if_done();
            });
        });
    }

    void finish_if_done() {
        if (finished_ || !lobby_done_ || connections_.size() != 0) return;
        finished_ = true;
        log("every client is gone; stopped");
        stop_io();
    }

    void force() {
        if (finished_) return;
        finished_ = true;
        const auto n = connections_.drop_all();
        sse_.close_all();
        log("forced " + std::to_string(n) + " connection(s) closed; stopped");
        // A moment for the drops (posted on each connection's strand) to run.
        deadline_.expires_after(std::chrono::milliseconds(100));
        deadline_.async_wait([this](const asio::error_code&) { stop_io(); });
    }

    void stop_io() {
        // The Redis bus first: it frees this node's nicknames and counts and
        // fails its commands in flight, whose callbacks reach into the Lobby,
        // which must still be running then. Bounded: past the command timeout
        // (3 s) a hung Redis has failed everything anyway.
        if (redis_ && !redis_stopping_) {
            redis_stopping_ = true;
            deadline_.expires_after(std::chrono::seconds(5));
            deadline_.async_wait([this](const asio::error_code& ec) {
                if (ec) return;
                log("redis: no clean stop within 5 s");
                stop_io_now();
            });
            redis_->stop([this] { asio::post(control_, [this] { stop_io_now(); }); });
            return;
        }
        stop_io_now();
    }

    void stop_io_now() {
        if (io_stopped_) return;
        io_stopped_ = true;
        deadline_.cancel();
        asio::error_code ignored;
        signals_.cancel(ignored);
        io_.stop();
    }

    const Config& config_;
    Persistence& persistence_;
    Transport::io_context io_;
    Transport transport_;
    Server server_;
    RedisBusPtr redis_;
    Lobby lobby_;
    OriginPolicy origins_;
    HttpApi api_;
    StaticFiles files_;
    SseRegistry sse_;
    Connections connections_;
    asio::signal_set signals_;
    asio::strand<asio::io_context::executor_type> control_;
    asio::steady_timer deadline_;
    std::atomic<bool> stopping_{false};
    bool lobby_done_ = false;  // control_ only
    bool finished_ = false;    // control_ only
    bool redis_stopping_ = false;  // control_ only
    bool io_stopped_ = false;      // control_ only
};

}  // namespace
}  // namespace parley_server

int main(int argc, char** argv) {
    using namespace parley_server;
    ParsedArgs args;
    try {
        args = parse_config(argc, argv);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "parley-server: %s (see parley-server --help)\n", e.what());
        return 2;
    }
    if (args.help) {
        std::fputs(std::string(usage_text).c_str(), stdout);
        return 0;
    }
    // A peer that vanishes mid-write must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    // A cluster keeps its history in Redis: no database file of its own.
    if (args.config.redis) {
        if (args.config.db_path_chosen && args.config.persistent())
            std::fprintf(stderr, "parley-server: PARLEY_DB is not used with REDIS_URL: history is "
                                 "kept in Redis\n");
        args.config.db_path = ":memory:";
    }
    std::optional<Persistence> persistence;
    try {
        persistence.emplace(args.config, [](const std::string& line) { parley_server::log(line); });
    } catch (const parley::StoreError& e) {
        std::fprintf(stderr, "parley-server: cannot use the database %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "parley-server: cannot open the database: %s\n", e.what());
        return 1;
    }
    {
        std::unique_ptr<App> app;
        try {
            app = std::make_unique<App>(args.config,
                                        resolve_web_root(args.config, argc > 0 ? argv[0] : nullptr),
                                        *persistence);
        } catch (const parley::StoreError& e) {
            std::fprintf(stderr, "parley-server: %s\n", e.what());
            return 1;
        }
        if (!app->start()) return 1;
        app->run();
    }
    // The App (and its Lobby) is gone; the store commits what is still queued.
    persistence.reset();
    return 0;
}
