// The websocketpp transport over real loopback sockets, seen from a raw TCP
// peer that can stop reading: one shared encoding per frame, exact backlog
// counts, whole frames under concurrent sends, the close frame after queued
// output, and every close reaching the peer as a close frame with its code
// (a slow consumer's 1013 after only the write under way; 1009 while the peer
// is still sending its too-big frame), followed by a clean end, never a reset.
//
// Built only when websocketpp and Asio are installed (top-level CMakeLists.txt);
// also meant to run under ThreadSanitizer (PARLEY_SANITIZE=thread).

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <parley/parley.hpp>
#include <parley/transport/websocketpp.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <system_error>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>

namespace {

using Transport = parley::WebsocketppTransport<>;
using Message = Transport::config_type::message_type;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

template <class F>
bool eventually(F&& check, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (check()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return check();
}

/// A server on an ephemeral loopback port with a Lobby, run by two threads.
struct Fixture {
    Transport::io_context io;
    Transport transport;
    Transport::server_type server;
    parley::Lobby<Transport> lobby{transport};
    std::vector<std::thread> threads;
    std::promise<Transport::handle_type> opened;
    std::atomic<int> closes{0};
    std::uint16_t port = 0;

    explicit Fixture(Transport::Options options = {}) : transport(io, options) {
        server.init_asio(&io);
        server.clear_access_channels(websocketpp::log::alevel::all);
        server.clear_error_channels(websocketpp::log::elevel::all);
        transport.bind(server, lobby);
        // A small send buffer, so a peer that stops reading backs up into
        // websocketpp's queue after a few KiB instead of a few MiB.
        server.set_tcp_post_init_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server.get_con_from_hdl(hdl);
            Transport::tune_socket(con);
            asio::error_code ec;  // the socket may already be gone at teardown
            con->get_raw_socket().set_option(asio::socket_base::send_buffer_size(4096), ec);
        });
        server.set_open_handler([this](websocketpp::connection_hdl hdl) {
            auto client = transport.open(server.get_con_from_hdl(hdl), lobby);
            opened.set_value(client->handle());
        });
        server.set_close_handler([this](websocketpp::connection_hdl hdl) {
            Transport::closed(server.get_con_from_hdl(hdl));
            ++closes;
        });
        server.listen(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        server.start_accept();
        asio::error_code ec;
        port = server.get_local_endpoint(ec).port();
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    }

    ~Fixture() {
        std::promise<void> done;
        lobby.shutdown("test over", [&done] { done.set_value(); });
        done.get_future().wait_for(5s);
        io.stop();
        for (auto& t : threads) t.join();
        // websocketpp's acceptor is not thread-safe: close it once no thread runs.
        websocketpp::lib::error_code ec;
        server.stop_listening(ec);
        io.restart();
        io.poll();
    }
};

/// The peer: a raw socket that does the WebSocket handshake and then reads
/// frames only when told to.
struct RawPeer {
    asio::io_context io;
    tcp::socket socket{io};
    std::string pending;  // bytes read past the handshake

