// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/frame.hpp>
#include <parley/task.hpp>
#include <parley/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

PARLEY_NAMESPACE_BEGIN

/// What the embedder knows about a connection when it opens.
struct PeerInfo {
    std::string remote_address;
    std::string origin;
    std::string path;
    std::string query;
    std::map<std::string, std::string> headers;  ///< lower-case names
};

/// WebSocket close codes parley uses.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;  ///< server shutdown
inline constexpr std::uint16_t abnormal = 1006;    ///< no close frame (drop); never sent
inline constexpr std::uint16_t invalid_payload = 1007;  ///< invalid UTF-8
inline constexpr std::uint16_t policy = 1008;           ///< sustained abuse
inline constexpr std::uint16_t too_big = 1009;          ///< frame over the limit
inline constexpr std::uint16_t try_again_later = 1013;  ///< slow consumer
}  // namespace close_code

/*
The Transport policy
====================

`Lobby<Transport>`, `Hub<Transport>` and `Client<Transport>` reach the outside
world only through this policy. `t` is a `Transport&`, `lane` a `lane_type&`,
`h` a `const handle_type&`, `f` a `SharedFrame`, `task` a `parley::Task`.

| requirement                              | meaning                                                              |
|------------------------------------------|----------------------------------------------------------------------|
| `Transport::handle_type`                 | copyable id of one connection                                         |
| `Transport::lane_type`                   | copyable handle of a serial lane (strand): tasks on it run one at a time, in post order |
| `Transport::timer_type`                  | default-constructible, move-assignable handle of a one-shot timer; the core keeps one per pending timeout as a member, default-constructed until it is started, and may cancel it in that state |
| `t.make_lane() -> lane_type`             | a lane on the transport's executor; it may be shared (the core relies on serial order only) |
| `t.post(lane, task)`                     | run `task` on `lane` later (never inline); callable from any thread   |
| `t.now() -> steady_clock::time_point`    | monotonic time (virtual in tests)                                    |
| `t.wall_now() -> system_clock::time_point` | wall-clock time for message timestamps                             |
| `t.start_timer(lane, milliseconds, task) -> timer_type` | run `task` on `lane` after the delay                 |
| `t.cancel_timer(timer)`                  | best effort: the task may still run if it was already due, so the core re-checks its own state; harmless on a default-constructed or already fired timer |
| `t.send(h, f)`                           | queue `f` for the connection; thread-safe; the same `f` goes to many connections |
| `t.close(h, code, reason)`               | start closing: the peer gets a close frame with `code` (queued output may be dropped so it need not wait); later, never inside this call, report the close through `Client::closed` |
| `t.ping(h)`                              | send a WebSocket ping (the embedder forwards pongs to `Client::pong`)  |
| `t.buffered_amount(h) -> size_t`         | bytes queued and not yet written to the socket                        |
| `t.buffered_frames(h) -> size_t`         | frames queued and not yet written                                     |

Inbound events go the other way: the embedder calls `Lobby::connect` on open and
then `Client::receive`, `Client::pong` and `Client::closed` from any thread.

Handle lifetime: `send`, `close`, `ping` and the buffered counts must be
harmless (do nothing) for a handle whose connection has closed, including after
`Client::closed` was called. The core stops calling them once a lane sees that
report, but a lane already in the middle of a broadcast may still make one such
call while the report is on its way. So `handle_type` must stay valid as long as
the core holds it (until the Client is released): a `shared_ptr`, a `weak_ptr`
or an id looked up in a table, never a raw pointer to a connection the embedder
frees on close. docs/embedding.md has the details.
*/

