// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// The Transport policy (see <parley/transport.hpp>) on websocketpp's Asio
// server. Optional: <parley/parley.hpp> does not include it, and it needs
// websocketpp 0.8 and Asio (standalone by default: ASIO_STANDALONE is defined
// here unless PARLEY_WEBSOCKETPP_BOOST_ASIO is). websocketpp 0.8.2 does not
// compile as C++20 with g++: build the translation unit that includes this as
// C++17. docs/embedding.md shows it in use.
#pragma once

#if !defined(ASIO_STANDALONE) && !defined(PARLEY_WEBSOCKETPP_BOOST_ASIO)
#define ASIO_STANDALONE
#endif

#include <parley/lobby.hpp>
#include <parley/transport/asio_executor.hpp>
#include <parley/transport.hpp>
#include <parley/transport/detail/websocketpp_handshake.hpp>
#include <parley/transport/detail/websocketpp_lingering_socket.hpp>
#include <parley/transport/detail/websocketpp_message.hpp>
#include <parley/transport/detail/socket_write.hpp>
#include <parley/transport/detail/websocketpp_outbox.hpp>
#include <parley/version.hpp>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

namespace detail {

/// Per-connection data parley keeps on the websocketpp connection object
/// itself (websocketpp's `connection_base` customisation point), so handlers
/// find their session without a lookup table or a lock.
template <class Base>
struct WsppConnectionBase : Base {
    /// The parley::Client of this connection, type-erased (the Client type
    /// depends on the transport, which depends on this config). Set by the open
    /// handler, read by the connection's other handlers (all on its strand).
    std::shared_ptr<void> parley_session_;
    /// The transport's Peer (type-erased too): it holds the backlog counters
    /// the batches queued in this connection point at, and a base class
    /// outlives the connection's own members, that queue among them.
    std::shared_ptr<void> parley_peer_;
};

}  // namespace detail

/// A websocketpp config: `Base` (websocketpp::config::asio by default, or
/// asio_tls, or your own) with parley's message type, which carries a batch of
/// encoded frames and counts each connection's backlog exactly, the handshake
/// kept on the heap (freed once the connection is open, see
/// `Options::release_handshake`), a small read buffer, and, on plain TCP, a
/// lingering close (detail::WsppLingeringSocket: the peer reads our close
/// frame even while it is still sending, instead of a TCP reset).
template <class Base = websocketpp::config::asio>
struct WebsocketppConfig : Base {
    using type = WebsocketppConfig;
    struct transport_config : Base::transport_config {
        using socket_type = std::conditional_t<
            std::is_same_v<typename Base::transport_config::socket_type,
                           websocketpp::transport::asio::basic_socket::endpoint>,
            detail::WsppLingeringSocketEndpoint, typename Base::transport_config::socket_type>;
    };
    using transport_type = websocketpp::transport::asio::endpoint<transport_config>;
    using message_type =
        detail::WsppMessage<websocketpp::message_buffer::alloc::con_msg_manager>;
    using con_msg_manager_type = websocketpp::message_buffer::alloc::con_msg_manager<message_type>;
    using endpoint_msg_manager_type =
        websocketpp::message_buffer::alloc::endpoint_msg_manager<con_msg_manager_type>;
    using connection_base = detail::WsppConnectionBase<typename Base::connection_base>;
    using request_type = detail::WsppHandshakeRequest;
    using response_type = detail::WsppHandshakeResponse;
    /// websocketpp reads into a fixed buffer inside every connection object,
    /// 16 KiB by default: most of an idle connection's memory. Its parsers are
    /// incremental (an HTTP request or a frame of any size may span many reads;
    /// a frame's payload collects in its message, which is freed once handled),
    /// and chat requests are a few hundred bytes, so 256 bytes cost little in
    /// throughput: a bigger frame takes a few more reads, nothing stays big.
    static const std::size_t connection_read_buffer_size = 256;
};

