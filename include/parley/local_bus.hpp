// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/version.hpp>

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
        subscribers_[room_id][node] = std::move(handler);
    }

    void unsubscribe(const std::string& node, const std::string& room_id) override {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = subscribers_.find(room_id);
        if (it == subscribers_.end()) return;
        it->second.erase(node);
        if (it->second.empty()) subscribers_.erase(it);
    }

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
    std::map<std::string, std::map<std::string, Handler>> subscribers_;
};

PARLEY_NAMESPACE_END