namespace detail {

template <class...>
using void_t = void;

template <class T, class = void>
struct has_handle_type : std::false_type {};
template <class T>
struct has_handle_type<T, void_t<typename T::handle_type>> : std::true_type {};

template <class T, class = void>
struct has_lane_type : std::false_type {};
template <class T>
struct has_lane_type<T, void_t<typename T::lane_type>> : std::true_type {};

template <class T, class = void>
struct has_timer_type : std::false_type {};
template <class T>
struct has_timer_type<T, void_t<typename T::timer_type>> : std::true_type {};

/// The core declares timers as members before starting them and moves new
/// ones in: `timer_type t{}; t = start_timer(...)`.
template <class T, class = void>
struct has_timer_value : std::false_type {};
template <class T>
struct has_timer_value<T, void_t<typename T::timer_type>>
    : std::bool_constant<std::is_default_constructible_v<typename T::timer_type> &&
                         std::is_move_assignable_v<typename T::timer_type> &&
                         std::is_move_constructible_v<typename T::timer_type>> {};

template <class T, class = void>
struct has_make_lane : std::false_type {};
template <class T>
struct has_make_lane<T, std::enable_if_t<std::is_same_v<
                            decltype(std::declval<T&>().make_lane()), typename T::lane_type>>>
    : std::true_type {};

template <class T, class = void>
struct has_post : std::false_type {};
template <class T>
struct has_post<T, void_t<decltype(std::declval<T&>().post(
                       std::declval<typename T::lane_type&>(), std::declval<Task>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_now : std::false_type {};
template <class T>
struct has_now<T, std::enable_if_t<std::is_same_v<decltype(std::declval<T&>().now()),
                                                  std::chrono::steady_clock::time_point>>>
    : std::true_type {};

template <class T, class = void>
struct has_wall_now : std::false_type {};
template <class T>
struct has_wall_now<T, std::enable_if_t<std::is_same_v<decltype(std::declval<T&>().wall_now()),
                                                       std::chrono::system_clock::time_point>>>
    : std::true_type {};

template <class T, class = void>
struct has_timers : std::false_type {};
template <class T>
struct has_timers<
    T, std::enable_if_t<
           std::is_same_v<decltype(std::declval<T&>().start_timer(
                              std::declval<typename T::lane_type&>(),
                              std::chrono::milliseconds{}, std::declval<Task>())),
                          typename T::timer_type> &&
           std::is_void_v<decltype(std::declval<T&>().cancel_timer(
               std::declval<typename T::timer_type&>()))>>> : std::true_type {};

template <class T, class = void>
struct has_send : std::false_type {};
template <class T>
struct has_send<T, void_t<decltype(std::declval<T&>().send(
                       std::declval<const typename T::handle_type&>(), std::declval<SharedFrame>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_close : std::false_type {};
template <class T>
struct has_close<T, void_t<decltype(std::declval<T&>().close(
                        std::declval<const typename T::handle_type&>(), std::uint16_t{},
                        std::string_view{}))>> : std::true_type {};

template <class T, class = void>
struct has_ping : std::false_type {};
template <class T>
struct has_ping<T, void_t<decltype(std::declval<T&>().ping(
                       std::declval<const typename T::handle_type&>()))>> : std::true_type {};

template <class T, class = void>
struct has_buffered : std::false_type {};
template <class T>
struct has_buffered<
    T, std::enable_if_t<
           std::is_convertible_v<decltype(std::declval<T&>().buffered_amount(
                                     std::declval<const typename T::handle_type&>())),
                                 std::size_t> &&
           std::is_convertible_v<decltype(std::declval<T&>().buffered_frames(
                                     std::declval<const typename T::handle_type&>())),
                                 std::size_t>>> : std::true_type {};

}  // namespace detail

/// True when `T` models the executor part of the policy: `lane_type`,
/// `timer_type`, `make_lane`, `post`, `now`, `wall_now`, `start_timer` and
/// `cancel_timer`. It knows nothing of connections; parley::AsioExecutor
/// (<parley/transport/asio_executor.hpp>) is one, for transports on Asio.
template <class T>
inline constexpr bool is_executor_v =
    detail::has_lane_type<T>::value && detail::has_timer_type<T>::value &&
    detail::has_timer_value<T>::value && detail::has_make_lane<T>::value &&
    detail::has_post<T>::value && detail::has_now<T>::value && detail::has_wall_now<T>::value &&
    detail::has_timers<T>::value;

/// True when `T` models the connection part of the policy: `handle_type`,
/// `send`, `close`, `ping`, `buffered_amount` and `buffered_frames`.
template <class T>
inline constexpr bool is_connection_port_v =
    detail::has_handle_type<T>::value && detail::has_send<T>::value &&
    detail::has_close<T>::value && detail::has_ping<T>::value && detail::has_buffered<T>::value;

/// True when `T` models the Transport policy (see the table above): both
/// parts, usually an executor (say parley::AsioExecutor) as a base class
/// with the connection part added.
template <class T>
inline constexpr bool is_transport_v =
    detail::has_handle_type<T>::value && detail::has_lane_type<T>::value &&
    detail::has_timer_type<T>::value && detail::has_timer_value<T>::value &&
    detail::has_make_lane<T>::value &&
    detail::has_post<T>::value && detail::has_now<T>::value && detail::has_wall_now<T>::value &&
    detail::has_timers<T>::value && detail::has_send<T>::value && detail::has_close<T>::value &&
    detail::has_ping<T>::value && detail::has_buffered<T>::value;

namespace detail {

/// Instantiated by every core type: names the first missing requirement.
template <class T>
constexpr bool check_transport() {
    static_assert(has_handle_type<T>::value, "parley: Transport must define handle_type");
    static_assert(has_lane_type<T>::value, "parley: Transport must define lane_type");
    static_assert(has_timer_type<T>::value, "parley: Transport must define timer_type");
    if constexpr (has_handle_type<T>::value && has_lane_type<T>::value && has_timer_type<T>::value) {
        static_assert(has_timer_value<T>::value,
                      "parley: Transport::timer_type must be default-constructible and "
                      "move-assignable (the core keeps an idle timer as a member)");
        static_assert(has_make_lane<T>::value,
                      "parley: Transport must provide lane_type make_lane()");
        static_assert(has_post<T>::value,
                      "parley: Transport must provide post(lane_type&, parley::Task)");
        static_assert(has_now<T>::value,
                      "parley: Transport must provide std::chrono::steady_clock::time_point now()");
        static_assert(has_wall_now<T>::value,
                      "parley: Transport must provide std::chrono::system_clock::time_point "
                      "wall_now()");
        static_assert(has_timers<T>::value,
                      "parley: Transport must provide timer_type start_timer(lane_type&, "
                      "std::chrono::milliseconds, parley::Task) and void cancel_timer(timer_type&)");
        static_assert(has_send<T>::value,
                      "parley: Transport must provide send(const handle_type&, parley::SharedFrame)");
        static_assert(has_close<T>::value,
                      "parley: Transport must provide close(const handle_type&, std::uint16_t, "
                      "std::string_view)");
        static_assert(has_ping<T>::value,
                      "parley: Transport must provide ping(const handle_type&)");
        static_assert(has_buffered<T>::value,
                      "parley: Transport must provide buffered_amount(const handle_type&) and "
                      "buffered_frames(const handle_type&) returning std::size_t");
    }
    return true;
}

}  // namespace detail

PARLEY_NAMESPACE_END
