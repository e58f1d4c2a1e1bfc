// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/frame.hpp>
#include <parley/message.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// An event a Hub shares with the same room on other server processes.
struct BusEvent {
    std::string origin_node;  ///< the publishing node; a node ignores its own events
    std::string room_id;
    SharedFrame frame;        ///< the already-encoded broadcast
    /// Non-zero: a chat message sequenced by the Bus (see `Bus::append`). Such
    /// events reach every node, the origin included, in `seq` order.
    std::uint64_t seq = 0;
    std::string author;       ///< of a sequenced message: its author identity, a token digest (internal, never sent)
    /// A change to a message made on the origin node (`frame` is its broadcast):
    /// the other nodes apply it to their history windows.
    std::optional<MessagePatch> patch;
};

/// A chat message handed to a sequencing Bus. The Bus picks `seq`; the frame
/// every member gets is `frame_head + seq + frame_tail`.
struct SequencedMessage {
    std::string origin_node;
    std::string room_id;
    /// The newest `seq` the room's Hub knows: the Bus assigns a larger one even
    /// if its own counter was lost (a backend restarted without persistence).
    std::uint64_t floor = 0;
    std::string frame_head;
    std::string frame_tail;
    ChatMessage message;  ///< `seq` unset; kept by a Bus that also stores history
};

/// The outcome of a cluster-wide nickname claim.
enum class NickClaim { granted, taken, unavailable };

/// What a clustered Bus reports about rooms held by other nodes.
struct DirectoryEvent {
    enum class Kind {
        members,  ///< `room` exists; other nodes hold `remote_members` members in it
        removed   ///< another node removed the room `room.id`
    };
    Kind kind = Kind::members;
    RoomRecord room;
    std::size_t remote_members = 0;
};

/// Fan-out between server processes. Hubs publish every broadcast once and
/// subscribe to their room while they have local members; a delivered event is
/// sent as is to the local members. Handlers may be called on any thread.
///
/// The methods past the first three are the cluster seams. Their defaults are
/// those of a single process (the Hub numbers messages itself, nicknames and
/// rooms are known only locally), so a Bus that only fans out needs none of them.
class Bus {
public:
    using Handler = std::function<void(const BusEvent&)>;
    using SeqDone = std::function<void(std::optional<std::uint64_t> seq)>;
    using ClaimDone = std::function<void(NickClaim)>;
    using DirectoryHandler = std::function<void(const DirectoryEvent&)>;

    virtual ~Bus() = default;
    virtual void subscribe(const std::string& node, const std::string& room_id, Handler handler) = 0;
    virtual void unsubscribe(const std::string& node, const std::string& room_id) = 0;
    virtual void publish(const BusEvent& event) = 0;
    /// How many nodes hold at least one subscription now. A Hub subscribed
    /// itself skips building and publishing its broadcasts when that is 1: the
    /// one node is its own, which ignores its own events. A Bus that cannot
    /// tell cheaply keeps the default, "many".
    virtual std::size_t subscribed_nodes() const { return SIZE_MAX; }

    // ---- sequencing: the Bus numbers chat messages cluster-wide ------------------------

    /// True when `append` numbers messages; Hubs then deliver messages only as
    /// sequenced events from their subscription (their own included).
    virtual bool assigns_seq() const { return false; }
    /// Numbers `message`, stores and publishes it atomically; `done(seq)`, or
    /// `done(nullopt)` when the backend is unreachable (nothing was published).
    /// `done` may run on any thread.
    virtual void append(SequencedMessage message, SeqDone done) {
        (void)message;
        done(std::nullopt);
    }
    /// The newest `seq` of a room cluster-wide (0: none yet), or nullopt when unknown.
    virtual void room_head(const std::string& room_id, SeqDone done) {
        (void)room_id;
        done(std::nullopt);
    }

    // ---- nicknames: one owner cluster-wide -------------------------------------------

    /// True when nicknames must also be claimed through `claim_nick`.
    virtual bool shares_nicknames() const { return false; }
    /// Claims `key` (a folded nickname) for the holder of `token`: granted when it
    /// is free or already held with `token`. A granted claim is kept alive by the
    /// Bus until `release_nick`. `done` may run on any thread.
    virtual void claim_nick(const std::string& key, const std::string& token, ClaimDone done) {
        (void)key;
        (void)token;
        done(NickClaim::granted);
    }
    /// Gives `key` up if `token` still holds it.
    virtual void release_nick(const std::string& key, const std::string& token) {
        (void)key;
        (void)token;
    }

    // ---- cluster directory: nickname look-ups, room names, who is connected ------------

