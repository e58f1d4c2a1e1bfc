// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/limits.hpp>
#include <parley/store.hpp>
#include <parley/version.hpp>

#include <cstdint>
#include <memory>
#include <string>
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
    /// Non-zero makes ids and tokens a fixed sequence (tests only: tokens become guessable).
    std::uint64_t seed = 0;
    /// Name of this server process on the Bus; empty means a random one.
    std::string node_id;
};

PARLEY_NAMESPACE_END
