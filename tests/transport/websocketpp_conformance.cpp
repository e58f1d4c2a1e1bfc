// The websocketpp transport runs parley::testing::transport_conformance over real
// loopback sockets: a server with a Lobby, and peers that read on their own
// threads (and stop when told), answer close frames and record what they read.

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <parley/parley.hpp>
#include <parley/testing.hpp>
#include <parley/transport/websocketpp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sys/socket.h>

namespace {

using Transport = parley::WebsocketppTransport<>;
// Its lanes, timers and clocks are the shipped AsioExecutor's.
static_assert(std::is_base_of_v<parley::AsioExecutor, Transport>);
static_assert(parley::is_executor_v<parley::AsioExecutor>);
static_assert(parley::is_transport_v<Transport>);
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

/// A WebSocket client on a raw socket whose reader thread parses server
/// frames, keeps the text ones and the close code, and answers a close.
class ThreadedPeer {
public:
    explicit ThreadedPeer(std::uint16_t port) {
        socket_.open(tcp::v4());
        // Small buffers: a peer that stops reading backs the server up after a few KiB.
        socket_.set_option(asio::socket_base::receive_buffer_size(4096));
        socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
        const std::string request =
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        asio::write(socket_, asio::buffer(request));
        asio::streambuf buf;
        const auto n = asio::read_until(socket_, buf, "\r\n\r\n");
        std::string all(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
        if (all.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("handshake refused");
        pending_ = all.substr(n);
        reader_ = std::thread([this] { read_loop(); });
    }

    ~ThreadedPeer() {
        stop_ = true;
        ::shutdown(static_cast<int>(socket_.native_handle()), SHUT_RDWR);  // wakes the reader
        reader_.join();
    }

    void stall() { stalled_ = true; }
    void resume() { stalled_ = false; }

    std::vector<std::string> texts() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return texts_;
    }
    std::optional<std::uint16_t> close_code() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return close_code_;
    }

private:
    void read_loop() {
        while (!stop_) {
            if (stalled_) {
                std::this_thread::sleep_for(1ms);
                continue;
            }
            parse();
            char chunk[4096];
            asio::error_code ec;
            const auto got = socket_.read_some(asio::buffer(chunk), ec);
            if (ec) return;
            pending_.append(chunk, got);
        }
    }

    /// Takes every whole frame out of `pending_`.
    void parse() {
        for (;;) {
            if (pending_.size() < 2) return;
            const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(pending_[i]); };
            const int opcode = byte(0) & 0x0F;
            std::uint64_t length = byte(1) & 0x7F;
            std::size_t header = 2;
            if (length == 126) {
                if (pending_.size() < 4) return;
                length = (std::uint64_t(byte(2)) << 8) | byte(3);
                header = 4;
            } else if (length == 127) {
                if (pending_.size() < 10) return;
                length = 0;
                for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
                header = 10;
            }
            if (pending_.size() < header + length) return;
            std::string payload = pending_.substr(header, static_cast<std::size_t>(length));
            pending_.erase(0, header + static_cast<std::size_t>(length));
            if (opcode == 0x1) {
                std::lock_guard<std::mutex> lock(mutex_);
                texts_.push_back(std::move(payload));
            } else if (opcode == 0x8) {
                answer_close(payload);
            }
        }
    }

    void answer_close(const std::string& payload) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (close_code_) return;
            if (payload.size() >= 2)
                close_code_ = static_cast<std::uint16_t>(
                    (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]));
        }
        // A masked close frame echoing the code, as a browser answers.
        std::string wire;
        wire.push_back(static_cast<char>(0x88));
        wire.push_back(static_cast<char>(0x80 | 2));
        wire.append(4, '\0');  // mask 0: the payload goes as it is
        wire.append(payload.substr(0, 2));
        asio::error_code ec;
        asio::write(socket_, asio::buffer(wire), ec);
    }

    asio::io_context io_;
    tcp::socket socket_{io_};
    std::string pending_;
    std::thread reader_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> stalled_{false};
    mutable std::mutex mutex_;
    std::vector<std::string> texts_;
    std::optional<std::uint16_t> close_code_;
};

