// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// The members other nodes list in one room, as its Hub keeps them (one lane,
/// no locking). The list starts unknown; a read fills it, and the Bus's live
/// events keep it current. Events that arrive while a read is in flight are
/// held and applied on top of what the read returns: the read may or may not
/// already reflect them, and applying a listing twice or an unlisting of
/// someone absent changes nothing, so the result is right either way.
///
/// Every operation returns the changes to the list, which is what the room's
/// local members are told: what they saw (the `joined` list, then each change)
/// stays equal to the list.
class RemoteMembers {
public:
    struct Change {
        enum class Kind { join, leave, rename };
        Kind kind;
        std::string nick;
        std::string old_nick;  ///< of a rename
    };
    using Changes = std::vector<Change>;

    explicit RemoteMembers(std::string own_node) : own_node_(std::move(own_node)) {}

    /// A read returned and nothing changed it since.
    bool synced() const noexcept { return synced_; }
    bool reading() const noexcept { return reading_; }

    /// A read is starting: events are held until `read_done`.
    void begin_read() {
        reading_ = true;
        reread_ = false;
    }

    /// The read's answer (nullopt: it failed; the list stays as it was, with the
    /// held events applied, and counts as not synced). Returns the changes, and
    /// sets `again` when something asked for another read meanwhile.
    Changes read_done(std::optional<std::vector<Bus::RemoteMember>> found, bool& again) {
        reading_ = false;
        again = reread_;
        reread_ = false;
        List next;
        if (found) {
            for (auto& m : *found)
                if (m.node != own_node_) next[{m.node, m.member}] = std::move(m.nick);
        } else {
            next = list_;
        }
        auto held = std::move(held_);
        held_.clear();
        for (const auto& event : held) apply(next, event, nullptr);
        auto changes = diff(list_, next);
        list_ = std::move(next);
        synced_ = found.has_value() && !again;
        return changes;
    }

    /// A live event from another node. Held during a read; a `resync` returns
    /// true in `read_now` when a read should start (else one follows the current).
    Changes on_event(const Bus::MemberEvent& event, bool& read_now) {
        read_now = false;
        if (event.node == own_node_) return {};
        if (event.kind == Bus::MemberEvent::Kind::resync) {
            synced_ = false;
            if (reading_) reread_ = true;
            else read_now = true;
            return {};
        }
        if (reading_) {
            held_.push_back(event);
            return {};
        }
        Changes changes;
        apply(list_, event, &changes);
        return changes;
    }

    /// Nobody here listens any more: the list is no longer followed.
    void reset() {
        list_.clear();
        held_.clear();
        synced_ = false;
        reread_ = false;
        // A read still in flight is discarded when it answers (see `epoch`).
        reading_ = false;
        ++epoch_;
    }
    /// Changes with every `reset`: a read started under another epoch is stale.
    std::uint64_t epoch() const noexcept { return epoch_; }

    template <class F>
    void for_each_nick(F&& f) const {
        for (const auto& [key, nick] : list_) f(nick);
    }
    std::size_t size() const noexcept { return list_.size(); }

private:
    using Key = std::pair<std::string, std::string>;  // node, member
    using List = std::map<Key, std::string>;

    static void apply(List& list, const Bus::MemberEvent& event, Changes* out) {
        using Kind = Bus::MemberEvent::Kind;
        switch (event.kind) {
        case Kind::listed: {
            auto [it, added] = list.try_emplace(Key{event.node, event.member}, event.nick);
            if (added) {
                if (out) out->push_back({Change::Kind::join, event.nick, {}});
            } else if (it->second != event.nick) {
                if (out) out->push_back({Change::Kind::rename, event.nick, it->second});
                it->second = event.nick;
            }
            break;
        }
        case Kind::unlisted: {
            auto it = list.find(Key{event.node, event.member});
            if (it == list.end()) break;
            if (out) out->push_back({Change::Kind::leave, it->second, {}});
            list.erase(it);
            break;
        }
        case Kind::node_gone: {
            auto it = list.lower_bound(Key{event.node, std::string()});
            while (it != list.end() && it->first.first == event.node) {
                if (out) out->push_back({Change::Kind::leave, it->second, {}});
                it = list.erase(it);
            }
            break;
        }
        case Kind::resync:
            break;
        }
    }

    static Changes diff(const List& before, const List& after) {
        Changes out;
        for (const auto& [key, nick] : before) {
            auto it = after.find(key);
            if (it == after.end()) out.push_back({Change::Kind::leave, nick, {}});
            else if (it->second != nick) out.push_back({Change::Kind::rename, it->second, nick});
        }
        for (const auto& [key, nick] : after)
            if (!before.count(key)) out.push_back({Change::Kind::join, nick, {}});
        return out;
    }

    std::string own_node_;
    List list_;
    std::vector<Bus::MemberEvent> held_;
    bool synced_ = false;
    bool reading_ = false;
    bool reread_ = false;
    std::uint64_t epoch_ = 0;
};

}  // namespace detail
PARLEY_NAMESPACE_END