/// The Transport policy on websocketpp's Asio server (see the table in
/// <parley/transport.hpp>):
///
/// | requirement     | here                                                                 |
/// |-----------------|----------------------------------------------------------------------|
/// | `handle_type`   | `shared_ptr<Peer>`: a weak pointer to the connection plus its outbox and backlog counters; `send` takes no global lock |
/// | `lane_type`     | `asio::strand<io_context::executor_type>` on the server's io_context; `make_lane()` hands out the strands of a fixed pool in turn (`Options::lanes`) |
/// | `timer_type`    | `shared_ptr` to a timer on the io_context's executor; the task runs on its lane; a cancelled timer's task never runs |
/// | `send`          | the Frame's wire form (header and payload in one buffer, encoded once and shared by every recipient) is appended to the connection's outbox (a copy, no allocation, one uncontended lock); the first append after a flush posts a flush to the connection's strand, which writes everything pending with one non-blocking `send` on the socket when websocketpp holds nothing of the connection (`Options::direct_writes`), and hands websocketpp only what the socket did not take, as one prepared message written in order before anything later |
/// | `close`         | later sends to the connection are ignored at once; then, on the connection's strand, the close frame with the code is written: after everything queued, or, for 1013 or a backlog over `Options::drop_backlog_bytes`, after only the part of a write already under way (the rest is dropped). The handshake is cut after `Options::close_handshake_timeout`; then the socket lingers (reads and discards) until the peer closes its side, `Options::close_linger` at most, so the peer reads the code instead of a TCP reset |
/// | `ping`          | an empty ping frame queued like any frame; a client's ping is answered the same way (open() installs the connection's ping handler), so every frame of an open connection passes through parley's writer |
/// | `buffered_amount` / `buffered_frames` | bytes / frames sent and not yet written to the socket; exact per frame: each frame counts until the socket write of its batch completed |
///
/// Inbound events come from websocketpp's handlers: `bind()` installs them all,
/// or call `open`, `message`, `pong` and `closed` from your own handlers.
template <class Config = WebsocketppConfig<>>
class WebsocketppTransport : public AsioExecutor {
public:
    using config_type = Config;
    using server_type = websocketpp::server<Config>;
    using connection_type = typename server_type::connection_type;
    using connection_ptr = typename server_type::connection_ptr;
    using message_ptr = typename Config::message_type::ptr;
    using io_context = AsioExecutor::io_context;
    using executor_type = AsioExecutor::executor_type;

    /// One connection as the core sees it.
    struct Peer {
        Peer(const connection_ptr& con, bool direct) : connection(con), direct_writes(direct) {}
        std::weak_ptr<connection_type> connection;
        detail::WsppOutbox outbox;
        /// Options::direct_writes, as it was when the connection opened.
        const bool direct_writes;
        /// Set by close(): nothing more is queued after it, so the close frame
        /// (queued on the connection's strand a moment later) is the last one.
        std::atomic<bool> closing{false};
    };

    using handle_type = std::shared_ptr<Peer>;
    /// Lanes, timers, post and clocks: AsioExecutor's.
    using lane_type = AsioExecutor::lane_type;
    using timer_object = AsioExecutor::timer_object;
    using timer_type = AsioExecutor::timer_type;
    using lobby_type = Lobby<WebsocketppTransport>;
    using client_type = Client<WebsocketppTransport>;
    using client_ptr = std::shared_ptr<client_type>;

