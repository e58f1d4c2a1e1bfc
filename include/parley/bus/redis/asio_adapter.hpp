// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <asio.hpp>
#include <hiredis/async.h>

#include <memory>

#include <sys/ioctl.h>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Drives one hiredis async context from an Asio strand: hiredis says which
/// readiness it wants (addRead/addWrite ...), the socket is waited on for it,
/// and every hiredis call happens on the strand. hiredis owns the file
/// descriptor: `cleanup` releases it without closing it.
class RedisAsioAdapter : public std::enable_shared_from_this<RedisAsioAdapter> {
public:
    using Strand = asio::strand<asio::io_context::executor_type>;

    /// Hooks `ac` up; the adapter lives until hiredis calls `cleanup`.
    static void attach(redisAsyncContext* ac, asio::io_context& io, const Strand& strand) {
        auto adapter = std::shared_ptr<RedisAsioAdapter>(new RedisAsioAdapter(ac, io, strand));
        adapter->self_ = adapter;
        ac->ev.data = adapter.get();
        ac->ev.addRead = [](void* p) { static_cast<RedisAsioAdapter*>(p)->want(true, true); };
        ac->ev.delRead = [](void* p) { static_cast<RedisAsioAdapter*>(p)->want(true, false); };
        ac->ev.addWrite = [](void* p) { static_cast<RedisAsioAdapter*>(p)->want(false, true); };
        ac->ev.delWrite = [](void* p) { static_cast<RedisAsioAdapter*>(p)->want(false, false); };
        ac->ev.cleanup = [](void* p) { static_cast<RedisAsioAdapter*>(p)->detach(); };
    }

private:
    RedisAsioAdapter(redisAsyncContext* ac, asio::io_context& io, const Strand& strand)
        : ac_(ac), strand_(strand), socket_(io, ac->c.fd) {}

    void want(bool read, bool on) {
        (read ? want_read_ : want_write_) = on;
        if (on) arm(read);
    }

    void arm(bool read) {
        bool& waiting = read ? reading_ : writing_;
        if (waiting || !ac_) return;
        waiting = true;
        socket_.async_wait(
            read ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write,
            asio::bind_executor(strand_, [self = shared_from_this(), read](const asio::error_code& ec) {
                (read ? self->reading_ : self->writing_) = false;
                if (ec || !self->ac_) return;
                if (!(read ? self->want_read_ : self->want_write_)) return;
                // May free the context (a disconnect), which calls detach() inside.
                if (read) {
                    self->arm(true);  // before reading: an edge from now on wakes this wait
                    self->read_buffered();
                } else {
                    redisAsyncHandleWrite(self->ac_);
                    if (self->ac_ && self->want_write_) self->arm(false);
                }
            }));
    }

    /// hiredis 0.14 reads at most 16 KiB per redisAsyncHandleRead, and an Asio
    /// wait is not told about bytes that arrived before it was armed (the epoll
    /// reactor is edge-triggered): read until the kernel buffer is empty, or the
    /// rest of a large reply could wait for unrelated traffic (or a timeout).
    /// The next read wait is armed before this runs, so nothing arriving after
    /// the last FIONREAD goes unnoticed; a wake-up finding nothing is harmless
    /// (hiredis treats EAGAIN as "try later").
    void read_buffered() {
        do {
            redisAsyncHandleRead(ac_);
        } while (ac_ && want_read_ && buffered() > 0);
    }

    int buffered() const {
        int bytes = 0;
        if (!ac_ || ::ioctl(ac_->c.fd, FIONREAD, &bytes) != 0) return 0;
        return bytes;
    }

    /// hiredis is freeing the context: stop waiting and hand the fd back.
    void detach() {
        ac_ = nullptr;
        want_read_ = want_write_ = false;
        asio::error_code ignored;
        socket_.cancel(ignored);
        socket_.release();
        auto last = std::move(self_);  // pending waits still hold the adapter until they finish
    }

    redisAsyncContext* ac_;
    Strand strand_;
    asio::posix::stream_descriptor socket_;
    bool want_read_ = false, want_write_ = false;
    bool reading_ = false, writing_ = false;
    std::shared_ptr<RedisAsioAdapter> self_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
