// parley-load: a WebSocket load generator for parley protocol v1.
//
// It opens N connections (spread over several 127.0.0.x source addresses, bound
// before connect), identifies each with a unique nickname, joins them to R rooms,
// then lets S of them send `send` requests, either at a fixed total rate or as a
// flood with a bounded in-flight window. Every `message` frame received is checked
// for its per-room `seq` (no gap, duplicate or reordering) and, when it was sent
// inside the measurement window, its latency is recorded from the send time the
// sender stamped into `client_id` (CLOCK_MONOTONIC is shared by processes on one
// machine, so two generator processes measure each other's messages too).
//
// Output: one JSON line on stdout (for bench/run) and a human summary on stderr.
// See bench/README.md for every flag.
#include "histogram.hpp"
#include "json_scan.hpp"
#include "ws_frame.hpp"

#include <asio.hpp>

#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace pb = parley_bench;
using asio::ip::tcp;

namespace {

// ---- time ---------------------------------------------------------------------------

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
std::chrono::steady_clock::time_point to_tp(std::int64_t ns) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}
void sleep_until_ns(std::int64_t ns) { std::this_thread::sleep_until(to_tp(ns)); }
std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
constexpr std::int64_t kSec = 1'000'000'000;

// ---- options ------------------------------------------------------------------------

struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;
    int receive_port = 0;  // non-zero: the members that do not send connect here (another node)
    std::string path = "/ws";
    std::string origin;
    int clients = 100;
    int rooms = 1;
    std::string room_name;  // rooms == 1: this room (default "general")
    std::string room_prefix = "bench";
    int senders = -1;  // -1: all clients
    double rate = 0;   // msgs/s total
    bool flood = false;
    int window = 4;          // flood: messages in flight per sender
    int max_inflight = 200;  // flood: messages in flight per process
    double sender_rate = 0;  // flood: at most this many msgs/s per sender (0: no cap)
    double duration = 10;
    double warmup = 2;
    int threads = 0;
    int sources = 16;
    int shard_k = 0, shard_n = 1;
    int server_pid = 0;
    std::vector<std::pair<std::string, int>> watch;  // --watch-pid LABEL=PID
    int size = 32;  // text bytes
    std::string nick_prefix;
    std::int64_t start_at_ms = 0;  // wall clock (ms) at which sending starts, 0 = asap
    int connect_concurrency = 64;  // per thread
    double setup_timeout = 400;
    double settle = 0.5;       // quiet time after setup before measuring
    double settle_max = 60;
    double drain = 15;         // after the window: at most this long for the queues to drain
    double echo_timeout = 30;  // flood: an unanswered send frees its slot after this
    std::string label;
    bool quiet = false;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "parley-load: %s\n"
                 "usage: parley-load --port P [--host 127.0.0.1] [--path /ws] --clients N [--rooms R]\n"
                 "         [--senders S] (--rate MSGS_PER_S | --flood [--window W] [--max-inflight M] [--sender-rate R])\n"
                 "         [--duration S] [--warmup S] [--threads T] [--sources K] [--shard k/n]\n"
                 "         [--server-pid PID] [--size BYTES] [--start-at UNIX_MS] [--label TEXT]\n"
                 "         [--receive-port P] [--watch-pid LABEL=PID]...\n"
                 "         [--room-name NAME] [--room-prefix P] [--nick-prefix P] [--origin URL]\n"
                 "         [--connect-concurrency C] [--setup-timeout S] [--settle S] [--drain S] [--quiet]\n"
                 "see bench/README.md\n",
                 why);
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--host") o.host = val();
        else if (a == "--port") o.port = std::stoi(val());
        else if (a == "--receive-port") o.receive_port = std::stoi(val());
        else if (a == "--watch-pid") {
            auto v = val();
            auto eq = v.find('=');
            if (eq == std::string::npos || eq == 0) usage("--watch-pid wants LABEL=PID");
            o.watch.emplace_back(v.substr(0, eq), std::stoi(v.substr(eq + 1)));
        }
        else if (a == "--path") o.path = val();
        else if (a == "--origin") o.origin = val();
        else if (a == "--clients") o.clients = std::stoi(val());
        else if (a == "--rooms") o.rooms = std::stoi(val());
        else if (a == "--room-name") o.room_name = val();
        else if (a == "--room-prefix") o.room_prefix = val();
        else if (a == "--senders") o.senders = std::stoi(val());
        else if (a == "--rate") o.rate = std::stod(val());
        else if (a == "--flood") o.flood = true;
        else if (a == "--window") o.window = std::stoi(val());
        else if (a == "--max-inflight") o.max_inflight = std::stoi(val());
        else if (a == "--sender-rate") o.sender_rate = std::stod(val());
        else if (a == "--duration") o.duration = std::stod(val());
        else if (a == "--warmup") o.warmup = std::stod(val());
        else if (a == "--threads") o.threads = std::stoi(val());
        else if (a == "--sources") o.sources = std::stoi(val());
        else if (a == "--shard") {
            auto v = val();
            auto slash = v.find('/');
            if (slash == std::string::npos) usage("--shard wants k/n");
            o.shard_k = std::stoi(v.substr(0, slash));
            o.shard_n = std::stoi(v.substr(slash + 1));
        } else if (a == "--server-pid") o.server_pid = std::stoi(val());
        else if (a == "--size") o.size = std::stoi(val());
        else if (a == "--nick-prefix") o.nick_prefix = val();
        else if (a == "--start-at") o.start_at_ms = std::stoll(val());
        else if (a == "--connect-concurrency") o.connect_concurrency = std::stoi(val());
        else if (a == "--setup-timeout") o.setup_timeout = std::stod(val());
        else if (a == "--settle") o.settle = std::stod(val());
        else if (a == "--settle-max") o.settle_max = std::stod(val());
        else if (a == "--drain") o.drain = std::stod(val());
        else if (a == "--echo-timeout") o.echo_timeout = std::stod(val());
        else if (a == "--label") o.label = val();
        else if (a == "--quiet") o.quiet = true;
        else if (a == "--help" || a == "-h") usage("help");
        else usage(("unknown flag " + a).c_str());
    }
    if (o.clients < 1) usage("--clients must be >= 1");
    if (o.rooms < 1 || o.rooms > o.clients) usage("--rooms must be 1..clients");
    if (o.senders < 0 || o.senders > o.clients) o.senders = o.clients;
    if (o.shard_n < 1 || o.shard_k < 0 || o.shard_k >= o.shard_n) usage("bad --shard");
    if (o.senders > 0 && o.duration > 0 && !o.flood && o.rate <= 0) usage("give --rate or --flood");
    if (o.threads <= 0) o.threads = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
    if (o.sources < 1 || o.sources > 250) usage("--sources must be 1..250");
    if (o.size < 1 || o.size > 8000) usage("--size must be 1..8000");
    if (o.window < 1) o.window = 1;
    if (o.receive_port < 0 || o.receive_port > 65535) usage("--receive-port must be 1..65535");
    for (auto& [label, pid] : o.watch)
        if (pid <= 0 || label.find_first_of("\"\\") != std::string::npos) usage("bad --watch-pid");
    if (o.nick_prefix.empty()) {
        static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        std::string s;
        for (unsigned v = static_cast<unsigned>(getpid()) % 46656u, n = 0; n < 3; ++n, v /= 36) s += digits[v % 36];
        o.nick_prefix = "L" + s + "-";
    }
    return o;
}

// ---- /proc readings ----------------------------------------------------------------