    struct Options {
        /// After a close frame is queued, how long the peer has to answer
        /// before the TCP connection is dropped anyway. Keep it well below the
        /// server's shutdown timeout.
        std::chrono::milliseconds close_handshake_timeout{2000};
        /// A close with more than this queued drops the queued frames not yet
        /// being written, so the close frame does not wait behind them (a
        /// slow consumer's close, 1013, always does).
        std::size_t drop_backlog_bytes = 64 * 1024;
        /// After the connection ended, how long its socket may keep reading
        /// and discarding what the peer still sends (a frame over the size
        /// limit, say) before it is closed: closing with unread input would
        /// send a TCP reset, and the peer would lose our close frame. A peer
        /// that closes its side ends this at once. Plain TCP only (not TLS).
        std::chrono::milliseconds close_linger{2000};
        /// Copy the request headers into each session's PeerInfo::headers (for
        /// checks of your own). false leaves them out (the remote address,
        /// Origin, path and query are always there): a few hundred bytes less
        /// for the life of every connection, when nothing reads them.
        bool peer_headers = true;
        /// Free websocketpp's copy of the opening handshake (request and
        /// response: header map, strings, parse buffer; some 1.5 KiB) once the
        /// connection is open. Afterwards `connection::get_request_header()`
        /// and `get_request()` answer as for an empty request ("");
        /// `get_resource()`, `get_uri()`, `get_remote_endpoint()` and
        /// `get_response_code()` still work. Headers the application needs
        /// later must be taken at open: PeerInfo::headers has them all (with
        /// `peer_headers`), or read them in your own open handler before
        /// calling `open()`. false keeps them for the connection's life.
        bool release_handshake = true;
        /// How many serial lanes (strands) `make_lane()` hands out in turn:
        /// sessions and rooms share them, so 10 000 connections do not each
        /// hold a strand of their own (about 130 bytes each). A lane only
        /// orders work, so sharing one is safe; more lanes let more sessions
        /// run at the same time. 0: a new strand for every lane.
        std::size_t lanes = 256;
        /// A flush writes the connection's pending frames to its socket itself
        /// (one non-blocking `send`) when websocketpp has nothing of it queued,
        /// and hands websocketpp only what the socket did not take. That skips
        /// websocketpp's queue, its locks, an allocation and a completion handler
        /// per write: at 100 000 deliveries/s the server spends about a fifth
        /// less CPU (docs/benchmarks.md). It needs every frame of the connection
        /// to pass through parley, so open() installs a ping handler on the
        /// connection that answers pings itself, and ping() queues its own ping
        /// frame. false: every batch goes through websocketpp's queue. Linux and
        /// other systems with MSG_NOSIGNAL only, and never on a TLS connection
        /// (websocketpp must encrypt); there it is always off.
        bool direct_writes = true;
    };

    explicit WebsocketppTransport(io_context& io) : WebsocketppTransport(io, Options{}) {}
    WebsocketppTransport(io_context& io, Options options)
        : AsioExecutor(io, options.lanes), options_(options) {}

    WebsocketppTransport(const WebsocketppTransport&) = delete;
    WebsocketppTransport& operator=(const WebsocketppTransport&) = delete;

    const Options& options() const noexcept { return options_; }

    // ---- the Transport policy ------------------------------------------------------

    // make_lane, post, now, wall_now, start_timer, cancel_timer: AsioExecutor's.

    /// Thread-safe; takes the connection's outbox lock only. The first send of
    /// a Frame encodes it; every other recipient reuses that buffer.
    void send(const handle_type& h, const SharedFrame& frame) {
        const std::string& wire = frame->template prepared<std::string>(
            [](std::string_view text) { return detail::websocket_text_frame(text); });
        queue(h, wire);
    }

    /// The close frame carries `code` to the peer in every case (a slow
    /// consumer's 1013 too): only a connection websocketpp can no longer
    /// close (its socket failed) is dropped without one.
    void close(const handle_type& h, std::uint16_t code, std::string_view reason) {
        if (h->closing.exchange(true, std::memory_order_acq_rel)) return;
        auto con = h->connection.lock();
        if (!con) return;
        const bool cut_backlog = code == close_code::try_again_later ||
                                 h->outbox.bytes() > options_.drop_backlog_bytes;
        on_strand(con, [con, peer = h, code, reason = std::string(reason), cut_backlog,
                        timeout = options_.close_handshake_timeout] {
            if (con->get_state() != websocketpp::session::state::open) return;
            if (cut_backlog)
                peer->outbox.cancel();  // the close frame follows the write under way only
            else
                flush(con, *peer, true);  // the close frame follows everything sent before it
            con->set_close_handshake_timeout(static_cast<long>(timeout.count()));
            websocketpp::lib::error_code ec;
            con->close(static_cast<websocketpp::close::status::value>(code), reason, ec);
            if (ec) drop_now(con);
        });
    }

    /// An empty ping frame, queued like any frame (websocketpp's own ping
    /// would be written beside parley's writes). The answer reaches pong().
    void ping(const handle_type& h) {
        static const std::string wire = detail::websocket_control_frame(0x9, {});
        queue(h, wire);
    }

    std::size_t buffered_amount(const handle_type& h) const {
        return h->outbox.bytes();
    }
    std::size_t buffered_frames(const handle_type& h) const {
        return h->outbox.frames();
    }

    // ---- glue for websocketpp's handlers -----------------------------------------------

