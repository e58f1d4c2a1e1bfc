// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/limits.hpp>
#include <parley/store.hpp>
#include <parley/version.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// How a Lobby is set up. Every field has a working default.
struct LobbyOptions {
    Limits limits;
    /// History and rooms beyond the Hubs' memory; null means a MemoryStore
    /// holding `limits.history_window` messages per room.
    std::shared_ptr<Store> store;
    /// Fan-out to other server processes; null means a LocalBus (single process).
    std::shared_ptr<Bus> bus;
    /// Rooms that always exist and are never removed for being empty.
    std::vector<std::string> permanent_rooms{"general"};
    /// Non-zero makes ids and tokens a fixed sequence (tests only: tokens become
    /// guessable). 0 means the transport's `default_seed_v`: drawn from the
    /// operating system on a real transport, fixed on the test kit's MockTransport.
    std::uint64_t seed = 0;
    /// Name of this server process on the Bus; empty means a random one.
    std::string node_id;
};

namespace detail {
template <class Transport, class = void>
struct DefaultSeed : std::integral_constant<std::uint64_t, 0> {};
template <class Transport>
struct DefaultSeed<Transport, std::void_t<decltype(Transport::default_seed)>>
    : std::integral_constant<std::uint64_t, Transport::default_seed> {};
}  // namespace detail

/// The seed of a Lobby on `Transport` whose `LobbyOptions::seed` is 0: the
/// transport's optional `static constexpr std::uint64_t default_seed`, else 0
/// (unpredictable ids and tokens). A test transport declares one so that every
/// Lobby on it replays the same ids and tokens without the test asking.
template <class Transport>
inline constexpr std::uint64_t default_seed_v = detail::DefaultSeed<Transport>::value;

PARLEY_NAMESPACE_END