struct ProcSample {
    bool ok = false;
    double cpu_s = 0;      // user + system
    long rss_kb = 0;
    long hwm_kb = 0;
    int threads = 0;
};

ProcSample read_proc(int pid) {
    ProcSample s;
    if (pid <= 0) return s;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return s;
    auto rp = line.rfind(')');
    if (rp == std::string::npos) return s;
    std::istringstream in(line.substr(rp + 2));
    std::string field;
    // Fields after the command: state(3) ... utime(14) stime(15).
    unsigned long long utime = 0, stime = 0;
    for (int n = 3; n <= 15 && in >> field; ++n) {
        if (n == 14) utime = std::stoull(field);
        if (n == 15) stime = std::stoull(field);
    }
    const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
    s.cpu_s = static_cast<double>(utime + stime) / tck;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::atol(line.c_str() + 6);
        else if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::atol(line.c_str() + 6);
        else if (line.rfind("Threads:", 0) == 0) s.threads = std::atoi(line.c_str() + 8);
    }
    s.ok = true;
    return s;
}

double self_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---- shared state ----------------------------------------------------------------------

struct Shared {
    Options opt;
    std::vector<std::string> room_ids;  // room k's id (written before workers start)
    std::string text;                   // message payload
    tcp::endpoint server;
    tcp::endpoint receiver;  // == server without --receive-port
    // Timeline (steady ns), published before traffic starts.
    std::atomic<std::int64_t> t_start{0}, t_measure{0}, t_end{0};
};

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            out += b;
        } else {
            out += c;
        }
    }
    return out;
}

// ---- one connection and its worker --------------------------------------------------

class Worker;

struct Conn {
    enum class State { idle, connecting, handshake, hello, joining, ready, closed };
    Conn(Worker& w, asio::io_context& io, int index) : worker(w), sock(io), index(index) {}

    Worker& worker;
    tcp::socket sock;
    const int index;  // global connection index
    int room = 0;     // room index
    State state = State::idle;
    bool reading = false, writing = false, sender = false, queued = false;
    std::string in;    // unparsed input (a partial frame, or the HTTP response)
    std::string frag;  // a fragmented text message being assembled
    std::string out;   // output the socket did not take yet
    // seq tracking for the joined room
    bool seq_known = false;
    std::uint64_t last_seq = 0;
    // flood bookkeeping
    int inflight = 0;
    std::int64_t last_send = 0;
    std::int64_t next_allowed = 0;  // --sender-rate
    // --receive-port with --flood: a sender's slot is freed when its witness (a
    // member on the receiving node) gets the message, not by the sender's own echo.
    Conn* witness_of = nullptr;  // on a witness: the sender it frees slots for
    bool witnessed = false;      // on a sender: it has a witness
};

struct Counters {
    std::uint64_t deliveries = 0;      // message frames received inside the window
    std::uint64_t deliveries_all = 0;  // message frames received at any time
    std::uint64_t sent = 0;            // sends stamped inside the window
    std::uint64_t sent_all = 0;
    std::uint64_t frames_in = 0;  // all text frames
    std::uint64_t bytes_in = 0;
    std::uint64_t other_frames = 0;
    std::uint64_t gaps = 0, missing = 0, dup_or_reorder = 0, wrong_room = 0, bad_frames = 0;
    std::uint64_t connect_failed = 0, handshake_failed = 0, setup_failed = 0;
    std::uint64_t closed_by_server = 0, dropped = 0;
    std::uint64_t echo_timeouts = 0;
    std::map<std::string, std::uint64_t> error_codes;
    std::map<int, std::uint64_t> close_codes;
};

class Worker {
public:
    Worker(Shared& shared, int id) : s_(shared), id_(id), io_(1), timer_(io_), maint_(io_), scratch_(256 * 1024) {
        std::uint64_t seed = static_cast<std::uint64_t>(now_ns()) ^ (static_cast<std::uint64_t>(id) << 32) ^ static_cast<std::uint64_t>(getpid());
        rng_ = seed ? seed : 88172645463325252ull;
    }

    asio::io_context& io() { return io_; }
    void add_conn(int index) {
        auto c = std::make_unique<Conn>(*this, io_, index);
        c->room = index % s_.opt.rooms;
        c->sender = index < s_.opt.senders;
        if (c->sender) senders_.push_back(c.get());
        conns_.push_back(std::move(c));
    }
    std::size_t size() const { return conns_.size(); }

    /// Across nodes the senders' echoes come from their own node, which may run ahead
    /// of the receiving node without bound; so a flood is paced by the receiving node:
    /// sender i's witness is member i + W, in the same room, shard and worker (W a
    /// multiple of rooms x shards x threads, at least the number of senders).
    void link_witnesses() {
        const auto& o = s_.opt;
        if (o.receive_port == 0 || !o.flood) return;
        const long step = static_cast<long>(o.rooms) * o.shard_n * o.threads;
        const long w = (o.senders + step - 1) / step * step;
        std::unordered_map<int, Conn*> by_index;
        for (auto& c : conns_) by_index[c->index] = c.get();
        for (auto* c : senders_) {
            auto it = by_index.find(static_cast<int>(c->index + w));
            if (it == by_index.end() || it->second->sender) continue;
            it->second->witness_of = c;
            c->witnessed = true;
        }
    }
    std::size_t sender_count() const { return senders_.size(); }

    // Progress read by the main thread.
    std::atomic<int> ready{0}, failed{0};
    std::atomic<std::uint64_t> frames_seen{0};
    std::atomic<long> inflight_now{0};
    /// Own messages sent and not yet echoed, never forgiven (unlike the flood slots).
    std::atomic<long> awaiting{0};

    void run() { io_.run(); }

    // ---- phase 1: connect, hello, join ---------------------------------------
    void start_connecting() { connect_more(); }

    // ---- phase 2: traffic ------------------------------------------------------
    void start_traffic(double thread_rate) {
        const auto t0 = s_.t_start.load();
        budget_ = std::max(1, s_.opt.max_inflight / s_.opt.threads);
        if (s_.opt.sender_rate > 0) sender_interval_ = static_cast<std::int64_t>(1e9 / s_.opt.sender_rate);
        if (s_.opt.flood) {
            for (auto* c : senders_)
                if (c->state == Conn::State::ready) {
                    c->queued = true;
                    ready_.push_back(c);
                }
            timer_.expires_at(to_tp(t0));
            timer_.async_wait([this](const asio::error_code& ec) {
                if (!ec) pump();
            });
            arm_maintenance();
        } else if (thread_rate > 0 && !senders_.empty()) {
            period_ = static_cast<std::int64_t>(1e9 / thread_rate);
            // Stagger the workers so their sends interleave.
            next_due_ = t0 + period_ * id_ / s_.opt.threads;
            arm_schedule();
        }
    }