    explicit RawPeer(std::uint16_t port) {
        socket.open(tcp::v4());
        socket.set_option(asio::socket_base::receive_buffer_size(4096));
        socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
        const std::string request =
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        asio::write(socket, asio::buffer(request));
        asio::streambuf buf;
        const auto n = asio::read_until(socket, buf, "\r\n\r\n");
        std::string all(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
        REQUIRE(all.rfind("HTTP/1.1 101", 0) == 0);
        pending = all.substr(n);
    }

    void read_exactly(std::string& out, std::size_t n) {
        while (pending.size() < n) {
            char chunk[4096];
            const auto got = socket.read_some(asio::buffer(chunk));
            pending.append(chunk, got);
        }
        out = pending.substr(0, n);
        pending.erase(0, n);
    }

    /// Sends one masked client frame (what a browser sends).
    void send_frame(int opcode, const std::string& payload) {
        std::string wire;
        wire.push_back(static_cast<char>(0x80 | opcode));
        REQUIRE(payload.size() < 126);
        wire.push_back(static_cast<char>(0x80 | payload.size()));
        const char mask[4] = {0x11, 0x22, 0x33, 0x44};
        wire.append(mask, 4);
        for (std::size_t i = 0; i < payload.size(); ++i) wire.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
        asio::write(socket, asio::buffer(wire));
    }

    /// Sends one masked client frame of `size` bytes whatever its size, with
    /// plain send() calls on the socket's descriptor (another thread may be
    /// reading meanwhile); the error that stopped it, if any.
    std::error_code send_big_frame(std::size_t size) {
        std::string wire;
        wire.push_back(static_cast<char>(0x81));
        wire.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8)
            wire.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF));
        wire.append("\x11\x22\x33\x44", 4);
        wire.append(size, 'x');  // the content does not matter: it is refused unread
        const int fd = static_cast<int>(socket.native_handle());
        std::size_t sent = 0;
        while (sent < wire.size()) {
            const auto n = ::send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
            if (n < 0) return {errno, std::generic_category()};
            sent += static_cast<std::size_t>(n);
        }
        return {};
    }

    /// Reads and throws away everything until the server ends the connection:
    /// eof for a clean end (its FIN), connection_reset for a TCP reset.
    asio::error_code read_to_end() {
        pending.clear();
        asio::error_code ec;
        char sink[65536];
        while (!ec) socket.read_some(asio::buffer(sink), ec);
        return ec;
    }

    struct WsFrame {
        int opcode = 0;
        std::string payload;
        int close_code() const {
            if (opcode != 8 || payload.size() < 2) return -1;
            return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
        }
    };

    WsFrame read_frame() {
        std::string head;
        read_exactly(head, 2);
        WsFrame f;
        f.opcode = static_cast<unsigned char>(head[0]) & 0x0F;
        REQUIRE((static_cast<unsigned char>(head[0]) & 0x80) != 0);  // FIN
        REQUIRE((static_cast<unsigned char>(head[1]) & 0x80) == 0);  // unmasked
        std::uint64_t len = static_cast<unsigned char>(head[1]) & 0x7F;
        std::string ext;
        if (len == 126) {
            read_exactly(ext, 2);
            len = (std::uint64_t(static_cast<unsigned char>(ext[0])) << 8) | static_cast<unsigned char>(ext[1]);
        } else if (len == 127) {
            read_exactly(ext, 8);
            len = 0;
            for (char c : ext) len = (len << 8) | static_cast<unsigned char>(c);
        }
        read_exactly(f.payload, static_cast<std::size_t>(len));
        return f;
    }
};

parley::SharedFrame text_frame(std::size_t size, char fill) {
    std::string text = "\"" + std::string(size - 2, fill) + "\"";
    return parley::make_frame(std::move(text));
}

}  // namespace