    /// What parley's core needs to know about a connection: remote address,
    /// Origin, path, query and (unless `with_headers` is false) the request
    /// headers (lower-case names).
    static PeerInfo peer_info(const connection_ptr& con, bool with_headers = true) {
        PeerInfo info;
        info.remote_address = con->get_remote_endpoint();
        const std::string& resource = con->get_resource();
        const auto q = resource.find('?');
        info.path = resource.substr(0, q);
        if (q != std::string::npos) info.query = resource.substr(q + 1);
        if (!with_headers) {
            info.origin = con->get_request_header("Origin");  // websocketpp matches names case-insensitively
            return info;
        }
        for (const auto& [name, value] : con->get_request().get_headers()) {
            std::string lower = name;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            info.headers[lower] = value;
        }
        auto origin = info.headers.find("origin");
        if (origin != info.headers.end()) info.origin = origin->second;
        return info;
    }

    /// Open handler: starts a session for `con` in `lobby`.
    client_ptr open(const connection_ptr& con, lobby_type& lobby) {
        con->set_max_message_size(lobby.limits().max_frame_bytes);
        if constexpr (std::is_base_of_v<detail::WsppLingeringSocket, connection_type>)
            con->set_close_linger(options_.close_linger);
        // Over TLS the socket carries records, not frames: only websocketpp may write.
        auto peer = std::make_shared<Peer>(
            con, options_.direct_writes && detail::can_write_directly && !con->is_secure());
        con->parley_peer_ = peer;
        con->set_ping_handler(&answer_ping);
        auto client = lobby.connect(peer, peer_info(con, options_.peer_headers));
        con->parley_session_ = client;
        if (options_.release_handshake) release_handshake(con);
        return client;
    }

    /// Frees websocketpp's copy of `con`'s opening handshake (see
    /// `Options::release_handshake`; open() does it when that is set). Call it
    /// on the connection's strand (in its open handler) once the handshake is
    /// over. websocketpp hands out the request and response as const
    /// references only; they are members of the (non-const) connection.
    static void release_handshake(const connection_ptr& con) {
        using request = typename Config::request_type;
        using response = typename Config::response_type;
        // A config of your own with websocketpp's plain parsers keeps them.
        if constexpr (std::is_base_of_v<detail::WsppHandshakeRequest, request>)
            const_cast<request&>(con->get_request()).release();
        if constexpr (std::is_base_of_v<detail::WsppHandshakeResponse, response>)
            const_cast<response&>(con->get_response()).release();
    }

    /// Message handler: a text (or binary: it must still be UTF-8 JSON) frame.
    static void message(const connection_ptr& con, const message_ptr& msg) {
        if (auto client = session(con)) client->receive(std::move(msg->get_raw_payload()));
    }

    /// Ping handler of every chat connection (open() installs it): the pong is
    /// queued behind the frames already sent, like any frame, and websocketpp
    /// is told not to write one of its own.
    static bool answer_ping(websocketpp::connection_hdl hdl, std::string payload) {
        auto con = std::static_pointer_cast<connection_type>(hdl.lock());
        if (!con) return false;
        if (auto peer = std::static_pointer_cast<Peer>(con->parley_peer_))
            queue(peer, detail::websocket_control_frame(0xA, payload));
        return false;
    }

    /// Pong handler.
    static void pong(const connection_ptr& con) {
        if (auto client = session(con)) client->pong();
    }

    /// Close handler (also fine as the fail handler): reports the end once.
    static void closed(const connection_ptr& con) {
        auto client = session(con);
        if (!client) return;
        con->parley_session_.reset();
        client->closed(close_code_seen(con));
    }

    /// The session of a connection, or null (not a chat connection, or ended).
    static client_ptr session(const connection_ptr& con) {
        return std::static_pointer_cast<client_type>(con->parley_session_);
    }

    /// TCP_NODELAY: chat frames are small and latency matters more than packet count.
    static void tune_socket(const connection_ptr& con) {
        websocketpp::lib::asio::error_code ec;
        con->get_raw_socket().set_option(websocketpp::lib::asio::ip::tcp::no_delay(true), ec);
    }