    // ---- phase 3: results ------------------------------------------------------
    struct RoomTail {
        std::uint64_t max_seq = 0;
    };
    void collect(pb::Histogram& hist, Counters& c, std::vector<std::uint64_t>& room_max,
                 std::vector<std::pair<int, std::uint64_t>>& last) {
        hist.merge(hist_);
        merge(c, cnt_);
        for (auto& conn : conns_) {
            if (conn->state != Conn::State::ready) continue;
            // A member that saw nothing at all counts as seq 0: it lost everything.
            const std::uint64_t seen = conn->seq_known ? conn->last_seq : 0;
            room_max[static_cast<std::size_t>(conn->room)] =
                std::max(room_max[static_cast<std::size_t>(conn->room)], seen);
            last.emplace_back(conn->room, seen);
        }
    }
    void stop_traffic() {
        stopped_ = true;
        timer_.cancel();
        maint_.cancel();
        unpark_.cancel();
    }
    void close_all() {
        std::string frame;
        for (auto& c : conns_) {
            if (c->state == Conn::State::closed || !c->sock.is_open()) continue;
            frame.clear();
            const char body[2] = {static_cast<char>(0x03), static_cast<char>(0xE8)};  // 1000
            pb::ws::append_client_frame(frame, pb::ws::close, std::string_view(body, 2), next_mask());
            asio::error_code ec;
            if (c->out.empty()) c->sock.write_some(asio::buffer(frame), ec);
            c->state = Conn::State::closed;
            c->sock.shutdown(tcp::socket::shutdown_both, ec);
            c->sock.close(ec);
        }
    }
    static void merge(Counters& a, const Counters& b) {
        a.deliveries += b.deliveries;
        a.deliveries_all += b.deliveries_all;
        a.sent += b.sent;
        a.sent_all += b.sent_all;
        a.frames_in += b.frames_in;
        a.bytes_in += b.bytes_in;
        a.other_frames += b.other_frames;
        a.gaps += b.gaps;
        a.missing += b.missing;
        a.dup_or_reorder += b.dup_or_reorder;
        a.wrong_room += b.wrong_room;
        a.bad_frames += b.bad_frames;
        a.connect_failed += b.connect_failed;
        a.handshake_failed += b.handshake_failed;
        a.setup_failed += b.setup_failed;
        a.closed_by_server += b.closed_by_server;
        a.dropped += b.dropped;
        a.echo_timeouts += b.echo_timeouts;
        for (auto& [k, v] : b.error_codes) a.error_codes[k] += v;
        for (auto& [k, v] : b.close_codes) a.close_codes[k] += v;
    }

private:
    std::uint32_t next_mask() {
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        return static_cast<std::uint32_t>(rng_);
    }

    // ---- connecting ----------------------------------------------------------------
    void connect_more() {
        while (connecting_ < s_.opt.connect_concurrency && next_conn_ < conns_.size()) {
            ++connecting_;
            start_connect(*conns_[next_conn_++]);
        }
    }
    void setup_done(Conn&, bool ok) {
        if (ok) ready.fetch_add(1, std::memory_order_relaxed);
        else failed.fetch_add(1, std::memory_order_relaxed);
        --connecting_;
        connect_more();
    }

    void start_connect(Conn& c) {
        asio::error_code ec;
        c.sock.open(tcp::v4(), ec);
        if (!ec) {
            const int one = 1;
            ::setsockopt(c.sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            const auto src = asio::ip::address_v4(0x7F000001u + static_cast<unsigned>(c.index % s_.opt.sources));
            c.sock.bind(tcp::endpoint(src, 0), ec);
        }
        if (ec) {
            ++cnt_.connect_failed;
            c.state = Conn::State::closed;
            return setup_done(c, false);
        }
        c.state = Conn::State::connecting;
        const bool remote = !c.sender && s_.opt.receive_port != 0;
        const auto& target = remote ? s_.receiver : s_.server;
        c.sock.async_connect(target, [this, &c, remote](const asio::error_code& e) {
            if (e) {
                ++cnt_.connect_failed;
                c.state = Conn::State::closed;
                asio::error_code ignored;
                c.sock.close(ignored);
                return setup_done(c, false);
            }
            asio::error_code ignored;
            c.sock.set_option(tcp::no_delay(true), ignored);
            c.sock.non_blocking(true, ignored);
            c.state = Conn::State::handshake;
            std::string req = "GET " + s_.opt.path + " HTTP/1.1\r\nHost: " + s_.opt.host + ":" +
                              std::to_string(remote ? s_.opt.receive_port : s_.opt.port) +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
            if (!s_.opt.origin.empty()) req += "Origin: " + s_.opt.origin + "\r\n";
            req += "\r\n";
            write(c, req);
            arm_read(c);
        });
    }

    // ---- I/O ---------------------------------------------------------------------------
    void write(Conn& c, std::string_view bytes) {
        if (c.state == Conn::State::closed) return;
        if (!c.out.empty()) {
            c.out.append(bytes);
            return;
        }
        asio::error_code ec;
        std::size_t n = c.sock.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) n = 0;
        else if (ec) return fail(c, "write");
        if (n < bytes.size()) {
            c.out.assign(bytes.substr(n));
            arm_write(c);
        }
    }
    void arm_write(Conn& c) {
        if (c.writing) return;
        c.writing = true;
        c.sock.async_wait(tcp::socket::wait_write, [this, &c](const asio::error_code& ec) {
            c.writing = false;
            if (ec || c.state == Conn::State::closed) return;
            asio::error_code e;
            std::size_t n = c.sock.write_some(asio::buffer(c.out), e);
            if (e == asio::error::would_block || e == asio::error::try_again) n = 0;
            else if (e) return fail(c, "write");
            c.out.erase(0, n);
            if (!c.out.empty()) arm_write(c);
        });
    }
    void arm_read(Conn& c) {
        if (c.reading) return;
        c.reading = true;
        c.sock.async_wait(tcp::socket::wait_read, [this, &c](const asio::error_code& ec) {
            c.reading = false;
            if (ec || c.state == Conn::State::closed) return;
            on_readable(c);
        });
    }
    void on_readable(Conn& c) {
        batch_now_ = now_ns();
        // Published once per wake-up, not per frame: an atomic add per frame costs.
        frames_seen.store(frames_local_, std::memory_order_relaxed);
        for (int round = 0; round < 4; ++round) {
            asio::error_code ec;
            std::size_t n = c.sock.read_some(asio::buffer(scratch_), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) break;
            if (ec) return fail(c, "read");
            cnt_.bytes_in += n;
            consume(c, scratch_.data(), n);
            if (c.state == Conn::State::closed) return;
            if (n < scratch_.size()) break;
        }
        frames_seen.store(frames_local_, std::memory_order_relaxed);
        arm_read(c);
    }

    void fail(Conn& c, const char* why) {
        if (c.state == Conn::State::closed) return;
        const bool in_setup = c.state != Conn::State::ready;
        c.state = Conn::State::closed;
        if (in_setup) {
            if (std::strcmp(why, "handshake") != 0) ++cnt_.setup_failed;
            setup_done(c, false);
        } else {
            ++cnt_.dropped;
            release_inflight(c);
        }
        asio::error_code ignored;
        c.sock.close(ignored);
    }