    using HeldDone = std::function<void(std::optional<bool> held)>;
    /// Whether some node holds nickname `key` (a folded nickname) in the cluster;
    /// nullopt when the backend is unreachable. The Lobby asks only after its own
    /// registry; a single process has nobody else, so: not held.
    virtual void nick_held(const std::string& key, HeldDone done) {
        (void)key;
        done(false);
    }
    /// True when room names must also be claimed through `claim_room_name`.
    virtual bool shares_room_names() const { return false; }
    /// Claims room name `key` (a folded name) for the room `room_id`: granted when
    /// it is free or already held for `room_id` (a permanent room every node
    /// holds under one id), taken when another room holds it. Kept until
    /// `release_room_name`. `done` may run on any thread.
    virtual void claim_room_name(const std::string& key, const std::string& room_id, ClaimDone done) {
        (void)key;
        (void)room_id;
        done(NickClaim::granted);
    }
    /// Gives `key` up if the room `room_id` still holds it (the room was removed).
    virtual void release_room_name(const std::string& key, const std::string& room_id) {
        (void)key;
        (void)room_id;
    }
    /// The holder of nickname `key` (claimed with `token`) is connected here
    /// (true), or dropped and in reconnect grace (false). Direct messages from
    /// other nodes reach only a connected holder, as on a single node.
    virtual void nick_online(const std::string& key, const std::string& token, bool online) {
        (void)key;
        (void)token;
        (void)online;
    }

    // ---- direct messages to users on other nodes ----------------------------------------

    using DirectHandler = std::function<void(const std::string& key, const SharedFrame& frame)>;
    using DirectDone = std::function<void(bool sent)>;
    /// Sends an encoded `dm` frame to whoever holds nickname `key` on another
    /// node; `done(false)` when nobody connected holds it (see `nick_online`) or
    /// the backend is unreachable.
    virtual void send_direct(const std::string& origin_node, const std::string& key, SharedFrame frame,
                             DirectDone done) {
        (void)origin_node;
        (void)key;
        (void)frame;
        done(false);
    }
    /// Receives direct messages other nodes sent to nicknames (any thread).
    virtual void watch_direct(const std::string& node, DirectHandler handler) {
        (void)node;
        (void)handler;
    }

    // ---- directory: rooms and member counts of the other nodes ----------------------

    /// Reports other nodes' rooms and counts to `handler` (any thread).
    virtual void watch_directory(const std::string& node, DirectoryHandler handler) {
        (void)node;
        (void)handler;
    }
    /// This node holds `local_members` members of `room` (also called when a room is created).
    virtual void room_changed(const std::string& node, const RoomRecord& room, std::size_t local_members) {
        (void)node;
        (void)room;
        (void)local_members;
    }
    /// This node removed the room.
    virtual void room_removed(const std::string& node, const std::string& room_id) {
        (void)node;
        (void)room_id;
    }

    // ---- room members: the member list cluster-wide ----------------------------------

    /// A member listed on another node, as `read_members` reports it.
    struct RemoteMember {
        std::string node;
        std::string member;  ///< its id on that node (unique there)
        std::string nick;
    };
    /// A change to a room's list on another node, or news about a node as a whole.
    struct MemberEvent {
        enum class Kind {
            listed,     ///< `node`'s `member` is in the room as `nick` (joined, or renamed)
            unlisted,   ///< `node`'s `member` left the room
            node_gone,  ///< `node` stopped or its liveness expired: all its members left
            resync      ///< the list may have missed changes: read it again
        };
        Kind kind = Kind::listed;
        std::string node;
        std::string member;
        std::string nick;
    };
    using MemberHandler = std::function<void(const MemberEvent&)>;
    using MembersDone = std::function<void(std::optional<std::vector<RemoteMember>>)>;

    /// True when the Bus keeps each room's member list cluster-wide: Hubs then
    /// list members through `member_listed` / `member_unlisted`, read the others'
    /// with `read_members` and follow them with `watch_members`.
    virtual bool shares_members() const { return false; }
    /// `member` of `node` is in `room_id` as `nick` (a join or a rename); `frame`
    /// is the presence or nick_changed broadcast, published with the change.
    virtual void member_listed(const std::string& node, const std::string& room_id, const std::string& member,
                               const std::string& nick, SharedFrame frame) {
        (void)member;
        (void)nick;
        publish(BusEvent{node, room_id, std::move(frame), 0, {}, {}});
    }
    /// `member` of `node` left `room_id`; `frame` is the presence broadcast.
    virtual void member_unlisted(const std::string& node, const std::string& room_id, const std::string& member,
                                 SharedFrame frame) {
        (void)member;
        publish(BusEvent{node, room_id, std::move(frame), 0, {}, {}});
    }
    /// The members other nodes list in `room_id`, read once the room's
    /// subscription is confirmed (so later changes arrive through `watch_members`);
    /// nullopt when the backend is unreachable. `done` may run on any thread.
    virtual void read_members(const std::string& node, const std::string& room_id, MembersDone done) {
        (void)node;
        (void)room_id;
        done(std::vector<RemoteMember>{});
    }
    /// Reports other nodes' changes to `room_id`'s list to `handler` (any thread)
    /// until `unwatch_members`.
    virtual void watch_members(const std::string& node, const std::string& room_id, MemberHandler handler) {
        (void)node;
        (void)room_id;
        (void)handler;
    }
    virtual void unwatch_members(const std::string& node, const std::string& room_id) {
        (void)node;
        (void)room_id;
    }
};

PARLEY_NAMESPACE_END
