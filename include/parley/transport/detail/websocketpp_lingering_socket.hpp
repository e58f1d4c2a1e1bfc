// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Internal to <parley/transport/websocketpp.hpp>: websocketpp's plain TCP
// socket policy with a lingering close, so a close frame parley sends is not
// destroyed by a TCP reset when the peer is still writing.
#pragma once

#if !defined(ASIO_STANDALONE) && !defined(PARLEY_WEBSOCKETPP_BOOST_ASIO)
#define ASIO_STANDALONE
#endif

#include <parley/version.hpp>

#include <websocketpp/transport/asio/security/none.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// websocketpp's `basic_socket` connection (plain TCP) with one change: how it
/// ends. websocketpp shuts both directions down and closes the socket; when
/// the peer is still sending (a 4 MiB frame over the size limit: websocketpp
/// stops reading the moment it sees the frame's header), the kernel answers
/// the unread bytes with a TCP reset, and a reset makes the peer throw away
/// what it has not read yet, our close frame included: it sees 1006 instead
/// of the code we sent.
///
/// Here the end is a lingering close, as HTTP servers do it: shut down the
/// sending side only (a FIN after everything written, the close frame
/// included), report the end to websocketpp at once (so the application hears
/// the close without waiting), then keep reading and discarding whatever the
/// peer still sends until it closes its side too. Only then is the socket
/// closed, with nothing unread, so no reset. A peer that neither stops sending
/// nor closes holds the socket for `close_linger` at most; then it is closed
/// anyway.
class WsppLingeringSocket : public websocketpp::transport::asio::basic_socket::connection {
    using base = websocketpp::transport::asio::basic_socket::connection;

public:
    using type = WsppLingeringSocket;
    using ptr = std::shared_ptr<type>;

    /// How long the socket may keep draining after the connection ended.
    static constexpr std::chrono::milliseconds default_close_linger{2000};

    /// Set before the connection ends (the transport does it at open).
    void set_close_linger(std::chrono::milliseconds linger) { linger_ = linger; }
    std::chrono::milliseconds close_linger() const { return linger_; }

protected:
    /// Keeps the connection's strand (websocketpp's connection holds the same
    /// one): the drain's handlers run on it, beside websocketpp's own.
    websocketpp::lib::error_code init_asio(io_service_ptr service, strand_ptr strand,
                                           bool is_server) {
        service_ = service;
        strand_ = strand;
        return base::init_asio(service, std::move(strand), is_server);
    }

    /// Called by websocketpp's `terminate`, on the connection's strand.
    void async_shutdown(websocketpp::transport::asio::socket::shutdown_handler done) {
        auto& socket = get_raw_socket();
        websocketpp::lib::asio::error_code ec;
        websocketpp::lib::asio::socket_base::linger abortive;
        socket.get_option(abortive, ec);
        if (!ec && abortive.enabled() && abortive.timeout() == 0) {
            // SO_LINGER 0: the transport asked for a reset (WebsocketppTransport::drop).
            socket.close(ec);
            return done(ec);
        }
        socket.shutdown(websocketpp::lib::asio::ip::tcp::socket::shutdown_send, ec);
        done(ec);
        if (!ec) linger();
    }

private:
    /// What one drain owns: a discard buffer (never read) and its deadline.
    struct Drain {
        explicit Drain(websocketpp::lib::asio::io_service& io) : deadline(io) {}
        std::array<char, 4096> sink{};
        websocketpp::lib::asio::steady_timer deadline;
    };

    /// Runs `handler` through the strand when there is one, else directly.
    template <class Handler>
    struct WrappedHandler {
        strand_ptr strand;
        Handler handler;
        template <class... Args>
        void operator()(Args... args) {
            if (!strand) return handler(args...);
            strand->dispatch([h = std::move(handler), args...]() mutable { h(args...); });
        }
    };

    /// `handler`, run on the connection's strand when there is one.
    template <class Handler>
    auto wrap(Handler handler) {
        return WrappedHandler<Handler>{strand_, std::move(handler)};
    }

    void linger() {
        // The whole websocketpp connection shares this control block, so the
        // drain keeps all of it (and the socket) alive until it ends.
        auto self = std::static_pointer_cast<type>(get_shared());
        auto drain = std::make_shared<Drain>(*service_);
        drain->deadline.expires_after(linger_);
        drain->deadline.async_wait(
            wrap([self, drain](const websocketpp::lib::asio::error_code& ec) {
                if (ec == websocketpp::lib::asio::error::operation_aborted) return;
                self->finish();
            }));
        read_more(std::move(self), std::move(drain));
    }

    static void read_more(ptr self, std::shared_ptr<Drain> drain) {
        auto& socket = self->get_raw_socket();
        auto buffer = websocketpp::lib::asio::buffer(drain->sink);
        socket.async_read_some(
            buffer, self->wrap([self, drain](const websocketpp::lib::asio::error_code& ec,
                                             std::size_t) mutable {
                if (!ec) return read_more(std::move(self), std::move(drain));
                // The peer's FIN (or an error, or the deadline closed the socket).
                drain->deadline.cancel();
                self->finish();
            }));
    }

    void finish() {
        websocketpp::lib::asio::error_code ignored;
        get_raw_socket().close(ignored);
    }

    io_service_ptr service_ = nullptr;
    strand_ptr strand_;
    std::chrono::milliseconds linger_ = default_close_linger;
};

/// The endpoint half of the socket policy: websocketpp's plain one, making
/// WsppLingeringSocket connections.
class WsppLingeringSocketEndpoint : public websocketpp::transport::asio::basic_socket::endpoint {
public:
    using type = WsppLingeringSocketEndpoint;
    using socket_con_type = WsppLingeringSocket;
    using socket_con_ptr = WsppLingeringSocket::ptr;
};

}  // namespace detail
PARLEY_NAMESPACE_END
