// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/message.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
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
    bool failed = false;  ///< the backend could not be read (unreachable); `messages` is empty
};

/// A full-text search in one room. `text` is what a person typed: words, not a
/// query language (each store turns the words into its own syntax safely).
struct SearchQuery {
    std::string text;
    std::size_t limit = 20;
    std::uint64_t offset = 0;  ///< results to skip, for paging
};

/// One page of search results.
struct SearchPage {
    std::vector<StoredMessagePtr> messages;  ///< best match first; never tombstones
    bool more = false;                       ///< results exist past this page
    bool failed = false;                     ///< the store could not search; `messages` is empty
};

/// A store that cannot be opened or used: the path (or address) it was given and
/// what went wrong. Thrown at start-up (a constructor, `load_rooms`), never from
/// the calls Hubs make while running.
class StoreError : public std::runtime_error {
public:
    StoreError(std::string path, const std::string& what)
        : std::runtime_error(path + ": " + what), path_(std::move(path)) {}
    /// The database path (or address) the error is about.
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

/// Where rooms and history live beyond a Hub's in-memory window.
///
/// Hubs call `append` and `update` once per event from their lane; an
/// implementation that blocks (a database) must queue the work and return. `read`
/// may answer on any thread, inline or later: the Hub posts the answer back to
/// its own lane. Calls for one room arrive in order, and a `read` sees every
/// `append` and `update` made before it.
class Store {
public:
    using ReadDone = std::function<void(HistoryPage)>;
    using SearchDone = std::function<void(SearchPage)>;

    virtual ~Store() = default;

    /// Rooms that survive from an earlier run, with their last `seq` and epoch.
    /// Called once at start-up, before any Hub exists.
    virtual std::vector<RoomRecord> load_rooms() = 0;
    virtual void save_room(const RoomRecord& room) = 0;
    virtual void remove_room(const std::string& room_id) = 0;

    virtual void append(const std::string& room_id, StoredMessagePtr message) = 0;
    /// Message `patch.seq` changed: deleted, edited or reacted to. `changed` is
    /// the whole message after the change, for a store that keeps whole rows;
    /// a store shared by several nodes applies `patch` itself (two reactions
    /// made at once on two nodes must both count). Nothing when no such message
    /// is stored (trimmed) or it is a tombstone already: a deleted message
    /// never comes back.
    virtual void update(const std::string& room_id, const MessagePatch& patch, StoredMessagePtr changed) = 0;
    virtual void read(const std::string& room_id, HistoryQuery query, ReadDone done) = 0;

    /// Optional: whether `search` works. The Lobby answers `not_supported` otherwise.
    virtual bool can_search() const { return false; }
    /// Messages of `room_id` matching every word of `query.text`, best first,
    /// deleted ones never; answers like `read` (any thread, inline or later).
    virtual void search(const std::string& room_id, SearchQuery query, SearchDone done) {
        (void)room_id;
        (void)query;
        SearchPage page;
        page.failed = true;
        done(std::move(page));
    }
};

PARLEY_NAMESPACE_END
