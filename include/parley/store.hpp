// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/message.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// Which messages a read wants: those with `after < seq < before` (0 = no
/// bound), at most `limit` of them, the newest ones when there are more.
struct HistoryQuery {
    std::uint64_t after = 0;
    std::uint64_t before = 0;
    std::size_t limit = 50;
};

/// Messages in ascending `seq`, tombstones included.
struct HistoryPage {
    std::vector<StoredMessagePtr> messages;
};

/// Where rooms and history live beyond a Hub's in-memory window.
///
/// Hubs call `append` and `mark_deleted` once per event from their lane; an
/// implementation that blocks (a database) must queue the work and return. `read`
/// may answer on any thread, inline or later: the Hub posts the answer back to
/// its own lane. Calls for one room arrive in order.
class Store {
public:
    using ReadDone = std::function<void(HistoryPage)>;

    virtual ~Store() = default;

    /// Rooms that survive from an earlier run, with their last `seq` and epoch.
    /// Called once at start-up, before any Hub exists.
    virtual std::vector<RoomRecord> load_rooms() = 0;
    virtual void save_room(const RoomRecord& room) = 0;
    virtual void remove_room(const std::string& room_id) = 0;

    virtual void append(const std::string& room_id, StoredMessagePtr message) = 0;
    /// Replaces message `seq` by `tombstone` (same `seq`).
    virtual void mark_deleted(const std::string& room_id, StoredMessagePtr tombstone) = 0;
    virtual void read(const std::string& room_id, HistoryQuery query, ReadDone done) = 0;
};

PARLEY_NAMESPACE_END
