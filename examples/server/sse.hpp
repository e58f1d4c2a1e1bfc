// parley-server: GET /api/lobby/events, the lobby feed as Server-Sent Events.
//
// The stream starts with a `rooms` snapshot, then `room_update` and
// `room_removed` as things change; the data of each event is the same JSON
// object the WebSocket lobby feed carries. A comment line every 15 s keeps
// proxies from timing the stream out and finds dead clients (the write fails).
//
// websocketpp has no streaming HTTP responses, so the handler defers the
// response and takes over the socket: it writes the head and the events itself
// with asio::async_write, one write at a time, on the connection's strand (the
// one websocketpp's own handlers for it use). The stream object holds the
// connection, so the socket lives as long as the stream; closing the socket
// ends it.
#pragma once

#include "http_util.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley_server {

class SseStream;

/// The open streams, so shutdown can end them all. Touched on open and close only.
class SseRegistry {
public:
    std::uint64_t add(const std::shared_ptr<SseStream>& stream) {
        std::lock_guard<std::mutex> lock(mutex_);
        streams_[++next_] = stream;
        return next_;
    }
    void remove(std::uint64_t id) {
        std::lock_guard<std::mutex> lock(mutex_);
        streams_.erase(id);
    }
    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return streams_.size();
    }
    /// Ends every stream (each on its own strand).
    inline void close_all();

private:
    mutable std::mutex mutex_;
    std::map<std::uint64_t, std::weak_ptr<SseStream>> streams_;
    std::uint64_t next_ = 0;
};

class SseStream : public std::enable_shared_from_this<SseStream> {
public:
    /// Comment line interval: below the common 30-60 s proxy idle timeouts.
    static constexpr std::chrono::seconds heartbeat_interval{15};
    /// Unwritten bytes a stream may queue; a client that does not read is cut off.
    static constexpr std::size_t max_backlog_bytes = 256 * 1024;
    /// A client has nothing to send after its request; this much is misbehaviour.
    static constexpr std::size_t max_inbound_bytes = 4096;

    SseStream(ConnectionPtr con, Lobby& lobby, SseRegistry& registry)
        : con_(std::move(con)),
          strand_(con_->get_strand()),
          lobby_(lobby),
          registry_(registry),
          heartbeat_(con_->get_raw_socket().get_executor()) {}

    /// Starts the stream; call from websocketpp's http handler (the connection's strand).
    static void open(const ConnectionPtr& con, Lobby& lobby, SseRegistry& registry) {
        con->defer_http_response();
        auto stream = std::make_shared<SseStream>(con, lobby, registry);
        stream->start();
    }

    /// Ends the stream from any thread.
    void close() {
        asio::post(*strand_, [self = shared_from_this()] { self->close_now(); });
    }

private:
    void start() {
        registry_id_ = registry_.add(shared_from_this());
        enqueue(
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "X-Accel-Buffering: no\r\n"
            "Connection: close\r\n"
            "\r\n"
            "retry: 2000\n\n");
        std::weak_ptr<SseStream> weak = shared_from_this();
        watch_id_ = lobby_.watch([weak](std::string_view event, const parley::SharedFrame& frame) {
            // On the Lobby's lane: format here, write on the stream's strand.
            auto self = weak.lock();
            if (!self) return;
            std::string text;
            text.reserve(event.size() + frame->size() + 16);
            text.append("event: ").append(event).append("\ndata: ").append(frame->text()).append("\n\n");
            asio::post(*self->strand_, [self, text = std::move(text)]() mutable {
                self->enqueue(std::move(text));
            });
        });
        watching_ = true;
        read_some();
        arm_heartbeat();
    }

    void enqueue(std::string text) {
        if (closed_) return;
        backlog_ += text.size();
        if (backlog_ > max_backlog_bytes) return close_now();
        queue_.push_back(std::move(text));
        if (!writing_) write_next();
    }

    void write_next() {
        if (queue_.empty() || closed_) return;
        writing_ = true;
        asio::async_write(con_->get_raw_socket(), asio::buffer(queue_.front()),
                          asio::bind_executor(*strand_, [self = shared_from_this()](
                                                            const asio::error_code& ec, std::size_t) {
                              self->writing_ = false;
                              if (ec || self->closed_) return self->close_now();
                              self->backlog_ -= self->queue_.front().size();
                              self->queue_.pop_front();
                              self->write_next();
                          }));
    }

    /// The client never speaks after its request, so a completed read means it
    /// closed the connection (or broke the protocol): end the stream.
    void read_some() {
        con_->get_raw_socket().async_read_some(
            asio::buffer(inbound_),
            asio::bind_executor(*strand_, [self = shared_from_this()](const asio::error_code& ec,
                                                                      std::size_t n) {
                if (ec) return self->close_now();
                self->inbound_total_ += n;
                if (self->inbound_total_ > max_inbound_bytes) return self->close_now();
                self->read_some();
            }));
    }

    void arm_heartbeat() {
        heartbeat_.expires_after(heartbeat_interval);
        heartbeat_.async_wait(asio::bind_executor(
            *strand_, [self = shared_from_this()](const asio::error_code& ec) {
                if (ec || self->closed_) return;
                self->enqueue(": heartbeat\n\n");
                self->arm_heartbeat();
            }));
    }

    void close_now() {
        if (closed_) return;
        closed_ = true;
        if (watching_) lobby_.unwatch(watch_id_);
        heartbeat_.cancel();
        asio::error_code ignored;
        auto& socket = con_->get_raw_socket();
        socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        registry_.remove(registry_id_);
        queue_.clear();
    }

    ConnectionPtr con_;  // keeps the socket alive while the stream runs
    std::shared_ptr<asio::io_context::strand> strand_;
    Lobby& lobby_;
    SseRegistry& registry_;
    asio::steady_timer heartbeat_;

    // On the strand only.
    std::deque<std::string> queue_;
    std::size_t backlog_ = 0;
    bool writing_ = false;
    bool closed_ = false;
    bool watching_ = false;
    std::uint64_t watch_id_ = 0;
    std::uint64_t registry_id_ = 0;
    std::array<char, 512> inbound_{};
    std::size_t inbound_total_ = 0;
};

inline void SseRegistry::close_all() {
    std::vector<std::shared_ptr<SseStream>> live;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& [id, weak] : streams_)
            if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->close();
}

}  // namespace parley_server