    /// Installs open, message, pong, close, fail and tcp_post_init handlers that
    /// route every WebSocket of `server` to `lobby`, and the frame size limit.
    /// Add your own validate handler (Origin, path) and http handler.
    void bind(server_type& server, lobby_type& lobby) {
        using websocketpp::connection_hdl;
        server.set_max_message_size(lobby.limits().max_frame_bytes);
        server.set_close_handshake_timeout(static_cast<long>(options_.close_handshake_timeout.count()));
        server.set_tcp_post_init_handler(
            [&server](connection_hdl hdl) { tune_socket(server.get_con_from_hdl(hdl)); });
        server.set_open_handler(
            [this, &server, &lobby](connection_hdl hdl) { open(server.get_con_from_hdl(hdl), lobby); });
        server.set_message_handler([&server](connection_hdl hdl, message_ptr msg) {
            message(server.get_con_from_hdl(hdl), msg);
        });
        server.set_pong_handler([&server](connection_hdl hdl, std::string) {
            pong(server.get_con_from_hdl(hdl));
        });
        server.set_close_handler(
            [&server](connection_hdl hdl) { closed(server.get_con_from_hdl(hdl)); });
    }

    /// Drops `con` now, on its strand: no close frame, queued output discarded,
    /// and an RST so the kernel frees its buffers too. Then the close handler runs.
    static void drop(const connection_ptr& con) {
        on_strand(con, [con] { drop_now(con); });
    }

private:
    /// websocketpp's connection is not thread-safe outside send(): anything else
    /// runs on the connection's strand (where its own handlers run).
    template <class F>
    static void on_strand(const connection_ptr& con, F&& f) {
        if (auto strand = con->get_strand())
            websocketpp::lib::asio::post(*strand, std::forward<F>(f));
        else
            f();
    }

    /// Appends one whole wire frame to the connection's outbox; the first
    /// append after a flush posts the next flush to the connection's strand.
    static void queue(const handle_type& h, std::string_view wire) {
        if (h->closing.load(std::memory_order_acquire)) return;
        if (!h->outbox.append(wire)) return;  // a flush is already on its way
        auto con = h->connection.lock();
        if (!con) return h->outbox.discard();
        on_strand(con, [con, peer = h] { flush(con, *peer); });
    }

    /// On the connection's strand: writes the outbox's pending frames to the
    /// socket (see Options::direct_writes) or hands them to websocketpp as one
    /// batch. Only while the connection is open: once websocketpp closes it, it
    /// writes the close frame itself, and nothing may follow that. If it is no
    /// longer open, send() refuses the batch, which dies here, taking its count
    /// back. Frames appended during a direct write are flushed by another turn
    /// on the strand (so a flood collects them into bigger writes), or at once
    /// when `drain` (a close frame is about to follow).
    static void flush(const connection_ptr& con, Peer& peer, bool drain = false) {
        using Message = typename Config::message_type;
        const bool direct =
            peer.direct_writes && con->get_state() == websocketpp::session::state::open;
        const int fd = direct ? static_cast<int>(con->get_raw_socket().native_handle()) : -1;
        bool again = false;
        do {
            auto batch = peer.outbox.template flush<Message>(
                [fd](const char* data, std::size_t size) {
                    return detail::write_nonblocking(fd, data, size);
                },
                direct, again);
            if (batch) con->send(batch);
        } while (again && drain);
        if (again)
            on_strand(con, [con, p = std::static_pointer_cast<Peer>(con->parley_peer_)] {
                if (p) flush(con, *p);
            });
    }

    static void drop_now(const connection_ptr& con) {
        if (auto peer = std::static_pointer_cast<Peer>(con->parley_peer_)) peer->outbox.discard();
        const auto state = con->get_state();
        if (state == websocketpp::session::state::closed) return;
        websocketpp::lib::asio::error_code ec;
        con->get_raw_socket().set_option(websocketpp::lib::asio::socket_base::linger(true, 0), ec);
        con->terminate(websocketpp::error::make_error_code(websocketpp::error::operation_canceled));
    }

    /// The close code to report to the core: the peer's when it sent a real one,
    /// 1000 for a clean close without a code, else ours, else 1006 (dropped).
    static std::uint16_t close_code_seen(const connection_ptr& con) {
        namespace status = websocketpp::close::status;
        const auto remote = con->get_remote_close_code();
        if (remote == status::no_status) return close_code::normal;
        if (remote != status::abnormal_close && remote != status::blank) return remote;
        const auto local = con->get_local_close_code();
        if (local != status::abnormal_close && local != status::blank && local != status::no_status)
            return local;
        return close_code::abnormal;
    }

    Options options_;
};

PARLEY_NAMESPACE_END