    void consume(Conn& c, const char* data, std::size_t n) {
        if (c.state == Conn::State::handshake || !c.in.empty()) {
            c.in.append(data, n);
            if (c.state == Conn::State::handshake) {
                auto end = c.in.find("\r\n\r\n");
                if (end == std::string::npos) {
                    if (c.in.size() > 16384) {
                        ++cnt_.handshake_failed;
                        fail(c, "handshake");
                    }
                    return;
                }
                if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
                    ++cnt_.handshake_failed;
                    return fail(c, "handshake");
                }
                c.in.erase(0, end + 4);
                c.state = Conn::State::hello;
                send_text(c, "{\"type\":\"hello\",\"nick\":\"" + s_.opt.nick_prefix + std::to_string(c.index) + "\"}");
                if (c.in.empty()) return;
            }
            std::size_t used = frames(c, c.in.data(), c.in.size());
            if (c.state != Conn::State::closed) c.in.erase(0, used);
            return;
        }
        std::size_t used = frames(c, data, n);
        if (c.state != Conn::State::closed && used < n) c.in.assign(data + used, n - used);
    }

    /// Handles every complete frame in [data, data+n); returns the bytes used.
    std::size_t frames(Conn& c, const char* data, std::size_t n) {
        std::size_t at = 0;
        while (at < n && c.state != Conn::State::closed) {
            pb::ws::Frame f;
            std::size_t used = 0;
            auto r = pb::ws::parse_server_frame(data + at, n - at, f, used);
            if (r == pb::ws::Parse::incomplete) break;
            if (r == pb::ws::Parse::error) {
                ++cnt_.bad_frames;
                fail(c, "frame");
                break;
            }
            at += used;
            on_frame(c, f);
        }
        return at;
    }

    void on_frame(Conn& c, const pb::ws::Frame& f) {
        switch (f.opcode) {
            case pb::ws::text:
                if (f.fin) return on_text(c, f.payload);
                c.frag.assign(f.payload);
                return;
            case pb::ws::cont:
                c.frag.append(f.payload);
                if (f.fin) {
                    std::string whole = std::move(c.frag);
                    c.frag.clear();
                    on_text(c, whole);
                }
                return;
            case pb::ws::ping: {
                std::string pong;
                pb::ws::append_client_frame(pong, pb::ws::pong, f.payload, next_mask());
                return write(c, pong);
            }
            case pb::ws::close: {
                int code = f.payload.size() >= 2 ? (static_cast<unsigned char>(f.payload[0]) << 8) |
                                                       static_cast<unsigned char>(f.payload[1])
                                                 : 1005;
                ++cnt_.close_codes[code];
                ++cnt_.closed_by_server;
                return fail(c, "closed");
            }
            default:
                return;
        }
    }

    void send_text(Conn& c, std::string_view json) {
        out_.clear();
        pb::ws::append_client_frame(out_, pb::ws::text, json, next_mask());
        write(c, out_);
    }

    // ---- protocol ------------------------------------------------------------------------
    /// The common case, a `message` frame with its members in the order all three
    /// servers write them: {"type":"message","room":"..","seq":N,...,"client_id":".."}.
    /// Anything unexpected falls back to the general scanner.
    bool fast_message(Conn& c, std::string_view text) {
        static constexpr std::string_view head = "{\"type\":\"message\",\"room\":\"";
        static constexpr std::string_view seq_key = "\",\"seq\":";
        static constexpr std::string_view cid_key = ",\"client_id\":\"";
        if (text.size() < head.size() + 16 || text.compare(0, head.size(), head) != 0 || text.back() != '}')
            return false;
        const std::size_t room_at = head.size();
        const std::size_t room_end = text.find('"', room_at);
        if (room_end == std::string_view::npos || text.compare(room_end, seq_key.size(), seq_key) != 0) return false;
        std::size_t p = room_end + seq_key.size();
        std::uint64_t seq = 0;
        const std::size_t digits = p;
        while (p < text.size() && text[p] >= '0' && text[p] <= '9') seq = seq * 10 + static_cast<std::uint64_t>(text[p++] - '0');
        if (p == digits || p >= text.size() || text[p] != ',') return false;
        // client_id is the last member: "...,"client_id":"<ns>:<i>"}
        if (text.size() < 2 || text[text.size() - 2] != '"') return false;
        const std::size_t cid_end = text.size() - 2;
        const std::size_t cid_quote = text.rfind('"', cid_end - 1);
        if (cid_quote == std::string_view::npos || cid_quote + 1 < cid_key.size() ||
            text.compare(cid_quote + 1 - cid_key.size(), cid_key.size(), cid_key) != 0)
            return false;
        const auto cid = text.substr(cid_quote + 1, cid_end - cid_quote - 1);
        if (cid.find('\\') != std::string_view::npos) return false;
        on_message(c, text.substr(room_at, room_end - room_at), seq, true, cid);
        return true;
    }

    void on_text(Conn& c, std::string_view text) {
        ++cnt_.frames_in;
        ++frames_local_;
        if (fast_message(c, text)) return;
        const char* b = text.data();
        const char* e = b + text.size();
        std::string_view type, room, client_id, code, messages, room_obj;
        std::uint64_t seq = 0;
        bool has_seq = false;
        const bool ok = pb::json::each_member(b, e, [&](std::string_view k, std::string_view v) {
            switch (k.size()) {
                case 4:
                    if (k == "type") type = pb::json::str(v);
                    else if (k == "room") {
                        if (!v.empty() && v.front() == '{') room_obj = v;
                        else room = pb::json::str(v);
                    } else if (k == "code") code = pb::json::str(v);
                    break;
                case 3:
                    if (k == "seq") seq = pb::json::u64(v, has_seq);
                    break;
                case 9:
                    if (k == "client_id") client_id = pb::json::str(v);
                    break;
                case 8:
                    if (k == "messages") messages = v;
                    break;
                default:
                    break;
            }
        });
        if (!ok) {
            ++cnt_.bad_frames;
            return;
        }
        if (type == "message") return on_message(c, room, seq, has_seq, client_id);
        if (type == "welcome" && c.state == Conn::State::hello) {
            c.state = Conn::State::joining;
            send_text(c, "{\"type\":\"join\",\"room\":\"" + s_.room_ids[static_cast<std::size_t>(c.room)] + "\"}");
            return;
        }
        if (type == "joined" && c.state == Conn::State::joining) {
            // The replayed history says where the room is: the next live seq must follow it.
            std::uint64_t max_seq = 0;
            bool any = false;
            if (!messages.empty())
                pb::json::each_element(messages.data(), messages.data() + messages.size(), [&](std::string_view m) {
                    pb::json::each_member(m.data(), m.data() + m.size(), [&](std::string_view k, std::string_view v) {
                        bool okk = false;
                        if (k == "seq") {
                            auto s = pb::json::u64(v, okk);
                            if (okk) {
                                any = true;
                                max_seq = std::max(max_seq, s);
                            }
                        }
                    });
                });
            c.seq_known = any;
            c.last_seq = max_seq;
            c.state = Conn::State::ready;
            setup_done(c, true);
            return;
        }
        if (type == "error") {
            ++cnt_.error_codes[std::string(code.empty() ? "?" : code)];
            if (c.state != Conn::State::ready) {
                ++cnt_.setup_failed;
                c.state = Conn::State::closed;
                asio::error_code ignored;
                c.sock.close(ignored);
                setup_done(c, false);
                return;
            }
            // A refused send (rate_limited, ...) will never echo: free its slot.
            if (c.inflight > 0) {
                --c.inflight;
                --inflight_;
                inflight_now.fetch_sub(1, std::memory_order_relaxed);
                requeue(c);
                pump();
            }
            return;
        }
        ++cnt_.other_frames;
    }

    void on_message(Conn& c, std::string_view room, std::uint64_t seq, bool has_seq, std::string_view client_id) {
        ++cnt_.deliveries_all;
        const auto t = batch_now_;
        if (room != s_.room_ids[static_cast<std::size_t>(c.room)]) ++cnt_.wrong_room;
        else if (!has_seq) ++cnt_.bad_frames;
        else if (!c.seq_known) {
            c.seq_known = true;
            c.last_seq = seq;
        } else if (seq == c.last_seq + 1) {
            c.last_seq = seq;
        } else if (seq > c.last_seq + 1) {
            ++cnt_.gaps;
            cnt_.missing += seq - c.last_seq - 1;
            c.last_seq = seq;
        } else {
            ++cnt_.dup_or_reorder;
        }
        // client_id = "<send time ns>:<sender index>"
        std::int64_t stamp = 0;
        int from = -1;
        auto colon = client_id.find(':');
        if (colon != std::string_view::npos) {
            bool ok1 = false, ok2 = false;
            stamp = static_cast<std::int64_t>(pb::json::u64(client_id.substr(0, colon), ok1));
            from = static_cast<int>(pb::json::u64(client_id.substr(colon + 1), ok2));
            if (!ok1 || !ok2) stamp = 0, from = -1;
        }
        const auto t_measure = s_.t_measure.load(std::memory_order_relaxed);
        const auto t_end = s_.t_end.load(std::memory_order_relaxed);
        // Across nodes only the members on the receiving node are measured; the
        // senders' own echoes (on the sending node) still pace the flood below.
        const bool measured = s_.opt.receive_port == 0 || !c.sender;
        if (measured && t >= t_measure && t < t_end && t_measure != 0) {
            ++cnt_.deliveries;
            if (stamp > 0) hist_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, t - stamp)));
        }
        if (from == c.index) awaiting.fetch_sub(1, std::memory_order_relaxed);
        Conn* owner = nullptr;  // whose flood slot this delivery frees
        if (c.witness_of && from == c.witness_of->index) owner = c.witness_of;
        else if (from == c.index && !c.witnessed) owner = &c;
        if (owner && owner->inflight > 0) {
            --owner->inflight;
            --inflight_;
            inflight_now.fetch_sub(1, std::memory_order_relaxed);
            if (s_.opt.flood) {
                requeue(*owner);
                pump();
            }
        }
    }

    void send_message(Conn& c, std::int64_t stamp) {
        msg_.clear();
        msg_ += "{\"type\":\"send\",\"room\":\"";
        msg_ += s_.room_ids[static_cast<std::size_t>(c.room)];
        msg_ += "\",\"text\":\"";
        msg_ += s_.text;
        msg_ += "\",\"client_id\":\"";
        msg_ += std::to_string(stamp);
        msg_ += ':';
        msg_ += std::to_string(c.index);
        msg_ += "\"}";
        send_text(c, msg_);
        ++c.inflight;
        ++inflight_;
        inflight_now.fetch_add(1, std::memory_order_relaxed);
        awaiting.fetch_add(1, std::memory_order_relaxed);
        c.last_send = stamp;
        ++cnt_.sent_all;
        if (stamp >= s_.t_measure.load(std::memory_order_relaxed) && stamp < s_.t_end.load(std::memory_order_relaxed))
            ++cnt_.sent;
    }

    // ---- flood -------------------------------------------------------------------------------
    void requeue(Conn& c) {
        if (!c.queued && c.state == Conn::State::ready && c.inflight < s_.opt.window) {
            c.queued = true;
            ready_.push_back(&c);
        }
    }
    void pump() {
        if (!s_.opt.flood || stopped_) return;
        const auto t = now_ns();
        if (t < s_.t_start.load(std::memory_order_relaxed) || t >= s_.t_end.load(std::memory_order_relaxed)) return;
        while (inflight_ < budget_ && !ready_.empty()) {
            Conn* c = ready_.front();
            ready_.pop_front();
            c->queued = false;
            if (c->state != Conn::State::ready) continue;
            if (c->next_allowed > t) {
                // Over its own rate cap: park it; parked senders come back in order.
                c->queued = true;
                parked_.push_back(c);
                arm_unpark();
                continue;
            }
            send_message(*c, now_ns());
            if (sender_interval_ > 0) c->next_allowed = t + sender_interval_;
            requeue(*c);
        }
    }
    void arm_unpark() {
        if (unpark_armed_ || parked_.empty()) return;
        unpark_armed_ = true;
        unpark_.expires_at(to_tp(parked_.front()->next_allowed));
        unpark_.async_wait([this](const asio::error_code& ec) {
            unpark_armed_ = false;
            if (ec || stopped_) return;
            const auto t = now_ns();
            while (!parked_.empty() && parked_.front()->next_allowed <= t) {
                ready_.push_back(parked_.front());
                parked_.pop_front();
            }
            pump();
            arm_unpark();
        });
    }
    void release_inflight(Conn& c) {
        if (c.inflight > 0) {
            inflight_ -= c.inflight;
            inflight_now.fetch_sub(c.inflight, std::memory_order_relaxed);
            c.inflight = 0;
            pump();
        }
    }
    void arm_maintenance() {
        maint_.expires_after(std::chrono::milliseconds(200));
        maint_.async_wait([this](const asio::error_code& ec) {
            if (ec || stopped_) return;
            const auto t = now_ns();
            const auto limit = static_cast<std::int64_t>(s_.opt.echo_timeout * 1e9);
            for (auto* c : senders_) {
                if (c->inflight > 0 && t - c->last_send > limit) {
                    cnt_.echo_timeouts += static_cast<std::uint64_t>(c->inflight);
                    release_inflight(*c);
                    requeue(*c);
                }
            }
            pump();
            arm_maintenance();
        });
    }

    // ---- fixed rate ----------------------------------------------------------------------------
    void arm_schedule() {
        timer_.expires_at(to_tp(next_due_));
        timer_.async_wait([this](const asio::error_code& ec) {
            if (ec || stopped_) return;
            const auto t = now_ns();
            const auto end = s_.t_end.load(std::memory_order_relaxed);
            // Catch up on everything due; the stamp is the intended send time, so a
            // late generator shows as latency instead of hiding it.
            while (next_due_ <= t && next_due_ < end) {
                Conn* c = senders_[rr_++ % senders_.size()];
                if (c->state == Conn::State::ready) send_message(*c, next_due_);
                next_due_ += period_;
            }
            if (next_due_ < end) arm_schedule();
        });
    }

    Shared& s_;
    const int id_;
    asio::io_context io_;
    asio::steady_timer timer_, maint_;
    std::vector<char> scratch_;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::vector<Conn*> senders_;
    std::size_t next_conn_ = 0;
    int connecting_ = 0;
    std::uint64_t rng_;
    std::int64_t batch_now_ = 0;
    std::uint64_t frames_local_ = 0;
    std::string out_, msg_;
    pb::Histogram hist_;
    Counters cnt_;
    // flood
    std::deque<Conn*> ready_, parked_;
    asio::steady_timer unpark_{io_};
    bool unpark_armed_ = false;
    std::int64_t sender_interval_ = 0;
    int inflight_ = 0;
    int budget_ = 1;
    bool stopped_ = false;
    // fixed rate
    std::int64_t period_ = 0, next_due_ = 0;
    std::size_t rr_ = 0;
};

