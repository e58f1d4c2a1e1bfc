// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/search.hpp>
#include <parley/store.hpp>
#include <parley/version.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// The default Store: a bounded ring of recent messages per room, in memory.
/// Nothing survives a restart, which is why each run gets a new room epoch.
/// Shares message objects with the Hubs' windows, so it costs a pointer per message.
/// Search is a plain scan of the ring (every word a substring, ASCII case-blind),
/// newest first: no ranking, but no index to keep either.
class MemoryStore final : public Store {
public:
    /// `capacity_per_room`: messages kept per room (oldest dropped first).
    explicit MemoryStore(std::size_t capacity_per_room = 500) : capacity_(capacity_per_room) {}

    std::vector<RoomRecord> load_rooms() override { return {}; }

    void save_room(const RoomRecord& room) override {
        std::lock_guard<std::mutex> lock(mutex_);
        rooms_[room.id];
    }

    void remove_room(const std::string& room_id) override {
        std::lock_guard<std::mutex> lock(mutex_);
        rooms_.erase(room_id);
    }

    void append(const std::string& room_id, StoredMessagePtr message) override {
        std::lock_guard<std::mutex> lock(mutex_);
        auto& ring = rooms_[room_id];
        ring.push_back(std::move(message));
        while (ring.size() > capacity_) ring.pop_front();
    }

    void update(const std::string& room_id, const MessagePatch&, StoredMessagePtr message) override {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = rooms_.find(room_id);
        if (it == rooms_.end()) return;
        auto& ring = it->second;
        auto pos = std::lower_bound(ring.begin(), ring.end(), message->message.seq,
                                    [](const StoredMessagePtr& m, std::uint64_t seq) {
                                        return m->message.seq < seq;
                                    });
        if (pos != ring.end() && (*pos)->message.seq == message->message.seq && !(*pos)->message.deleted)
            *pos = std::move(message);
    }

    void read(const std::string& room_id, HistoryQuery query, ReadDone done) override {
        HistoryPage page;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = rooms_.find(room_id);
            if (it != rooms_.end()) {
                for (auto m = it->second.rbegin(); m != it->second.rend(); ++m) {
                    const auto seq = (*m)->message.seq;
                    if (query.before != 0 && seq >= query.before) continue;
                    if (seq <= query.after || page.messages.size() >= query.limit) break;
                    page.messages.push_back(*m);
                }
            }
        }
        std::reverse(page.messages.begin(), page.messages.end());
        done(std::move(page));
    }

    bool can_search() const override { return true; }

    void search(const std::string& room_id, SearchQuery query, SearchDone done) override {
        SearchPage page;
        // The words are taken as given; the Lobby already bounded their number.
        const auto terms = detail::search_terms(query.text, query.text.size());
        if (!terms.empty()) {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = rooms_.find(room_id);
            std::uint64_t skipped = 0;
            if (it != rooms_.end()) {
                for (auto m = it->second.rbegin(); m != it->second.rend(); ++m) {
                    const auto& message = (*m)->message;
                    if (message.deleted || !detail::contains_all_terms(message.text, terms)) continue;
                    if (skipped < query.offset) {
                        ++skipped;
                        continue;
                    }
                    if (page.messages.size() == query.limit) {
                        page.more = true;
                        break;
                    }
                    page.messages.push_back(*m);
                }
            }
        }
        done(std::move(page));
    }

private:
    std::size_t capacity_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::deque<StoredMessagePtr>> rooms_;
};

PARLEY_NAMESPACE_END
