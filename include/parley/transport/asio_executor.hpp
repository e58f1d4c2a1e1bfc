// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// The executor half of the Transport policy (see <parley/transport.hpp>,
// `is_executor_v`) on an Asio io_context: lanes are strands, timers are
// waitable timers. A transport on Asio derives from it and adds only the
// connection half (send, close, ping, buffered counts); WebsocketppTransport
// does. Standalone Asio (ASIO_STANDALONE) by default; Boost.Asio when
// PARLEY_WEBSOCKETPP_BOOST_ASIO is defined, as websocketpp is then built on it.
#pragma once

#if defined(PARLEY_WEBSOCKETPP_BOOST_ASIO)
#include <boost/asio.hpp>
#else
#if !defined(ASIO_STANDALONE)
#define ASIO_STANDALONE
#endif
#include <asio.hpp>
#endif

#include <parley/task.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

namespace detail {
#if defined(PARLEY_WEBSOCKETPP_BOOST_ASIO)
namespace asio_lib = ::boost::asio;
#else
namespace asio_lib = ::asio;
#endif
}  // namespace detail

/// Lanes, posts, clocks and timers on one io_context (the `is_executor_v` part
/// of the Transport policy):
///
/// | requirement   | here                                                                  |
/// |---------------|-----------------------------------------------------------------------|
/// | `lane_type`   | `strand<io_context::executor_type>`; `make_lane()` hands out the strands of a fixed pool in turn (`lanes`, 0: a new strand each time) |
/// | `post`        | `asio::post` onto the strand                                           |
/// | `now`, `wall_now` | `steady_clock::now()`, `system_clock::now()`                       |
/// | `timer_type`  | `shared_ptr` to a timer on the io_context's executor (one pointer: a strand executor would be type-erased into an allocation of its own per timer); the task runs on its lane; a cancelled timer's task never runs; default-constructed: no timer |
///
/// Thread-safe: any thread may make lanes, post and start timers;
/// `cancel_timer` is called on the timer's own lane (the core's rule).
class AsioExecutor {
public:
    using io_context = detail::asio_lib::io_context;
    using executor_type = io_context::executor_type;
    using lane_type = detail::asio_lib::strand<executor_type>;
    using timer_object = detail::asio_lib::basic_waitable_timer<
        std::chrono::steady_clock, detail::asio_lib::wait_traits<std::chrono::steady_clock>,
        executor_type>;
    using timer_type = std::shared_ptr<timer_object>;

    /// `lanes`: how many strands `make_lane()` shares out (see
    /// WebsocketppTransport::Options::lanes for why a pool).
    explicit AsioExecutor(io_context& io, std::size_t lanes = 256) : io_(io) {
        lanes_.reserve(lanes);
        for (std::size_t i = 0; i < lanes; ++i)
            lanes_.push_back(detail::asio_lib::make_strand(io_.get_executor()));
    }

    AsioExecutor(const AsioExecutor&) = delete;
    AsioExecutor& operator=(const AsioExecutor&) = delete;

    io_context& context() noexcept { return io_; }

    lane_type make_lane() {
        if (lanes_.empty()) return detail::asio_lib::make_strand(io_.get_executor());
        return lanes_[next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size()];
    }

    void post(lane_type& lane, Task task) { detail::asio_lib::post(lane, std::move(task)); }

    std::chrono::steady_clock::time_point now() const { return std::chrono::steady_clock::now(); }
    std::chrono::system_clock::time_point wall_now() const {
        return std::chrono::system_clock::now();
    }

    timer_type start_timer(lane_type& lane, std::chrono::milliseconds delay, Task task) {
        auto timer = std::make_shared<timer_object>(io_.get_executor(), delay);
        timer->async_wait(detail::asio_lib::bind_executor(
            lane, [timer, task = std::move(task)](const auto& ec) {
                if (ec == detail::asio_lib::error::operation_aborted) return;
                task();
            }));
        return timer;
    }

    /// Called on the timer's own lane (the core's rule), so it never races the wait.
    void cancel_timer(timer_type& timer) {
        if (timer) timer->cancel();
    }

private:
    io_context& io_;
    std::vector<lane_type> lanes_;
    std::atomic<std::size_t> next_lane_{0};
};

static_assert(is_executor_v<AsioExecutor>, "parley::AsioExecutor must model the executor part");

PARLEY_NAMESPACE_END
