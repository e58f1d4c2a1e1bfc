// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstdint>
#include <string>

PARLEY_NAMESPACE_BEGIN

/// Every Redis key and channel parley uses, in one place (docs/scaling.md
/// lists them). All start with `prefix` ("parley:" by default) so one Redis can
/// host several clusters. A room's keys share the hash tag `{room:<id>}`, so a
/// Redis Cluster keeps them in one slot and the append script stays single-slot.
class RedisKeys {
public:
    explicit RedisKeys(std::string prefix = "parley:") : prefix_(std::move(prefix)) {}

    std::string room_seq(const std::string& room) const { return tagged(room) + ":seq"; }
    std::string room_stream(const std::string& room) const { return tagged(room) + ":stream"; }
    std::string room_deleted(const std::string& room) const { return tagged(room) + ":deleted"; }
    /// The latest edit of each edited entry, by entry id (a MessagePatch, patch_codec.hpp), applied on read.
    std::string room_edits(const std::string& room) const { return tagged(room) + ":edits"; }
    /// Reactions by entry id, as JSON `[[emoji, [author, ...]], ...]` (see scripts.hpp `react`).
    std::string room_reactions(const std::string& room) const { return tagged(room) + ":reactions"; }
    std::string room_channel(const std::string& room) const { return prefix_ + "chan:room:" + room; }
    std::string rooms() const { return prefix_ + "rooms"; }
    std::string lobby_channel() const { return prefix_ + "chan:lobby"; }
    std::string direct_channel() const { return prefix_ + "chan:dm"; }
    std::string node_counts(const std::string& node) const { return prefix_ + "node:" + node + ":counts"; }
    std::string nick(const std::string& folded) const { return prefix_ + "nick:" + folded; }
    /// Set while the nickname's holder is connected (not in reconnect grace).
    std::string online(const std::string& folded) const { return prefix_ + "online:" + folded; }
    /// Claimed by the room holding this name (folded), so names are unique cluster-wide.
    std::string room_name(const std::string& folded) const { return prefix_ + "roomname:" + folded; }

    // Room member lists: one hash per room, a field per member: `<node>/<member id>`
    // -> nick. A node's fields share the prefix `<node>/`, so they can be dropped
    // together; its liveness key says whether they still count.
    std::string room_members(const std::string& room) const { return tagged(room) + ":members"; }
    std::string node_alive(const std::string& node) const { return prefix_ + "node:" + node + ":alive"; }
    static std::string member_field(const std::string& node, const std::string& member) {
        return node + "/" + member;
    }

    /// The room id in a room channel's name, or empty.
    std::string room_of_channel(const std::string& channel) const {
        const auto head = prefix_ + "chan:room:";
        return channel.compare(0, head.size(), head) == 0 ? channel.substr(head.size()) : std::string();
    }
    static std::string entry_id(std::uint64_t seq) { return std::to_string(seq) + "-0"; }

private:
    std::string tagged(const std::string& room) const { return prefix_ + "{room:" + room + "}"; }
    std::string prefix_;
};

PARLEY_NAMESPACE_END