// ---- control connection: creates the rooms (blocking, before the workers start) ---------

class Control {
public:
    Control(asio::io_context& io, const tcp::endpoint& ep, const Options& o) : sock_(io), opt_(o) {
        sock_.connect(ep);
        sock_.set_option(tcp::no_delay(true));
        std::string req = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
        if (!o.origin.empty()) req += "Origin: " + o.origin + "\r\n";
        req += "\r\n";
        asio::write(sock_, asio::buffer(req));
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos) fill();
        if (buf_.compare(0, 12, "HTTP/1.1 101") != 0)
            throw std::runtime_error("control: handshake refused: " + buf_.substr(0, buf_.find('\r')));
        buf_.erase(0, end + 4);
    }
    void send(std::string_view json) {
        std::string f;
        pb::ws::append_client_frame(f, pb::ws::text, json, 0x5A17C0DEu);
        asio::write(sock_, asio::buffer(f));
    }
    /// The next text frame (pings answered on the way).
    std::string recv() {
        for (;;) {
            pb::ws::Frame f;
            std::size_t used = 0;
            auto r = pb::ws::parse_server_frame(buf_.data(), buf_.size(), f, used);
            if (r == pb::ws::Parse::error) throw std::runtime_error("control: bad frame");
            if (r == pb::ws::Parse::incomplete) {
                fill();
                continue;
            }
            std::string payload(f.payload);
            auto op = f.opcode;
            buf_.erase(0, used);
            if (op == pb::ws::text) return payload;
            if (op == pb::ws::close) throw std::runtime_error("control: closed by server");
            if (op == pb::ws::ping) {
                std::string p;
                pb::ws::append_client_frame(p, pb::ws::pong, payload, 0x1234567u);
                asio::write(sock_, asio::buffer(p));
            }
        }
    }
    /// Waits for a frame whose type is one of `types`; returns it.
    std::string expect(std::initializer_list<std::string_view> types) {
        for (int n = 0; n < 10000; ++n) {
            auto t = recv();
            std::string_view type;
            pb::json::each_member(t.data(), t.data() + t.size(), [&](std::string_view k, std::string_view v) {
                if (k == "type") type = pb::json::str(v);
            });
            for (auto want : types)
                if (type == want) return t;
        }
        throw std::runtime_error("control: no reply");
    }
    void close() {
        std::string f;
        const char body[2] = {0x03, static_cast<char>(0xE8)};
        pb::ws::append_client_frame(f, pb::ws::close, std::string_view(body, 2), 0x2468ACE0u);
        asio::error_code ec;
        asio::write(sock_, asio::buffer(f), ec);
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
    }

