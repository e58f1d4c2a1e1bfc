// What the websocketpp transport does to keep an idle connection small, and
// that nothing is lost by it: a request or frame bigger than the 256-byte read
// buffer arrives whole, the handshake is freed once the connection is open
// (and kept when asked), and lanes come from a fixed pool.
//
// Real loopback sockets, like websocketpp_transport.cpp; built only when
// websocketpp and Asio are installed.

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <parley/parley.hpp>
#include <parley/transport/websocketpp.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

using Transport = parley::WebsocketppTransport<>;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

/// What the open handler saw, read on the connection's strand right after
/// Transport::open (where an application's own open handler would look).
struct Opened {
    parley::PeerInfo peer;
    std::string host_header_after_open;
    std::string resource_after_open;
    int response_code_after_open = 0;
};

/// A server on an ephemeral loopback port with a Lobby, run by two threads.
struct Fixture {
    Transport::io_context io;
    Transport transport;
    Transport::server_type server;
    parley::Lobby<Transport> lobby{transport};
    std::vector<std::thread> threads;
    std::promise<Opened> opened;
    std::uint16_t port = 0;

    explicit Fixture(Transport::Options options = {}) : transport(io, options) {
        server.init_asio(&io);
        server.clear_access_channels(websocketpp::log::alevel::all);
        server.clear_error_channels(websocketpp::log::elevel::all);
        transport.bind(server, lobby);
        server.set_open_handler([this](websocketpp::connection_hdl hdl) {
            auto con = server.get_con_from_hdl(hdl);
            auto client = transport.open(con, lobby);
            Opened o;
            o.peer = client->peer();
            o.host_header_after_open = con->get_request_header("Host");
            o.resource_after_open = con->get_resource();
            o.response_code_after_open = con->get_response_code();
            opened.set_value(std::move(o));
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
        websocketpp::lib::error_code ec;
        server.stop_listening(ec);
        io.restart();
        io.poll();
    }
};

/// A client on a raw socket: a handshake with `extra_headers`, masked text
/// frames out, unmasked frames in.
struct Peer {
    asio::io_context io;
    tcp::socket socket{io};
    std::string pending;

    Peer(std::uint16_t port, const std::string& extra_headers) {
        socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
        const std::string request =
            "GET /ws?room=a HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
            extra_headers + "\r\n";
        asio::write(socket, asio::buffer(request));
        asio::streambuf buf;
        const auto n = asio::read_until(socket, buf, "\r\n\r\n");
        std::string all(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
        REQUIRE(all.rfind("HTTP/1.1 101", 0) == 0);
        pending = all.substr(n);
    }

    void send_text(const std::string& text) {
        std::string wire;
        wire.push_back(static_cast<char>(0x81));
        const std::size_t len = text.size();
        if (len < 126) {
            wire.push_back(static_cast<char>(0x80 | len));
        } else {
            REQUIRE(len <= 0xFFFF);
            wire.push_back(static_cast<char>(0x80 | 126));
            wire.push_back(static_cast<char>((len >> 8) & 0xFF));
            wire.push_back(static_cast<char>(len & 0xFF));
        }
        const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
        wire.append(reinterpret_cast<const char*>(mask), 4);
        for (std::size_t i = 0; i < len; ++i)
            wire.push_back(static_cast<char>(static_cast<unsigned char>(text[i]) ^ mask[i % 4]));
        asio::write(socket, asio::buffer(wire));
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

    /// The next text frame's payload.
    std::string read_text() {
        std::string head;
        read_exactly(head, 2);
        REQUIRE((static_cast<unsigned char>(head[0]) & 0x0F) == 1);
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
        std::string payload;
        read_exactly(payload, static_cast<std::size_t>(len));
        return payload;
    }

    /// Reads frames until one contains `needle`; gives up after 50.
    std::string read_until(const std::string& needle) {
        for (int i = 0; i < 50; ++i) {
            auto text = read_text();
            if (text.find(needle) != std::string::npos) return text;
        }
        FAIL("no frame with " << needle);
        return {};
    }
};

std::string room_id_of(const std::string& created) {
    const std::string key = "\"id\":\"";
    const auto at = created.find(key);
    REQUIRE(at != std::string::npos);
    const auto begin = at + key.size();
    return created.substr(begin, created.find('"', begin) - begin);
}

}  // namespace

TEST_CASE("the read buffer is small: the rest of an idle connection is what it costs") {
    const std::size_t size = Transport::config_type::connection_read_buffer_size;  // not odr-used
    CHECK(size == 256);
}

TEST_CASE("a handshake and frames many times the read buffer's size arrive whole, and small ones after them") {
    Fixture fx;
    // A 2 KiB header: the request alone spans several reads.
    Peer peer(fx.port, "X-Padding: " + std::string(2048, 'p') + "\r\n");
    const auto opened = fx.opened.get_future().get();
    CHECK(opened.peer.headers.at("x-padding") == std::string(2048, 'p'));

    peer.send_text(R"({"type":"hello","nick":"alice"})");
    peer.read_until("\"welcome\"");
    peer.send_text(R"({"type":"create_room","name":"big"})");
    const auto room = room_id_of(peer.read_until("\"room_created\""));
    peer.send_text(R"({"type":"join","room":")" + room + R"("})");
    peer.read_until("\"joined\"");

    // 2000 three-byte characters: a 6 KiB frame, over 20 times the read buffer.
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "\xE2\x82\xAC";  // U+20AC
    const std::string request = R"({"type":"send","room":")" + room + R"(","text":")" + text + R"("})";
    const std::size_t buffer = Transport::config_type::connection_read_buffer_size;
    REQUIRE(request.size() > 20 * buffer);
    peer.send_text(request);
    const auto message = peer.read_until("\"message\"");
    CHECK(message.find("\"text\":\"" + text + "\"") != std::string::npos);

    // The buffer did not stay big or stuck: small requests still work, twice.
    for (int i = 0; i < 2; ++i) {
        peer.send_text(R"({"type":"ping","ref":)" + std::to_string(i) + "}");
        const auto pong = peer.read_until("\"pong\"");
        CHECK(pong.find("\"ref\":" + std::to_string(i)) != std::string::npos);
    }
    peer.send_text(R"({"type":"send","room":")" + room + R"(","text":"small"})");
    CHECK(peer.read_until("\"message\"").find("\"text\":\"small\"") != std::string::npos);
}

TEST_CASE("release_handshake (the default) frees the request once open; PeerInfo has taken what the app needs") {
    Fixture fx;
    REQUIRE(fx.transport.options().release_handshake);
    Peer peer(fx.port, "Origin: http://example.test\r\nX-Trace: 42\r\n");
    const auto opened = fx.opened.get_future().get();

    CHECK(opened.host_header_after_open.empty());
    CHECK(opened.peer.headers.at("host") == "127.0.0.1");
    CHECK(opened.peer.headers.at("x-trace") == "42");
    CHECK(opened.peer.origin == "http://example.test");
    CHECK(opened.peer.path == "/ws");
    CHECK(opened.peer.query == "room=a");
    // Not part of the released handshake: still answered.
    CHECK(opened.resource_after_open == "/ws?room=a");
    CHECK(opened.response_code_after_open == 101);

    // The session works as before.
    peer.send_text(R"({"type":"hello","nick":"bob"})");
    CHECK(peer.read_until("\"welcome\"").find("\"nick\":\"bob\"") != std::string::npos);
}

TEST_CASE("release_handshake false keeps the request for the connection's life") {
    Transport::Options options;
    options.release_handshake = false;
    Fixture fx(options);
    Peer peer(fx.port, "");
    const auto opened = fx.opened.get_future().get();
    CHECK(opened.host_header_after_open == "127.0.0.1");
}

TEST_CASE("the handshake store answers like an empty message once released, and keeps the status") {
    parley::detail::WsppHandshakeRequest request;
    const std::string raw =
        "GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
    // Fed in small pieces, as a small read buffer does.
    std::size_t fed = 0;
    while (fed < raw.size()) fed += request.consume(raw.data() + fed, std::min<std::size_t>(7, raw.size() - fed));
    REQUIRE(request.ready());
    CHECK(request.get_header("host") == "h");
    CHECK(request.get_method() == "GET");
    request.release();
    CHECK(request.released());
    CHECK(request.get_header("Host").empty());
    CHECK(request.get_headers().empty());
    CHECK(request.get_method().empty());
    request.replace_header("Host", "again");  // a write starts a fresh message
    CHECK(request.get_header("Host") == "again");

    parley::detail::WsppHandshakeResponse response;
    response.set_status(websocketpp::http::status_code::switching_protocols);
    response.replace_header("Upgrade", "websocket");
    response.release();
    CHECK(response.get_header("Upgrade").empty());
    CHECK(response.get_status_code() == websocketpp::http::status_code::switching_protocols);
}

TEST_CASE("lanes come from a fixed pool, handed out in turn; 0 makes a strand per lane") {
    Transport::io_context io;
    Transport::Options options;
    options.lanes = 3;
    Transport pooled(io, options);
    auto a = pooled.make_lane();
    auto b = pooled.make_lane();
    auto c = pooled.make_lane();
    auto d = pooled.make_lane();
    CHECK(a != b);
    CHECK(b != c);
    CHECK(a == d);

    options.lanes = 0;
    Transport own(io, options);
    CHECK(own.make_lane() != own.make_lane());

    // Work on a shared lane still runs one task at a time, in order.
    std::vector<int> order;
    for (int i = 0; i < 6; ++i) pooled.post(i % 2 ? a : d, [&order, i] { order.push_back(i); });
    io.run();
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
}