/// The conformance suite's adapter: a server on an ephemeral loopback port
/// with a Lobby (the embedding path: Transport::open, Transport::closed), run
/// by two threads, and one ThreadedPeer per connection.
class WsppConformance {
public:
    using transport_type = Transport;
    using handle_type = Transport::handle_type;

    WsppConformance() : transport_(io_, options()) {
        server_.init_asio(&io_);
        server_.clear_access_channels(websocketpp::log::alevel::all);
        server_.clear_error_channels(websocketpp::log::elevel::all);
        transport_.bind(server_, lobby_);
        server_.set_tcp_post_init_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server_.get_con_from_hdl(hdl);
            Transport::tune_socket(con);
            asio::error_code ec;
            con->get_raw_socket().set_option(asio::socket_base::send_buffer_size(4096), ec);
        });
        server_.set_open_handler([this](websocketpp::connection_hdl hdl) {
            auto client = transport_.open(server_.get_con_from_hdl(hdl), lobby_);
            std::lock_guard<std::mutex> lock(mutex_);
            opened_.push_back(client->handle());
        });
        server_.set_close_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server_.get_con_from_hdl(hdl);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                reported_.push_back(std::static_pointer_cast<Transport::Peer>(con->parley_peer_).get());
            }
            Transport::closed(con);
        });
        server_.listen(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        server_.start_accept();
        asio::error_code ec;
        port_ = server_.get_local_endpoint(ec).port();
        for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    }

    ~WsppConformance() {
        std::promise<void> done;
        lobby_.shutdown("test over", [&done] { done.set_value(); });
        done.get_future().wait_for(5s);
        peers_.clear();  // their sockets close; the server sees the ends
        io_.stop();
        for (auto& t : threads_) t.join();
        websocketpp::lib::error_code ec;
        server_.stop_listening(ec);
        io_.restart();
        io_.poll();
    }

    Transport& transport() { return transport_; }

    handle_type open() {
        peers_.push_back(std::make_unique<ThreadedPeer>(port_));
        const std::size_t n = peers_.size();
        run_until([&] { return opened().size() >= n; }, 5000ms);
        auto handles = opened();
        if (handles.size() < n) throw std::runtime_error("the server never opened the connection");
        return handles[n - 1];
    }

    template <class Done>
    bool run_until(Done&& done, std::chrono::milliseconds within) {
        const auto deadline = std::chrono::steady_clock::now() + within;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return done();
            std::this_thread::sleep_for(2ms);
        }
        return true;
    }

    std::vector<std::string> received(const handle_type& h) const { return peer(h).texts(); }
    std::optional<std::uint16_t> close_code(const handle_type& h) const { return peer(h).close_code(); }
    bool close_reported(const handle_type& h) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto* p : reported_)
            if (p == h.get()) return true;
        return false;
    }
    void stall(const handle_type& h) { peer(h).stall(); }
    void resume(const handle_type& h) { peer(h).resume(); }

private:
    static Transport::Options options() {
        Transport::Options o;
        o.close_handshake_timeout = 1000ms;
        return o;
    }

    std::vector<handle_type> opened() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return opened_;
    }

    ThreadedPeer& peer(const handle_type& h) const {
        const auto handles = opened();
        for (std::size_t i = 0; i < handles.size(); ++i)
            if (handles[i] == h) return *peers_.at(i);
        throw std::out_of_range("unknown handle");
    }

    Transport::io_context io_;
    Transport transport_;
    Transport::server_type server_;
    parley::Lobby<Transport> lobby_{transport_};
    std::vector<std::thread> threads_;
    std::uint16_t port_ = 0;
    mutable std::mutex mutex_;
    std::vector<handle_type> opened_;
    std::vector<const Transport::Peer*> reported_;
    std::vector<std::unique_ptr<ThreadedPeer>> peers_;
};

}  // namespace

TEST_CASE("WebsocketppTransport passes the transport conformance suite over loopback sockets") {
    const auto results =
        parley::testing::transport_conformance([] { return std::make_unique<WsppConformance>(); });
    CHECK(results.size() == 7);
    for (const auto& r : results) {
        INFO(r.check << ": " << r.detail);
        CHECK(r.passed);
    }
}