private:
    void fill() {
        char tmp[65536];
        std::size_t n = sock_.read_some(asio::buffer(tmp));
        buf_.append(tmp, n);
    }
    tcp::socket sock_;
    const Options& opt_;
    std::string buf_;
};

/// Room 0 is the server's permanent room ("general", or --room-name); rooms 1..R-1
/// are created as "<prefix>-k" (parley allows 1000 rooms, general included).
std::vector<std::string> setup_rooms(const Options& o, const tcp::endpoint& ep) {
    const std::string first_room = o.room_name.empty() ? std::string("general") : o.room_name;
    if (o.rooms == 1) return {first_room};
    std::vector<std::string> ids(static_cast<std::size_t>(o.rooms));
    std::vector<std::string> names(ids.size());
    for (std::size_t k = 1; k < ids.size(); ++k) names[k] = o.room_prefix + "-" + std::to_string(k);
    ids[0] = first_room;
    asio::io_context io;
    // parley allows a burst of 20 requests per connection: hello + 15 creates each.
    constexpr std::size_t per_conn = 15;
    std::size_t unresolved = 0;
    for (std::size_t first = 1, cc = 0; first < ids.size(); first += per_conn, ++cc) {
        Control ctl(io, ep, o);
        ctl.send("{\"type\":\"hello\",\"nick\":\"" + o.nick_prefix + "c" + std::to_string(o.shard_k) + "x" +
                 std::to_string(cc) + "\"}");
        ctl.expect({"welcome"});
        for (std::size_t k = first; k < std::min(ids.size(), first + per_conn); ++k) {
            ctl.send("{\"type\":\"create_room\",\"name\":\"" + names[k] + "\"}");
            auto reply = ctl.expect({"room_created", "error"});
            std::string_view id;
            pb::json::each_member(reply.data(), reply.data() + reply.size(), [&](std::string_view key, std::string_view v) {
                if (key == "room")
                    pb::json::each_member(v.data(), v.data() + v.size(), [&](std::string_view k2, std::string_view v2) {
                        if (k2 == "id") id = pb::json::str(v2);
                    });
            });
            if (!id.empty()) ids[k] = std::string(id);
            else ++unresolved;
        }
        ctl.close();
    }
    if (unresolved) {
        // Rooms made by another process (or an earlier run): find them by name.
        Control ctl(io, ep, o);
        ctl.send("{\"type\":\"hello\",\"nick\":\"" + o.nick_prefix + "c" + std::to_string(o.shard_k) + "r\"}");
        ctl.expect({"welcome"});
        ctl.send("{\"type\":\"rooms\"}");
        auto list = ctl.expect({"rooms"});
        std::unordered_map<std::string, std::string> by_name;
        pb::json::each_member(list.data(), list.data() + list.size(), [&](std::string_view k, std::string_view v) {
            if (k != "rooms") return;
            pb::json::each_element(v.data(), v.data() + v.size(), [&](std::string_view r) {
                std::string_view id, name;
                pb::json::each_member(r.data(), r.data() + r.size(), [&](std::string_view k2, std::string_view v2) {
                    if (k2 == "id") id = pb::json::str(v2);
                    else if (k2 == "name") name = pb::json::str(v2);
                });
                by_name[std::string(name)] = std::string(id);
            });
        });
        ctl.close();
        for (std::size_t k = 0; k < ids.size(); ++k)
            if (ids[k].empty()) {
                auto it = by_name.find(names[k]);
                if (it == by_name.end()) throw std::runtime_error("room " + names[k] + " could not be created");
                ids[k] = it->second;
            }
    }
    return ids;
}

}  // namespace