TEST_CASE("a text frame header is 0x81 and the RFC 6455 length encoding") {
    using parley::detail::websocket_text_header;
    CHECK(websocket_text_header(5) == std::string("\x81\x05", 2));
    CHECK(websocket_text_header(125) == std::string("\x81\x7d", 2));
    CHECK(websocket_text_header(126) == std::string("\x81\x7e\x00\x7e", 4));
    CHECK(websocket_text_header(65535) == std::string("\x81\x7e\xff\xff", 4));
    CHECK(websocket_text_header(65536) == std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST_CASE("a frame's wire form is its header then its payload, in one buffer shared by every recipient") {
    auto frame = text_frame(300, 'a');
    auto make = [](std::string_view text) { return parley::detail::websocket_text_frame(text); };
    const auto& wire = frame->prepared<std::string>(make);
    const auto& again = frame->prepared<std::string>(make);
    REQUIRE(&wire == &again);
    CHECK(wire == parley::detail::websocket_text_header(300) + std::string(frame->text()));
}

TEST_CASE("an outbox batches what piled up and counts it until websocketpp releases the batch") {
    const std::string one = parley::detail::websocket_text_frame(std::string(300, 'a'));
    const std::string two = parley::detail::websocket_text_frame("hi");
    parley::detail::WsppOutbox outbox;
    bool again = false;
    // Not direct: everything pending goes to websocketpp (the socket is never asked).
    auto take = [&] {
        return outbox.flush<Message>([](const char*, std::size_t) -> std::ptrdiff_t { FAIL("written"); return 0; },
                                     false, again);
    };
    CHECK(take() == nullptr);
    CHECK(outbox.append(one));   // the first append asks for a flush
    CHECK(!outbox.append(two));  // later ones ride on it
    CHECK(outbox.frames() == 2);
    CHECK(outbox.bytes() == one.size() + two.size());
    {
        auto batch = take();
        REQUIRE(batch);
        CHECK(batch->get_prepared());
        CHECK(batch->get_header().empty());
        CHECK(batch->get_payload() == one + two);
        CHECK(outbox.frames() == 2);  // written only once websocketpp lets go of it
        CHECK(outbox.append(one));    // a new flush is needed after a take
        outbox.discard();
        CHECK(outbox.frames() == 2);
        CHECK(outbox.append(two));    // and after a discard
        outbox.discard();
    }
    CHECK(outbox.frames() == 0);
    CHECK(outbox.bytes() == 0);
}

TEST_CASE("a direct flush writes what the socket takes and batches only the rest, first") {
    const std::string one = parley::detail::websocket_text_frame(std::string(300, 'a'));
    const std::string two = parley::detail::websocket_text_frame("hi");
    parley::detail::WsppOutbox outbox;
    bool again = false;
    std::string socket;  // what the fake socket took
    auto takes = [&socket](std::ptrdiff_t limit) {
        return [&socket, limit](const char* data, std::size_t size) -> std::ptrdiff_t {
            if (limit < 0) return -1;
            const auto n = std::min(size, static_cast<std::size_t>(limit));
            socket.append(data, n);
            return static_cast<std::ptrdiff_t>(n);
        };
    };

    SECTION("everything taken: no batch, nothing counted, the next append flushes again") {
        CHECK(outbox.append(one));
        CHECK(!outbox.append(two));
        CHECK(outbox.flush<Message>(takes(1 << 20), true, again) == nullptr);
        CHECK(!again);
        CHECK(socket == one + two);
        CHECK(outbox.frames() == 0);
        CHECK(outbox.bytes() == 0);
        CHECK(outbox.append(one));
        outbox.discard();
    }
    SECTION("part taken: the rest of the frame leads the batch, counted whole until released") {
        CHECK(outbox.append(one));
        CHECK(!outbox.append(two));
        {
            auto batch = outbox.flush<Message>(takes(100), true, again);
            REQUIRE(batch);
            CHECK(!again);
            CHECK(socket == one.substr(0, 100));
            CHECK(batch->get_payload() == one.substr(100) + two);
            CHECK(outbox.frames() == 2);
            CHECK(outbox.bytes() == one.size() + two.size());
            // While the batch is with websocketpp, nothing is written beside it.
            CHECK(outbox.append(one));
            auto queued = outbox.flush<Message>(takes(1 << 20), true, again);
            REQUIRE(queued);
            CHECK(queued->get_payload() == one);
            CHECK(socket == one.substr(0, 100));
        }
        CHECK(outbox.frames() == 0);
        CHECK(outbox.bytes() == 0);
    }
    SECTION("nothing taken (would block): everything is batched") {
        CHECK(outbox.append(two));
        auto batch = outbox.flush<Message>(takes(-1), true, again);
        REQUIRE(batch);
        CHECK(batch->get_payload() == two);
        CHECK(socket.empty());
    }
    SECTION("frames appended during the write wait for one more flush, which no append posts") {
        CHECK(outbox.append(one));
        auto during = [&](const char* data, std::size_t size) -> std::ptrdiff_t {
            CHECK(!outbox.append(two));  // the flush is still scheduled: no second post
            socket.append(data, size);
            return static_cast<std::ptrdiff_t>(size);
        };
        CHECK(outbox.flush<Message>(during, true, again) == nullptr);
        CHECK(again);
        CHECK(outbox.frames() == 1);
        CHECK(outbox.flush<Message>(takes(1 << 20), true, again) == nullptr);
        CHECK(!again);
        CHECK(socket == one + two);
        CHECK(outbox.frames() == 0);
    }
    SECTION("an empty flush clears the schedule") {
        CHECK(outbox.flush<Message>(takes(1 << 20), true, again) == nullptr);
        CHECK(outbox.append(two));
        outbox.discard();
    }
}

/// A server with direct writes on or off and one RawPeer connected to it, open.
struct Connected {
    Fixture fx;
    RawPeer peer;
    Transport::handle_type h;

    explicit Connected(bool direct) : fx(options(direct)), peer(fx.port), h(fx.opened.get_future().get()) {}

    static Transport::Options options(bool direct) {
        Transport::Options o;
        o.direct_writes = direct;
        return o;
    }
    bool drained() const { return fx.transport.buffered_frames(h) == 0 && fx.transport.buffered_amount(h) == 0; }
};

TEST_CASE("the backlog is exact while the peer does not read and drains to zero when it does") {
    const bool direct = GENERATE(true, false);
    CAPTURE(direct);
    Connected c(direct);
    auto& fx = c.fx;
    auto& peer = c.peer;
    const auto& h = c.h;

    constexpr int frames = 300;
    auto frame = text_frame(1024, 'b');  // 1024-byte payload: a 4-byte header
    for (int i = 0; i < frames; ++i) fx.transport.send(h, frame);
    // The peer reads nothing: the socket buffers fill and the rest stays queued,
    // counted in whole frames (a batch websocketpp is writing counts until its
    // write completes).
    std::this_thread::sleep_for(200ms);
    const auto queued = fx.transport.buffered_frames(h);
    CHECK(queued > 0);
    CHECK(queued <= frames);
    CHECK(fx.transport.buffered_amount(h) == queued * (1024 + 4));

    for (int i = 0; i < frames; ++i) {
        auto f = peer.read_frame();
        REQUIRE(f.opcode == 1);
        REQUIRE(f.payload == frame->text());
    }
    CHECK(eventually([&] { return fx.transport.buffered_frames(h) == 0; }));
    CHECK(fx.transport.buffered_amount(h) == 0);
}

TEST_CASE("concurrent sends from several threads arrive whole and in each sender's order") {
    const bool direct = GENERATE(true, false);
    CAPTURE(direct);
    Connected c(direct);
    auto& fx = c.fx;
    auto& peer = c.peer;
    const auto& h = c.h;

    constexpr int senders = 4;
    constexpr int per_sender = 150;
    std::vector<std::thread> threads;
    for (int s = 0; s < senders; ++s) {
        threads.emplace_back([&, s] {
            for (int i = 0; i < per_sender; ++i) {
                std::string text = "{\"s\":" + std::to_string(s) + ",\"i\":" + std::to_string(i) +
                                   ",\"pad\":\"" + std::string(static_cast<std::size_t>(50 + i), 'x') + "\"}";
                fx.transport.send(h, parley::make_frame(std::move(text)));
            }
        });
    }
    std::vector<int> next(senders, 0);
    for (int n = 0; n < senders * per_sender; ++n) {
        auto f = peer.read_frame();
        REQUIRE(f.opcode == 1);
        const int s = f.payload[5] - '0';
        REQUIRE(s >= 0);
        REQUIRE(s < senders);
        const std::string expected = "{\"s\":" + std::to_string(s) + ",\"i\":" + std::to_string(next[s]) +
                                     ",\"pad\":\"" + std::string(static_cast<std::size_t>(50 + next[s]), 'x') + "\"}";
        REQUIRE(f.payload == expected);
        ++next[s];
    }
    for (auto& t : threads) t.join();
    CHECK(eventually([&] { return c.drained(); }));
}

TEST_CASE("a close with little queued sends the close frame after the queued frames") {
    const bool direct = GENERATE(true, false);
    CAPTURE(direct);
    Connected c(direct);
    auto& fx = c.fx;
    auto& peer = c.peer;
    const auto& h = c.h;
    auto frame = text_frame(10, 'c');
    fx.transport.send(h, frame);
    fx.transport.close(h, parley::close_code::going_away, "bye");

    auto first = peer.read_frame();
    CHECK(first.opcode == 1);
    CHECK(first.payload == frame->text());
    auto close = peer.read_frame();
    REQUIRE(close.opcode == 8);
    REQUIRE(close.payload.size() >= 2);
    const int code = (static_cast<unsigned char>(close.payload[0]) << 8) | static_cast<unsigned char>(close.payload[1]);
    CHECK(code == 1001);
    CHECK(close.payload.substr(2) == "bye");
    // No answer from the peer: the handshake is cut after close_handshake_timeout.
    CHECK(eventually([&] { return fx.closes.load() == 1; }, 5000ms));
}

TEST_CASE("a slow consumer gets the write under way, then the 1013 close frame, then a clean end") {
    Transport::Options options;
    options.close_handshake_timeout = 1000ms;
    Fixture fx(options);
    RawPeer peer(fx.port);
    auto h = fx.opened.get_future().get();
    auto frame = text_frame(1024, 'd');
    // The first frames fill the socket buffers; what they did not take is the
    // write under way (websocketpp holds it until the socket drains).
    constexpr int first = 100;
    for (int i = 0; i < first; ++i) fx.transport.send(h, frame);
    REQUIRE(eventually([&] { return peer.socket.available() > 0; }));
    std::this_thread::sleep_for(100ms);  // until the socket is full and the write stuck
    REQUIRE(fx.transport.buffered_frames(h) > 0);
    // These queue behind that write: the close drops them.
    for (int i = 0; i < 300; ++i) fx.transport.send(h, frame);
    REQUIRE(eventually([&] { return fx.transport.buffered_amount(h) > 64 * 1024; }));

    fx.transport.close(h, parley::close_code::try_again_later, "slow consumer");
    // Later sends to it are ignored.
    fx.transport.send(h, frame);

    // The peer reads late and finds whole frames, fewer than were sent, then the code.
    int texts = 0;
    RawPeer::WsFrame f = peer.read_frame();
    for (; f.opcode == 1; f = peer.read_frame()) {
        REQUIRE(f.payload == frame->text());
        ++texts;
    }
    CHECK(texts <= first);
    REQUIRE(f.opcode == 8);
    CHECK(f.close_code() == 1013);
    CHECK(f.payload.substr(2) == "slow consumer");
    peer.send_frame(0x8, f.payload.substr(0, 2));  // the peer's answer

    CHECK(peer.read_to_end() == asio::error::eof);
    CHECK(eventually([&] { return fx.closes.load() == 1; }));
    CHECK(eventually([&] { return fx.transport.buffered_amount(h) == 0; }));
    CHECK(fx.transport.buffered_frames(h) == 0);
}

TEST_CASE("a peer still sending a frame over the limit reads the 1009 close frame, and no reset") {
    const std::size_t size = GENERATE(std::size_t{1} << 20, std::size_t{4} << 20);
    CAPTURE(size);
    Transport::Options options;
    options.close_handshake_timeout = 500ms;
    Fixture fx(options);
    RawPeer peer(fx.port);
    (void)fx.opened.get_future().get();

    // The write blocks once the server stops reading at the frame's header;
    // it only completes if the server drains the rest instead of resetting.
    std::error_code write_error;
    std::thread writer([&] { write_error = peer.send_big_frame(size); });
    auto close = peer.read_frame();
    CHECK(close.opcode == 8);
    CHECK(close.close_code() == 1009);
    writer.join();
    CHECK(!write_error);
    peer.send_frame(0x8, close.payload.substr(0, 2));
    CHECK(peer.read_to_end() == asio::error::eof);
    CHECK(eventually([&] { return fx.closes.load() == 1; }));
}

TEST_CASE("a close the peer never answers still ends with the peer's eof, not a reset") {
    const std::uint16_t code = GENERATE(parley::close_code::going_away, parley::close_code::policy);
    CAPTURE(code);
    Transport::Options options;
    options.close_handshake_timeout = 300ms;
    Fixture fx(options);
    RawPeer peer(fx.port);
    auto h = fx.opened.get_future().get();
    fx.transport.close(h, code, "bye");
    auto close = peer.read_frame();
    CHECK(close.close_code() == code);
    // The peer keeps sending (a chat message) and never answers the close.
    peer.send_frame(0x1, "{\"type\":\"ping\"}");
    CHECK(peer.read_to_end() == asio::error::eof);
    CHECK(eventually([&] { return fx.closes.load() == 1; }));
}

TEST_CASE("a client's ping is answered in line with the text frames, none of them cut, also while the socket is full") {
    const bool direct = GENERATE(true, false);
    CAPTURE(direct);
    Connected c(direct);
    auto& fx = c.fx;
    auto& peer = c.peer;
    const auto& h = c.h;

    // Enough to fill both socket buffers, so writes are partial and the rest
    // waits in websocketpp's queue while the pings arrive.
    constexpr int frames = 400;
    auto frame = text_frame(1000, 'p');
    std::thread sender([&] {
        for (int i = 0; i < frames; ++i) {
            fx.transport.send(h, frame);
            if (i % 50 == 0) std::this_thread::sleep_for(1ms);
        }
    });
    const std::vector<std::string> pings = {"one", "two", std::string(125, 'z')};
    for (const auto& p : pings) peer.send_frame(0x9, p);

    int texts = 0;
    std::vector<std::string> pongs;
    while (texts < frames || pongs.size() < pings.size()) {
        auto f = peer.read_frame();
        if (f.opcode == 0xA) {
            pongs.push_back(f.payload);
            continue;
        }
        REQUIRE(f.opcode == 1);
        REQUIRE(f.payload == frame->text());
        ++texts;
    }
    sender.join();
    CHECK(pongs == pings);
    // websocketpp wrote no pong of its own: the next frame is the marker.
    auto marker = text_frame(12, 'm');
    fx.transport.send(h, marker);
    auto next = peer.read_frame();
    CHECK(next.opcode == 1);
    CHECK(next.payload == marker->text());
    CHECK(eventually([&] { return c.drained(); }));
}

TEST_CASE("ping() sends an empty ping frame after what was queued before it") {
    const bool direct = GENERATE(true, false);
    CAPTURE(direct);
    Connected c(direct);
    auto& fx = c.fx;
    auto& peer = c.peer;
    const auto& h = c.h;
    auto frame = text_frame(20, 'q');
    fx.transport.send(h, frame);
    fx.transport.ping(h);
    auto first = peer.read_frame();
    CHECK(first.opcode == 1);
    CHECK(first.payload == frame->text());
    auto ping = peer.read_frame();
    CHECK(ping.opcode == 0x9);
    CHECK(ping.payload.empty());
    CHECK(eventually([&] { return c.drained(); }));
}
