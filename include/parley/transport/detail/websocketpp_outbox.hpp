// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Internal to <parley/transport/websocketpp.hpp>: one connection's outbound
// frames between the core's send() and websocketpp.
#pragma once

#include <parley/transport/detail/websocketpp_message.hpp>
#include <parley/version.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Frames sent to one connection and not yet written or handed to
/// websocketpp, appended back to back in one buffer (each frame is already
/// whole: header and payload). A broadcast copies the shared wire bytes in here
/// instead of queuing a message per recipient in websocketpp (an allocation,
/// two of its mutexes and a dispatch each); one flush on the connection's
/// strand then takes everything that piled up. When websocketpp holds nothing
/// of this connection, the flush writes those bytes to the socket itself with
/// one non-blocking `send` (no allocation, no handler, no completion to wait
/// for); only what the socket does not take becomes a batch that websocketpp
/// writes when the socket drains, and while any batch is with websocketpp every
/// later flush queues behind it, so the bytes keep their order.
///
/// Any thread may append; flushes and discards run on the connection's strand.
class WsppOutbox {
public:
    /// Queues `wire` (one whole frame). True when the caller must schedule a
    /// flush (none is pending yet).
    bool append(std::string_view wire) {
        backlog_.bytes.fetch_add(wire.size(), std::memory_order_relaxed);
        backlog_.frames.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(mutex_);
        if (pending_.capacity() < first_reserve) pending_.reserve(first_reserve);
        pending_.append(wire.data(), wire.size());
        ++pending_frames_;
        if (flush_scheduled_) return false;
        flush_scheduled_ = true;
        return true;
    }

    /// On the connection's strand: passes on what is pending. When `direct`
    /// and no batch of this connection is with websocketpp, `write(data, size)`
    /// (a non-blocking socket write returning the bytes taken, or a negative
    /// number when none were) gets the bytes first, and the outbox's lock is not
    /// held meanwhile, so appends go on. What is left, or everything when
    /// writing directly is not possible, is returned as a batch for websocketpp
    /// (null when there is none), which keeps counting in the backlog until
    /// websocketpp releases it. `again` is set when frames were appended
    /// during a complete write: the flush stays scheduled (those appends posted
    /// none) and the caller must flush once more.
    template <class Message, class Write>
    typename Message::ptr flush(Write&& write, bool direct, bool& again) {
        again = false;
        std::string wire;
        std::size_t frames = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (pending_frames_ == 0) {
                flush_scheduled_ = false;
                return nullptr;
            }
            wire.swap(pending_);
            frames = pending_frames_;
            pending_frames_ = 0;
            if (!direct || backlog_.batches.load(std::memory_order_acquire) != 0) {
                flush_scheduled_ = false;
                return Message::batch(std::move(wire), frames, backlog_);
            }
        }
        const auto written = write(wire.data(), wire.size());
        const std::size_t taken = written > 0 ? static_cast<std::size_t>(written) : 0;
        std::lock_guard<std::mutex> lock(mutex_);
        if (taken == wire.size()) {
            backlog_.bytes.fetch_sub(wire.size(), std::memory_order_relaxed);
            backlog_.frames.fetch_sub(frames, std::memory_order_relaxed);
            // The buffer goes with `wire`: an idle connection holds none.
            if (pending_frames_ != 0) {
                again = true;
                return nullptr;
            }
            flush_scheduled_ = false;
            return nullptr;
        }
        // The rest of a frame must reach the socket before anything else: it
        // leads the batch, whose count keeps the written part until it is done.
        const std::size_t counted = wire.size() + pending_.size();
        wire.erase(0, taken);
        wire.append(pending_);
        pending_.clear();
        frames += pending_frames_;
        pending_frames_ = 0;
        flush_scheduled_ = false;
        return Message::batch(std::move(wire), frames, backlog_, counted);
    }

    /// Drops what is pending (the connection is being cut, or is gone). The
    /// next append asks for a flush again, so frames never pile up unflushed
    /// behind a flush that was never scheduled.
    void discard() {
        std::string dropped;
        std::size_t frames = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            dropped.swap(pending_);
            frames = pending_frames_;
            pending_frames_ = 0;
            flush_scheduled_ = false;
        }
        backlog_.bytes.fetch_sub(dropped.size(), std::memory_order_relaxed);
        backlog_.frames.fetch_sub(frames, std::memory_order_relaxed);
    }

    /// The connection is closing without its backlog (see
    /// WebsocketppTransport::close): drops what is pending, and the batches
    /// websocketpp holds and has not started writing go out empty, so the close
    /// frame queued next follows only the write under way. On the strand.
    void cancel() {
        backlog_.cancelled.store(true, std::memory_order_release);
        discard();
    }

    std::size_t bytes() const { return backlog_.bytes.load(std::memory_order_relaxed); }
    std::size_t frames() const { return backlog_.frames.load(std::memory_order_relaxed); }

private:
    /// A batch's buffer starts at this size (a few frames) rather than doubling
    /// up from nothing; it is handed over with the batch, so an idle connection
    /// holds none.
    static constexpr std::size_t first_reserve = 1024;

    WsppBacklog backlog_;  // pending here + batches websocketpp has not finished writing
    std::mutex mutex_;
    std::string pending_;
    std::size_t pending_frames_ = 0;
    bool flush_scheduled_ = false;
};

}  // namespace detail
PARLEY_NAMESPACE_END
