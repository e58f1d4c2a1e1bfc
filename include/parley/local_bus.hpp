// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/version.hpp>

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// The default Bus: an in-process router. With one Lobby nothing crosses it
/// (a node ignores its own events); Lobbies sharing one LocalBus see each
/// other's broadcasts, which is how the Bus seam is tested without Redis.
class LocalBus final : public Bus {
public:
    void subscribe(const std::string& node, const std::string& room_id, Handler handler) override {
        std::lock_guard<std::mutex> lock(mutex_);
        auto& room = subscribers_[room_id];
        if (room.find(node) == room.end()) ++subscriptions_per_node_[node];
        room[node] = std::move(handler);
        subscribed_nodes_.store(subscriptions_per_node_.size(), std::memory_order_relaxed);
    }

    void unsubscribe(const std::string& node, const std::string& room_id) override {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = subscribers_.find(room_id);
        if (it == subscribers_.end()) return;
        if (it->second.erase(node) == 0) return;
        if (it->second.empty()) subscribers_.erase(it);
        auto count = subscriptions_per_node_.find(node);
        if (--count->second == 0) subscriptions_per_node_.erase(count);
        subscribed_nodes_.store(subscriptions_per_node_.size(), std::memory_order_relaxed);
    }

    std::size_t subscribed_nodes() const override { return subscribed_nodes_.load(std::memory_order_relaxed); }

    void publish(const BusEvent& event) override {
        std::vector<Handler> targets;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = subscribers_.find(event.room_id);
            if (it == subscribers_.end()) return;
            for (auto& [node, handler] : it->second)
                if (node != event.origin_node) targets.push_back(handler);
        }
        for (auto& handler : targets) handler(event);
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::map<std::string, Handler>> subscribers_;  // room -> node -> handler
    std::map<std::string, std::size_t> subscriptions_per_node_;
    /// subscriptions_per_node_.size(), read without the mutex: a publish racing
    /// another node's first subscription may skip it, as it would by running a
    /// moment earlier; anything ordered after the subscription sees it.
    std::atomic<std::size_t> subscribed_nodes_{0};
};

PARLEY_NAMESPACE_END