int main(int argc, char** argv) {
    Shared s;
    s.opt = parse_options(argc, argv);
    const Options& o = s.opt;
    auto log = [&](const char* fmt, auto... args) {
        if (!o.quiet) {
            std::fprintf(stderr, fmt, args...);
            std::fflush(stderr);
        }
    };

    const auto proc0 = read_proc(o.server_pid);
    if (o.server_pid > 0 && !proc0.ok) {
        std::fprintf(stderr, "parley-load: cannot read /proc/%d\n", o.server_pid);
        return 2;
    }
    s.server = tcp::endpoint(asio::ip::make_address(o.host), static_cast<unsigned short>(o.port));
    s.receiver = o.receive_port ? tcp::endpoint(s.server.address(), static_cast<unsigned short>(o.receive_port))
                                : s.server;
    std::vector<ProcSample> watch0;
    for (auto& [label, pid] : o.watch) {
        watch0.push_back(read_proc(pid));
        if (!watch0.back().ok) {
            std::fprintf(stderr, "parley-load: cannot read /proc/%d (%s)\n", pid, label.c_str());
            return 2;
        }
    }
    std::vector<ProcSample> watch_begin(o.watch.size()), watch_end(o.watch.size());
    s.text.assign(static_cast<std::size_t>(o.size), 'x');
    for (std::size_t i = 0; i < s.text.size(); i += 6) s.text[i] = ' ';
    s.text.front() = 'h';

    const auto t_setup0 = now_ns();
    try {
        s.room_ids = setup_rooms(o, s.server);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "parley-load: room setup failed: %s\n", e.what());
        return 2;
    }

    // Workers and their connections: this shard's share, dealt round-robin.
    std::vector<std::unique_ptr<Worker>> workers;
    for (int t = 0; t < o.threads; ++t) workers.push_back(std::make_unique<Worker>(s, t));
    int local = 0, local_senders = 0;
    for (int i = 0; i < o.clients; ++i) {
        if (i % o.shard_n != o.shard_k) continue;
        workers[static_cast<std::size_t>(local % o.threads)]->add_conn(i);
        ++local;
        if (i < o.senders) ++local_senders;
    }
    for (auto& w : workers) w->link_witnesses();
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        guards.push_back(asio::make_work_guard(w->io()));
        threads.emplace_back([&w] { w->run(); });
    }
    for (auto& w : workers) asio::post(w->io(), [&w] { w->start_connecting(); });

    // ---- wait for setup -------------------------------------------------------------------
    int ready = 0, failed = 0;
    const auto setup_deadline = t_setup0 + static_cast<std::int64_t>(o.setup_timeout * kSec);
    std::int64_t last_log = now_ns();
    for (;;) {
        ready = failed = 0;
        for (auto& w : workers) ready += w->ready.load(), failed += w->failed.load();
        if (ready + failed >= local) break;
        if (now_ns() > setup_deadline) {
            std::fprintf(stderr, "parley-load: setup timed out: %d ready, %d failed of %d\n", ready, failed, local);
            break;
        }
        if (now_ns() - last_log > 2 * kSec) {
            log("parley-load: %d/%d connected and joined (%d failed)\n", ready, local, failed);
            last_log = now_ns();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double setup_s = static_cast<double>(now_ns() - t_setup0) / 1e9;
    // Quiet: the join storm (presence frames) has drained when nothing arrives for `settle`.
    const auto t_settle0 = now_ns();
    {
        std::uint64_t last = ~0ull;
        std::int64_t quiet_since = now_ns();
        while (now_ns() - t_settle0 < static_cast<std::int64_t>(o.settle_max * kSec)) {
            std::uint64_t seen = 0;
            for (auto& w : workers) seen += w->frames_seen.load();
            if (seen != last) {
                last = seen;
                quiet_since = now_ns();
            } else if (now_ns() - quiet_since >= static_cast<std::int64_t>(o.settle * kSec)) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
    const double settle_s = static_cast<double>(now_ns() - t_settle0) / 1e9;
    const auto proc_idle = read_proc(o.server_pid);
    log("parley-load: %d ready, %d failed; setup %.1f s, settle %.1f s\n", ready, failed, setup_s, settle_s);

    // ---- traffic --------------------------------------------------------------------------
    const bool traffic = o.senders > 0 && o.duration > 0 && ready > 0;
    ProcSample p_begin, p_end;
    double cpu_begin = 0, cpu_end = 0;
    double window_s = 0;
    bool drained = true;
    if (traffic) {
        std::int64_t t0 = now_ns() + kSec / 10;
        if (o.start_at_ms > 0) {
            const auto delta_ms = o.start_at_ms - wall_ms();
            if (delta_ms < 0) std::fprintf(stderr, "parley-load: --start-at passed %lld ms ago; starting now\n",
                                           static_cast<long long>(-delta_ms));
            else t0 = now_ns() + delta_ms * 1'000'000;
        }
        s.t_start = t0;
        s.t_measure = t0 + static_cast<std::int64_t>(o.warmup * kSec);
        s.t_end = s.t_measure + static_cast<std::int64_t>(o.duration * kSec);
        const double per_sender = o.rate / std::max(1, o.senders);
        for (auto& w : workers) {
            const double thread_rate = per_sender * static_cast<double>(w->sender_count());
            asio::post(w->io(), [&w, thread_rate] { w->start_traffic(thread_rate); });
        }
        log("parley-load: %s, %d senders, warmup %.1f s, measuring %.1f s\n",
            o.flood ? "flood" : "fixed rate", local_senders, o.warmup, o.duration);
        sleep_until_ns(s.t_measure);
        p_begin = read_proc(o.server_pid);
        for (std::size_t k = 0; k < o.watch.size(); ++k) watch_begin[k] = read_proc(o.watch[k].second);
        cpu_begin = self_cpu_s();
        sleep_until_ns(s.t_end);
        p_end = read_proc(o.server_pid);
        for (std::size_t k = 0; k < o.watch.size(); ++k) watch_end[k] = read_proc(o.watch[k].second);
        cpu_end = self_cpu_s();
        window_s = static_cast<double>(s.t_end - s.t_measure) / 1e9;
        // Drain: in-flight messages come back (or are lost) before the checks.
        const auto drain_end = now_ns() + static_cast<std::int64_t>(o.drain * kSec);
        std::uint64_t last = ~0ull;
        std::int64_t quiet_since = now_ns();
        drained = false;
        while (now_ns() < drain_end) {
            long awaiting = 0;
            std::uint64_t seen = 0;
            for (auto& w : workers) awaiting += w->awaiting.load(), seen += w->frames_seen.load();
            if (seen != last) last = seen, quiet_since = now_ns();
            // Drained: every echo is back and nothing arrived for half a second (the
            // other members' copies of the last messages come after the echoes), or
            // nothing at all arrived for 3 s (an echo is lost for good).
            const auto quiet = now_ns() - quiet_since;
            if ((awaiting <= 0 && quiet > kSec / 2) || quiet > 3 * kSec) {
                drained = true;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    // ---- results --------------------------------------------------------------------------
    pb::Histogram hist;
    Counters cnt;
    std::vector<std::uint64_t> room_max(static_cast<std::size_t>(o.rooms), 0);
    std::vector<std::pair<int, std::uint64_t>> last;
    for (auto& w : workers) {
        std::promise<void> done;
        asio::post(w->io(), [&] {
            w->stop_traffic();
            w->collect(hist, cnt, room_max, last);
            done.set_value();
        });
        done.get_future().wait();
    }
    // A connection whose last seq trails its room's last seq lost the tail.
    std::uint64_t lost_tail_conns = 0, lost_tail_msgs = 0;
    for (auto& [room, seq] : last) {
        const auto m = room_max[static_cast<std::size_t>(room)];
        if (seq < m) ++lost_tail_conns, lost_tail_msgs += m - seq;
    }
    const auto proc_last = read_proc(o.server_pid);
    for (auto& w : workers) {
        std::promise<void> done;
        asio::post(w->io(), [&] {
            w->close_all();
            done.set_value();
        });
        done.get_future().wait();
    }
    guards.clear();
    for (auto& w : workers) w->io().stop();
    for (auto& t : threads) t.join();

    const double dps = window_s > 0 ? static_cast<double>(cnt.deliveries) / window_s : 0;
    const double mps = window_s > 0 ? static_cast<double>(cnt.sent) / window_s : 0;
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    const std::uint64_t errors_total = cnt.connect_failed + cnt.handshake_failed + cnt.setup_failed + cnt.gaps +
                                       cnt.dup_or_reorder + cnt.wrong_room + cnt.bad_frames + cnt.closed_by_server +
                                       cnt.dropped + lost_tail_conns;
    std::uint64_t server_errors = 0;
    for (auto& [k, v] : cnt.error_codes) server_errors += v;

    const double srv_cpu = p_begin.ok && p_end.ok ? p_end.cpu_s - p_begin.cpu_s : 0;
    const long rss_idle = proc_idle.rss_kb;
    const double rss_per_conn = (proc0.ok && proc_idle.ok && ready > 0)
                                    ? static_cast<double>(proc_idle.rss_kb - proc0.rss_kb) * 1024.0 / ready
                                    : 0;

    std::ostringstream j;
    j.setf(std::ios::fixed);
    j.precision(1);
    j << "{\"tool\":\"parley-load\",\"label\":\"" << json_escape(o.label) << "\""
      << ",\"clients\":" << o.clients << ",\"local_clients\":" << local << ",\"shard\":\"" << o.shard_k << "/"
      << o.shard_n << "\",\"rooms\":" << o.rooms << ",\"senders\":" << o.senders
      << ",\"mode\":\"" << (o.flood ? "flood" : (o.rate > 0 ? "rate" : "idle")) << "\""
      << ",\"rate\":" << o.rate << ",\"window\":" << o.window << ",\"max_inflight\":" << o.max_inflight
      << ",\"sender_rate\":" << o.sender_rate
      << ",\"size\":" << o.size << ",\"threads\":" << o.threads << ",\"duration_s\":" << window_s
      << ",\"setup_s\":" << setup_s << ",\"settle_s\":" << settle_s << ",\"ready\":" << ready
      << ",\"failed\":" << failed << ",\"sent\":" << cnt.sent << ",\"msgs_per_s\":" << mps
      << ",\"deliveries\":" << cnt.deliveries << ",\"deliveries_per_s\":" << dps;
    j.precision(1);
    j << ",\"latency_us\":{\"count\":" << hist.count() << ",\"p50\":" << us(hist.quantile(0.50))
      << ",\"p90\":" << us(hist.quantile(0.90)) << ",\"p99\":" << us(hist.quantile(0.99))
      << ",\"p999\":" << us(hist.quantile(0.999)) << ",\"max\":" << us(hist.max())
      << ",\"mean\":" << us(static_cast<std::uint64_t>(hist.mean())) << "}";
    j << ",\"errors\":{\"total\":" << errors_total << ",\"connect\":" << cnt.connect_failed
      << ",\"handshake\":" << cnt.handshake_failed << ",\"setup\":" << cnt.setup_failed << ",\"gaps\":" << cnt.gaps
      << ",\"missing\":" << cnt.missing << ",\"dup_or_reorder\":" << cnt.dup_or_reorder
      << ",\"wrong_room\":" << cnt.wrong_room << ",\"bad_frames\":" << cnt.bad_frames
      << ",\"closed_by_server\":" << cnt.closed_by_server << ",\"dropped\":" << cnt.dropped
      << ",\"drained\":" << (drained ? "true" : "false") << ",\"lost_tail_conns\":" << lost_tail_conns << ",\"lost_tail_msgs\":" << lost_tail_msgs
      << ",\"echo_timeouts\":" << cnt.echo_timeouts << ",\"server_error_frames\":" << server_errors
      << ",\"codes\":{";
    bool first = true;
    for (auto& [k, v] : cnt.error_codes) j << (first ? "" : ",") << "\"" << json_escape(k) << "\":" << v, first = false;
    j << "},\"close_codes\":{";
    first = true;
    for (auto& [k, v] : cnt.close_codes) j << (first ? "" : ",") << "\"" << k << "\":" << v, first = false;
    j << "}}";
    j.precision(3);
    j << ",\"server\":{\"pid\":" << o.server_pid << ",\"cpu_s\":" << srv_cpu
      << ",\"cpu_pct\":" << (window_s > 0 ? 100.0 * srv_cpu / window_s : 0)
      << ",\"rss_before_kb\":" << proc0.rss_kb << ",\"rss_idle_kb\":" << rss_idle
      << ",\"rss_end_kb\":" << (p_end.ok ? p_end.rss_kb : proc_last.rss_kb)
      << ",\"hwm_kb\":" << proc_last.hwm_kb << ",\"threads\":" << proc_last.threads;
    j.precision(1);
    j << ",\"rss_per_conn_bytes\":" << rss_per_conn << "}";
    j.precision(3);
    j << ",\"client\":{\"cpu_s\":" << (cpu_end - cpu_begin)
      << ",\"cpu_pct\":" << (window_s > 0 ? 100.0 * (cpu_end - cpu_begin) / window_s : 0) << "}";
    // --watch-pid: each watched process over the window (CPU) and at its end (RSS).
    j << ",\"watch\":{";
    for (std::size_t k = 0; k < o.watch.size(); ++k) {
        const auto& b = watch_begin[k];
        const auto& e = watch_end[k];
        const double cpu = b.ok && e.ok ? e.cpu_s - b.cpu_s : 0;
        j << (k ? "," : "") << "\"" << o.watch[k].first << "\":{\"pid\":" << o.watch[k].second << ",\"cpu_s\":" << cpu
          << ",\"cpu_pct\":" << (window_s > 0 ? 100.0 * cpu / window_s : 0)
          << ",\"rss_before_kb\":" << watch0[k].rss_kb << ",\"rss_end_kb\":" << (e.ok ? e.rss_kb : 0) << "}";
    }
    j << "}";
    j << ",\"receive_port\":" << o.receive_port;
    j << ",\"frames_in\":" << cnt.frames_in << ",\"other_frames\":" << cnt.other_frames
      << ",\"bytes_in\":" << cnt.bytes_in << "}";
    std::printf("%s\n", j.str().c_str());
    std::fflush(stdout);

    if (!o.quiet) {
        std::fprintf(stderr, "\n== parley-load %s ==\n", o.label.c_str());
        std::fprintf(stderr, "clients %d (this process %d, ready %d, failed %d), rooms %d, senders %d, %s\n",
                     o.clients, local, ready, failed, o.rooms, o.senders,
                     o.flood ? "flood" : (o.rate > 0 ? "fixed rate" : "idle"));
        if (traffic) {
            std::fprintf(stderr, "sent %" PRIu64 " msgs (%.0f/s), received %" PRIu64 " deliveries = %.0f deliveries/s over %.1f s\n",
                         cnt.sent, mps, cnt.deliveries, dps, window_s);
            std::fprintf(stderr, "latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  (n=%" PRIu64 ")\n",
                         us(hist.quantile(0.5)), us(hist.quantile(0.9)), us(hist.quantile(0.99)),
                         us(hist.quantile(0.999)), us(hist.max()), hist.count());
            std::fprintf(stderr, "server cpu %.2f s (%.0f%% of one core), generator cpu %.2f s (%.0f%%)\n", srv_cpu,
                         window_s > 0 ? 100 * srv_cpu / window_s : 0, cpu_end - cpu_begin,
                         window_s > 0 ? 100 * (cpu_end - cpu_begin) / window_s : 0);
        }
        if (o.server_pid > 0)
            std::fprintf(stderr, "server rss: before %ld KiB, idle %ld KiB (%.0f B per connection), hwm %ld KiB\n",
                         proc0.rss_kb, rss_idle, rss_per_conn, proc_last.hwm_kb);
        for (std::size_t k = 0; k < o.watch.size(); ++k)
            if (watch_begin[k].ok && watch_end[k].ok)
                std::fprintf(stderr, "%s (pid %d): cpu %.2f s (%.0f%% of one core), rss %ld KiB\n",
                             o.watch[k].first.c_str(), o.watch[k].second, watch_end[k].cpu_s - watch_begin[k].cpu_s,
                             window_s > 0 ? 100 * (watch_end[k].cpu_s - watch_begin[k].cpu_s) / window_s : 0,
                             watch_end[k].rss_kb);
        std::fprintf(stderr, "errors %" PRIu64 ": gaps %" PRIu64 " (missing %" PRIu64 "), dup/reorder %" PRIu64
                             ", lost tail %" PRIu64 " conns, dropped %" PRIu64 ", closed by server %" PRIu64
                             ", server error frames %" PRIu64 "\n",
                     errors_total, cnt.gaps, cnt.missing, cnt.dup_or_reorder, lost_tail_conns, cnt.dropped,
                     cnt.closed_by_server, server_errors);
    }
    return 0;
}
