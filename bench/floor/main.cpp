// parley-send-floor: what the kernel alone charges for the chat scenario's
// deliveries on this machine, with no WebSocket server in the way.
//
// N loopback TCP connections (TCP_NODELAY on the sending side, as every server
// here sets it). Every round one thread writes one small frame to each of the
// N sockets with one non-blocking send() apiece, the least any server can do
// per delivery, while another thread receives them through epoll, the way a
// client process does. Rounds start every --interval ms, as the chat
// scenario's messages do. It reports the CPU time of one send and of one
// receive, and how long after its round started each frame, and the last of
// each round, was received: the floor under the chat scenario's delivery
// latency for a broadcast sent from one thread.
//
//   parley-send-floor [--connections 1000] [--rounds 300] [--size 140] [--interval 10]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
    std::perror(what);
    std::exit(1);
}

double thread_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    int connections = 1000, rounds = 300, size = 140, interval_ms = 10;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: parley-send-floor [--connections N] [--rounds R] [--size B] [--interval MS]\n");
            return 2;
        }
        const int v = std::atoi(argv[++i]);
        if (a == "--connections") connections = v;
        else if (a == "--rounds") rounds = v;
        else if (a == "--size") size = v;
        else if (a == "--interval") interval_ms = v;
        else {
            std::fprintf(stderr, "parley-send-floor: unknown flag %s\n", a.c_str());
            return 2;
        }
    }
    if (connections < 1 || connections > 9000 || rounds < 1 || size < 1 || size > 60000 || interval_ms < 0) {
        std::fprintf(stderr, "parley-send-floor: bad arguments\n");
        return 2;
    }

    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    if (listen(listener, 4096) != 0) fail("listen");
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);

    std::vector<int> receivers, senders;
    const int one = 1;
    for (int i = 0; i < connections; ++i) {
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
        const int s = accept(listener, nullptr, nullptr);
        if (s < 0) fail("accept");
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        receivers.push_back(c);
        senders.push_back(s);
    }
    const int ep = epoll_create1(0);
    for (int i = 0; i < connections; ++i) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u32 = static_cast<std::uint32_t>(i);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, receivers[i], &e) != 0) fail("epoll_ctl");
    }

    // Round r is complete once N * (r + 1) frames have arrived (rounds never
    // overlap: the sender waits for `rounds_done`).
    std::atomic<long long> round_start_ns{0};
    std::atomic<int> rounds_done{0};
    std::atomic<bool> stop{false};
    std::vector<double> last_delivery_ms;  // written by the receiver, read after join()
    std::vector<double> delivery_ms;       // every frame: received minus its round's start
    double receive_cpu = 0;
    long long frames_received = 0;
    std::thread receiver([&] {
        const double cpu0 = thread_cpu_seconds();
        std::vector<char> buf(65536);
        epoll_event events[256];
        std::vector<int> partial(static_cast<std::size_t>(connections), 0);  // bytes of a frame cut by recv
        long long frames = 0;
        long long next_round_frames = connections;
        while (!stop.load(std::memory_order_relaxed)) {
            const int n = epoll_wait(ep, events, 256, 50);
            for (int i = 0; i < n; ++i) {
                const ssize_t got = recv(receivers[events[i].data.u32], buf.data(), buf.size(), MSG_DONTWAIT);
                if (got <= 0) continue;
                int& cut = partial[events[i].data.u32];
                cut += static_cast<int>(got);
                const int whole = cut / size;
                cut %= size;
                const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
                const double ms = static_cast<double>(now - round_start_ns.load()) / 1e6;
                for (int f = 0; f < whole; ++f) delivery_ms.push_back(ms);
                frames += whole;
                if (frames >= next_round_frames) {
                    last_delivery_ms.push_back(ms);
                    next_round_frames += connections;
                    rounds_done.fetch_add(1, std::memory_order_release);
                }
            }
        }
        frames_received = frames;
        receive_cpu = thread_cpu_seconds() - cpu0;
    });

    const std::string frame(static_cast<std::size_t>(size), 'x');
    double send_cpu = 0;
    long long sends = 0, short_writes = 0;
    auto next = Clock::now();
    for (int r = 0; r < rounds; ++r) {
        std::this_thread::sleep_until(next);
        next += std::chrono::milliseconds(interval_ms);
        // Wait for the previous round to be received, so rounds never overlap.
        const auto give_up = Clock::now() + std::chrono::seconds(5);
        while (rounds_done.load(std::memory_order_acquire) < r) {
            if (Clock::now() > give_up) {
                std::fprintf(stderr, "parley-send-floor: round %d was not received within 5 s\n", r - 1);
                std::exit(1);  // not return: the receiver thread is still joinable
            }
            std::this_thread::yield();
        }
        round_start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
        const double cpu0 = thread_cpu_seconds();
        for (int s : senders) {
            const ssize_t n = send(s, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n != static_cast<ssize_t>(frame.size())) ++short_writes;
            ++sends;
        }
        send_cpu += thread_cpu_seconds() - cpu0;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (rounds_done.load(std::memory_order_acquire) < rounds && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop = true;
    receiver.join();

    const double send_us = send_cpu * 1e6 / static_cast<double>(sends);
    const double recv_us = receive_cpu * 1e6 / static_cast<double>(std::max(1LL, frames_received));
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    // Every send and every receive of one broadcast, spread perfectly over all
    // cores: no schedule delivers the last frame sooner.
    const double spread_ms = static_cast<double>(connections) * (send_us + recv_us) / 1e3 / cores;
    std::printf("{\"tool\":\"parley-send-floor\",\"connections\":%d,\"rounds\":%d,\"size\":%d,\"interval_ms\":%d,"
                "\"cores\":%u,\"send_us\":%.3f,\"recv_us\":%.3f,\"short_writes\":%lld,\"rounds_received\":%zu,"
                "\"delivery_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
                "\"last_delivery_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"spread_floor_ms\":%.3f}\n",
                connections, rounds, size, interval_ms, cores, send_us, recv_us, short_writes,
                last_delivery_ms.size(), percentile(delivery_ms, 0.5), percentile(delivery_ms, 0.99),
                percentile(last_delivery_ms, 0.5), percentile(last_delivery_ms, 0.99),
                percentile(last_delivery_ms, 1.0), spread_ms);
    std::fprintf(stderr,
                 "parley-send-floor: %d connections, %d-byte frames: %.2f us CPU per send, %.2f us per receive;\n"
                 "  with one sending thread, a frame is received %.2f ms (p50), %.2f ms (p99) after its round began,\n"
                 "  the last of a round %.2f ms (p50), %.2f ms (p99);\n"
                 "  all %d sends and receives spread over %u cores: at least %.2f ms\n",
                 connections, size, send_us, recv_us, percentile(delivery_ms, 0.5), percentile(delivery_ms, 0.99),
                 percentile(last_delivery_ms, 0.5),
                 percentile(last_delivery_ms, 0.99), connections, cores, spread_ms);
    return 0;
}
