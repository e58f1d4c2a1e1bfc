// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/client.hpp>
#include <parley/detail/events.hpp>
#include <parley/detail/random.hpp>
#include <parley/detail/request.hpp>
#include <parley/detail/search.hpp>
#include <parley/detail/utf8.hpp>
#include <parley/hub.hpp>
#include <parley/local_bus.hpp>
#include <parley/lobby_options.hpp>
#include <parley/memory_store.hpp>
#include <parley/metrics.hpp>
#include <parley/protocol/error_reply.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// The entry point: owns the rooms (Hubs), the nickname registry and the lobby
/// watchers, on its own lane. Create one per server on your transport, call
/// `connect` for each new connection, and `shutdown` before destroying it (the
/// Lobby must outlive every task it posted, so stop the executor after `done`).
///
/// Callbacks of the embedder API below run on the Lobby's lane (or a Hub's, for
/// history); keep them short and post elsewhere for slow work.
template <class Transport>
class Lobby {
    static_assert(detail::check_transport<Transport>());

public:
    using handle_type = typename Transport::handle_type;
    using ClientPtr = std::shared_ptr<Client<Transport>>;
    using HubPtr = std::shared_ptr<Hub<Transport>>;
    /// Receives lobby events: `rooms` (snapshot), `room_update`, `room_removed`,
    /// each with its encoded protocol frame.
    using Watcher = std::function<void(std::string_view event, const SharedFrame& frame)>;
    /// The outcome of an embedder request: an error code, or nothing on success.
    using Failure = std::optional<ErrorCode>;

    explicit Lobby(Transport& transport, LobbyOptions options = {})
        : transport_(transport),
          limits_(options.limits),
          store_(options.store ? std::move(options.store)
                               : std::make_shared<MemoryStore>(options.limits.history_window)),
          bus_(options.bus ? std::move(options.bus) : std::make_shared<LocalBus>()),
          random_(options.seed != 0 ? options.seed : default_seed_v<Transport>),
          node_id_(options.node_id.empty() ? "n" + random_.hex(1) : options.node_id),
          lane_(transport_.make_lane()) {
        for (auto& record : store_->load_rooms()) add_room(std::move(record));
        for (const auto& name : options.permanent_rooms) {
            if (room_names_.count(detail::fold_ascii_case(name))) continue;
            RoomRecord record;
            record.id = name == "general" ? "general" : new_room_id();
            record.name = name;
            record.permanent = true;
            record.epoch = random_.hex(1);
            store_->save_room(record);
            add_room(std::move(record));
        }
        // Other nodes' rooms and counts (a clustered Bus); the Bus must stop
        // calling before the Lobby is destroyed.
        bus_->watch_directory(node_id_, [this](const DirectoryEvent& event) {
            post([this, event] { on_directory(event); });
        });
        bus_->watch_direct(node_id_, [this](const std::string& key, const SharedFrame& frame) {
            post([this, key, frame] {
                auto it = nicks_.find(key);
                if (it == nicks_.end() || !it->second.owner) return;
                if (deliver(it->second.owner, it->second.owner->handle(), frame))
                    Metrics::add(metrics_.messages_out);
            });
        });
    }

    Lobby(const Lobby&) = delete;
    Lobby& operator=(const Lobby&) = delete;

    // ---- embedder API ------------------------------------------------------------------

    /// A new connection (any thread). Forward its frames to `receive`, its pongs
    /// to `pong` and its end to `closed` on the returned session.
    ClientPtr connect(const handle_type& handle, PeerInfo peer = {}) {
        const auto session = next_session_.fetch_add(1, std::memory_order_relaxed);
        auto client = std::make_shared<Client<Transport>>(*this, handle, std::move(peer), session);
        Metrics::add(metrics_.connections_opened);
        if (stopping_.load(std::memory_order_acquire)) {
            transport_.close(handle, close_code::going_away, "server shutting down");
            client->closed_by_server(close_code::going_away);
            return client;
        }
        if (metrics_.connections_opened.load() - metrics_.connections_closed.load() >
            limits_.max_connections) {
            transport_.close(handle, close_code::try_again_later, "server full");
            client->closed_by_server(close_code::try_again_later);
            return client;
        }
        post([this, client] {
            // Registered even while stopping, so shutdown's `done` waits for it too;
            // shut down here only if the shutdown pass already ran (else it will).
            sessions_[client->session()] = client;
            if (shutdown_begun_) client->shut_down(shutdown_reason_);
        });
        client->start();
        return client;
    }

    /// Every room with its member count, sorted by name ignoring ASCII case.
    void rooms(std::function<void(std::vector<RoomInfo>)> done) {
        post([this, done = std::move(done)] { done(room_list()); });
    }

    /// Creates a room as a user would; `done(failure, room)`.
    void create_room(std::string name, std::function<void(Failure, RoomInfo)> done) {
        post([this, name = std::move(name), done = std::move(done)] {
            if (!detail::is_valid_room_name(name, limits_))
                return done(ErrorCode::room_name_invalid, RoomInfo{});
            make_room(name, done);
        });
    }

    /// One room by id; `done(nullopt)` when there is none.
    void room(std::string id, std::function<void(std::optional<RoomInfo>)> done) {
        post([this, id = std::move(id), done = std::move(done)] {
            auto it = rooms_.find(id);
            if (it == rooms_.end()) return done(std::nullopt);
            done(info(it->second));
        });
    }

    /// A page of a room's history, newest `limit` messages before `before`;
    /// `done(failure, messages ascending, complete)` runs on the room's lane.
    void room_history(std::string id, std::optional<std::uint64_t> before, std::size_t limit,
                      std::function<void(Failure, std::vector<StoredMessagePtr>, bool)> done) {
        post([this, id = std::move(id), before, limit, done = std::move(done)]() mutable {
            auto it = rooms_.find(id);
            if (it == rooms_.end()) return done(ErrorCode::room_not_found, {}, false);
            it->second.hub->read_history(
                before, limit,
                [done = std::move(done)](std::vector<StoredMessagePtr> messages, bool complete) {
                    done(std::nullopt, std::move(messages), complete);
                });
        });
    }

    /// Full-text search in one room: the messages matching every word of `q`,
    /// best first, `limit` (0: the default page; capped at `max_history_page`)
    /// after skipping `offset`. `done(failure, page)` runs on the Lobby's lane;
    /// failures: room_not_found, bad_request (no words, or `q` too long),
    /// not_supported (the store cannot search), server_busy (the store failed).
    void search(std::string room, std::string q, std::size_t limit, std::uint64_t offset,
                std::function<void(Failure, SearchPage)> done) {
        if (limit == 0) limit = limits_.search_page_default;
        limit = std::min(limit, limits_.max_history_page);
        post([this, room = std::move(room), q = std::move(q), limit, offset,
              done = std::move(done)]() mutable {
            run_search(room, std::move(q), limit, offset, std::move(done));
        });
    }

    /// Whether `nick` is valid and free cluster-wide; `done(failure)` with
    /// nick_invalid, nick_taken, or unavailable (a clustered Bus cannot be asked).
    void nick_available(std::string nick, std::function<void(Failure)> done) {
        post([this, nick = std::move(nick), done = std::move(done)] {
            if (!detail::is_valid_nick(nick, limits_)) return done(ErrorCode::nick_invalid);
            const auto key = detail::fold_ascii_case(nick);
            if (nicks_.count(key)) return done(ErrorCode::nick_taken);
            bus_->nick_held(key, [this, done](std::optional<bool> held) {
                post([done, held] {
                    if (!held) return done(ErrorCode::unavailable);
                    done(*held ? Failure(ErrorCode::nick_taken) : std::nullopt);
                });
            });
        });
    }

    /// Subscribes to lobby events; the snapshot comes first. Returns an id for `unwatch`.
    std::uint64_t watch(Watcher watcher) {
        const auto id = next_watch_.fetch_add(1, std::memory_order_relaxed);
        post([this, id, watcher = std::move(watcher)] {
            watcher("rooms", make_frame(detail::encode_rooms({}, room_list())));
            api_watchers_[id] = watcher;
        });
        return id;
    }
    void unwatch(std::uint64_t id) {
        post([this, id] { api_watchers_.erase(id); });
    }

    /// Tells every client `shutdown {reason}`, closes them with 1001 and refuses
    /// new connections; `done` runs on the Lobby's lane once every session ended.
    void shutdown(std::string reason, std::function<void()> done = {}) {
        stopping_.store(true, std::memory_order_release);
        post([this, reason = std::move(reason), done = std::move(done)]() mutable {
            shutdown_begun_ = true;
            shutdown_reason_ = reason;
            shutdown_done_ = std::move(done);
            for (auto& [id, client] : sessions_) client->shut_down(reason);
            for (auto& [id, room] : rooms_) {
                room.hub->shut_down();
                if (room.ttl_armed) transport_.cancel_timer(room.ttl_timer);
                room.ttl_armed = false;
            }
            for (auto& [key, entry] : nicks_)
                if (entry.grace_armed) transport_.cancel_timer(entry.grace_timer);
            api_watchers_.clear();
            maybe_finish_shutdown();
        });
    }

    Transport& transport() noexcept { return transport_; }
    const Limits& limits() const noexcept { return limits_; }
    Metrics& metrics() noexcept { return metrics_; }
    const Metrics& metrics() const noexcept { return metrics_; }
    Store& store() noexcept { return *store_; }
    Bus& bus() noexcept { return *bus_; }
    const std::string& node_id() const noexcept { return node_id_; }

private:
    friend class Client<Transport>;
    friend class Hub<Transport>;

    struct RoomEntry {
        HubPtr hub;
        bool permanent = false;
        std::size_t members = 0;  // on this node
        std::size_t remote = 0;   // on other nodes (a clustered Bus reports them)
        bool ttl_armed = false;
        typename Transport::timer_type ttl_timer{};
    };

    struct NickEntry {
        std::string nick;             // as chosen (case kept)
        std::string token;            // proves ownership on reconnect
        ClientPtr owner;              // null while reserved for a dropped owner
        std::chrono::steady_clock::time_point reserved_until{};
        bool grace_armed = false;
        typename Transport::timer_type grace_timer{};
    };

    void post(Task task) { transport_.post(lane_, std::move(task)); }

    // ---- outbound, used by every lane ------------------------------------------------------

    /// Queues `frame` unless the connection's outbound budget is spent.
    bool try_send(const handle_type& handle, const SharedFrame& frame) {
        if (transport_.buffered_amount(handle) + frame->size() > limits_.max_outbound_bytes ||
            transport_.buffered_frames(handle) >= limits_.max_outbound_frames)
            return false;
        transport_.send(handle, frame);
        return true;
    }

    void count_sent(std::size_t frames, std::size_t frame_bytes) {
        if (frames == 0) return;
        Metrics::add(metrics_.frames_out, frames);
        Metrics::add(metrics_.bytes_out, frames * frame_bytes);
    }

    /// One frame to one connection; a slow consumer is closed instead.
    bool deliver(const ClientPtr& client, const handle_type& handle, const SharedFrame& frame) {
        if (client->connection_gone()) return false;
        if (!try_send(handle, frame)) {
            drop_slow_consumer(client, handle);
            return false;
        }
        count_sent(1, frame->size());
        return true;
    }

    /// Closes a connection whose reader cannot keep up. The transport drops its
    /// queue now; the session then leaves its rooms on its own lane.
    void drop_slow_consumer(const ClientPtr& client, const handle_type& handle) {
        if (client->is_closed() || client->connection_gone()) return;
        Metrics::add(metrics_.slow_consumer_closes);
        transport_.close(handle, close_code::try_again_later, "slow consumer");
        client->closed_by_server(close_code::try_again_later);
    }

    void send_error_to_session(std::uint64_t session, detail::Ref ref, ErrorCode code,
                               std::string message) {
        post([this, session, ref = std::move(ref), code, message = std::move(message)] {
            auto it = sessions_.find(session);
            if (it == sessions_.end()) return;
            const ClientPtr& client = it->second;
            auto to_client = [&](const SharedFrame& frame) { deliver(client, client->handle(), frame); };
            protocol::send_error(metrics_, to_client, ref, code, message);
        });
    }

    std::string session_name(std::uint64_t session) const {
        return node_id_ + "-" + std::to_string(session);
    }

    // ---- sessions and nicknames (lobby lane) -------------------------------------------------

    void claim_nick(ClientPtr client, std::string nick, std::string token, detail::Ref ref) {
        post([this, client = std::move(client), nick = std::move(nick), token = std::move(token),
              ref = std::move(ref)]() mutable {
            const auto key = detail::fold_ascii_case(nick);
            auto it = nicks_.find(key);
            if (it != nicks_.end()) {
                auto& entry = it->second;
                if (token.empty() || token != entry.token)
                    return refuse(client, ref, ErrorCode::nick_taken, "nickname " + nick + " is taken");
                // Reclaim: the token holder gets the name back, replacing a
                // half-open old connection if it is still registered.
                if (entry.owner && entry.owner != client)
                    entry.owner->shut_down_replaced();
                if (entry.grace_armed) transport_.cancel_timer(entry.grace_timer);
                entry.grace_armed = false;
                entry.owner = client;
                entry.nick = nick;
                bus_->nick_online(key, entry.token, true);
            } else if (bus_->shares_nicknames()) {
                // Cluster-wide: the token proves a claim made on another node.
                auto claim_token = is_session_token(token) ? token : random_.hex(2);
                bus_->claim_nick(key, claim_token,
                                 [this, client, nick, key, claim_token, ref](NickClaim result) {
                                     post([this, client, nick, key, claim_token, ref, result] {
                                         nick_claimed(client, nick, key, claim_token, ref, result);
                                     });
                                 });
                return;
            } else {
                NickEntry entry;
                entry.nick = nick;
                // A token the client already holds is kept (it is its identity as an
                // author, say after a restart); anything else gets a fresh one.
                entry.token = is_session_token(token) ? token : random_.hex(2);
                entry.owner = client;
                it = nicks_.emplace(key, std::move(entry)).first;
            }
            Metrics::add(metrics_.identified_sessions);
            client->identified(it->second.nick, it->second.token, std::move(ref));
        });
    }

    /// Whether `token` has the shape of one this Lobby issues (32 lower-case hex
    /// digits, 128 random bits), so a client cannot pick a guessable identity.
    static bool is_session_token(const std::string& token) {
        if (token.size() != 32) return false;
        for (const char c : token)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        return true;
    }

    /// The cluster answered a claim made by `claim_nick`.
    void nick_claimed(const ClientPtr& client, const std::string& nick, const std::string& key,
                      const std::string& token, const detail::Ref& ref, NickClaim result) {
        if (result == NickClaim::taken)
            return refuse(client, ref, ErrorCode::nick_taken, "nickname " + nick + " is taken");
        if (result == NickClaim::unavailable)
            return refuse(client, ref, ErrorCode::unavailable,
                          "nicknames cannot be checked: the chat cluster is unreachable; retry later");
        auto it = nicks_.find(key);
        const bool raced = it != nicks_.end() && it->second.token != token;
        if (client->is_closed() || raced) {
            if (it == nicks_.end() || it->second.token != token) bus_->release_nick(key, token);
            if (raced && !client->is_closed())
                refuse(client, ref, ErrorCode::nick_taken, "nickname " + nick + " is taken");
            return;
        }
        if (it == nicks_.end()) {
            NickEntry entry;
            entry.nick = nick;
            entry.token = token;
            entry.owner = client;
            it = nicks_.emplace(key, std::move(entry)).first;
        } else {
            // The same token claimed twice at once (a reconnect storm): the later wins.
            if (it->second.owner && it->second.owner != client) it->second.owner->shut_down_replaced();
            if (it->second.grace_armed) transport_.cancel_timer(it->second.grace_timer);
            it->second.grace_armed = false;
            it->second.owner = client;
            it->second.nick = nick;
        }
        bus_->nick_online(key, token, true);
        Metrics::add(metrics_.identified_sessions);
        client->identified(it->second.nick, it->second.token, ref);
    }

    void rename(ClientPtr client, std::string old_nick, std::string nick, detail::Ref ref) {
        post([this, client = std::move(client), old_nick = std::move(old_nick),
              nick = std::move(nick), ref = std::move(ref)]() mutable {
            const auto old_key = detail::fold_ascii_case(old_nick);
            const auto key = detail::fold_ascii_case(nick);
            auto old_it = nicks_.find(old_key);
            if (old_it == nicks_.end() || old_it->second.owner != client)
                return refuse(client, ref, ErrorCode::forbidden, "nickname no longer held");
            if (key != old_key && nicks_.count(key))
                return refuse(client, ref, ErrorCode::nick_taken, "nickname " + nick + " is taken");
            if (key != old_key && bus_->shares_nicknames()) {
                const auto token = old_it->second.token;
                bus_->claim_nick(key, token, [this, client, old_key, key, nick, token, ref](NickClaim result) {
                    post([this, client, old_key, key, nick, token, ref, result] {
                        rename_claimed(client, old_key, key, nick, token, ref, result);
                    });
                });
                return;
            }
            NickEntry entry = std::move(old_it->second);
            nicks_.erase(old_it);
            entry.nick = nick;
            nicks_[key] = std::move(entry);
            client->renamed(nick, std::move(ref));
        });
    }

    /// The cluster answered the claim of a rename's new nickname.
    void rename_claimed(const ClientPtr& client, const std::string& old_key, const std::string& key,
                        const std::string& nick, const std::string& token, detail::Ref ref,
                        NickClaim result) {
        if (result == NickClaim::taken)
            return refuse(client, ref, ErrorCode::nick_taken, "nickname " + nick + " is taken");
        if (result == NickClaim::unavailable)
            return refuse(client, ref, ErrorCode::unavailable,
                          "nicknames cannot be checked: the chat cluster is unreachable; retry later");
        auto old_it = nicks_.find(old_key);
        if (old_it == nicks_.end() || old_it->second.owner != client || nicks_.count(key)) {
            bus_->release_nick(key, token);
            return refuse(client, ref, old_it == nicks_.end() || old_it->second.owner != client
                                           ? ErrorCode::forbidden : ErrorCode::nick_taken,
                          old_it == nicks_.end() || old_it->second.owner != client
                              ? "nickname no longer held" : "nickname " + nick + " is taken");
        }
        NickEntry entry = std::move(old_it->second);
        nicks_.erase(old_it);
        bus_->release_nick(old_key, token);
        bus_->nick_online(key, token, true);
        entry.nick = nick;
        nicks_[key] = std::move(entry);
        client->renamed(nick, std::move(ref));
    }

    void refuse(const ClientPtr& client, const detail::Ref& ref, ErrorCode code,
                const std::string& message) {
        auto to_client = [&](const SharedFrame& frame) { deliver(client, client->handle(), frame); };
        protocol::send_error(metrics_, to_client, ref, code, message);
        client->complete();
    }

    /// `claiming`: the nick the session last asked for; a hello or rename still in
    /// flight when it ended may have given it that name, which is released instead.
    void session_ended(ClientPtr client, std::string nick, std::uint16_t code,
                       std::string claiming = {}) {
        Metrics::add(metrics_.connections_closed);
        post([this, client = std::move(client), nick = std::move(nick), code,
              claiming = std::move(claiming)] {
            sessions_.erase(client->session());
            watchers_.erase(client->session());
            auto held = nicks_.find(detail::fold_ascii_case(claiming));
            if (!claiming.empty() && held != nicks_.end() && held->second.owner == client)
                release_nick(client, claiming, code);
            else if (!nick.empty())
                release_nick(client, nick, code);
            maybe_finish_shutdown();
        });
    }

    /// A clean close (1000 from the client) or abuse frees the name now; any
    /// other end keeps it for the token holder for `nick_reclaim_grace`.
    void release_nick(const ClientPtr& client, const std::string& nick, std::uint16_t code) {
        Metrics::sub(metrics_.identified_sessions);
        auto it = nicks_.find(detail::fold_ascii_case(nick));
        if (it == nicks_.end() || it->second.owner != client) return;
        const bool keep = code != close_code::normal && code != close_code::policy && !stopping_ &&
                          limits_.nick_reclaim_grace.count() > 0;
        if (!keep) {
            bus_->release_nick(it->first, it->second.token);
            nicks_.erase(it);
            return;
        }
        auto& entry = it->second;
        entry.owner = nullptr;
        bus_->nick_online(it->first, entry.token, false);  // in grace: not reachable by DMs
        entry.reserved_until = transport_.now() + limits_.nick_reclaim_grace;
        if (entry.grace_armed) transport_.cancel_timer(entry.grace_timer);
        entry.grace_armed = true;
        entry.grace_timer = transport_.start_timer(
            lane_, limits_.nick_reclaim_grace, [this, key = it->first] {
                auto found = nicks_.find(key);
                if (found == nicks_.end() || found->second.owner ||
                    found->second.reserved_until > transport_.now())
                    return;
                bus_->release_nick(found->first, found->second.token);
                nicks_.erase(found);
            });
    }

    void maybe_finish_shutdown() {
        if (!stopping_ || !sessions_.empty() || !shutdown_done_) return;
        auto done = std::move(shutdown_done_);
        shutdown_done_ = nullptr;
        done();
    }

    // ---- rooms (lobby lane) --------------------------------------------------------------------

    std::string new_room_id() {
        std::string id;
        do id = "r" + random_.hex(1).substr(0, 10);
        while (rooms_.count(id));
        return id;
    }

    void add_room(RoomRecord record) {
        RoomEntry entry;
        entry.permanent = record.permanent;
        const auto id = record.id;
        room_names_[detail::fold_ascii_case(record.name)] = id;
        entry.hub = std::make_shared<Hub<Transport>>(*this, std::move(record));
        rooms_.emplace(id, std::move(entry));
        Metrics::add(metrics_.rooms);
        if (!rooms_.at(id).permanent) arm_room_ttl(id);
    }

    Failure room_refusal(const std::string& name) const {
        if (stopping_) return ErrorCode::server_busy;
        if (rooms_.size() >= limits_.max_rooms) return ErrorCode::too_many_rooms;
        if (room_names_.count(detail::fold_ascii_case(name))) return ErrorCode::room_exists;
        return std::nullopt;
    }

    /// Creates a room; with a Bus that shares room names, once the name is
    /// claimed cluster-wide. `done(failure, room)` runs on this lane.
    void make_room(const std::string& name, std::function<void(Failure, RoomInfo)> done) {
        if (auto failure = room_refusal(name)) return done(failure, RoomInfo{});
        if (!bus_->shares_room_names()) return done(std::nullopt, add_new_room(name, new_room_id()));
        const auto key = detail::fold_ascii_case(name);
        auto id = new_room_id();
        bus_->claim_room_name(key, id, [this, name, key, id, done](NickClaim result) {
            post([this, name, key, id, done, result] {
                if (result == NickClaim::taken) return done(ErrorCode::room_exists, RoomInfo{});
                if (result == NickClaim::unavailable) return done(ErrorCode::unavailable, RoomInfo{});
                // Checked again: the lane ran other work while Redis answered.
                if (auto failure = room_refusal(name)) {
                    bus_->release_room_name(key, id);
                    return done(failure, RoomInfo{});
                }
                done(std::nullopt, add_new_room(name, id));
            });
        });
    }

    RoomInfo add_new_room(const std::string& name, const std::string& new_id) {
        RoomRecord record;
        record.id = new_id;
        record.name = name;
        record.epoch = random_.hex(1);
        store_->save_room(record);
        const auto id = record.id;
        add_room(std::move(record));
        Metrics::add(metrics_.rooms_created);
        bus_->room_changed(node_id_, rooms_.at(id).hub->record(), 0);
        publish_room(id);
        return info(rooms_.at(id));
    }

    void create_room_for(ClientPtr client, std::string name, detail::Ref ref) {
        post([this, client = std::move(client), name = std::move(name), ref = std::move(ref)] {
            make_room(name, [this, client, name, ref](Failure failure, RoomInfo room) {
                if (failure) return refuse(client, ref, *failure, room_refusal_text(*failure, name));
                deliver(client, client->handle(),
                        make_frame(detail::encode_room_event("room_created", ref, room)));
                client->complete();
            });
        });
    }

    std::string room_refusal_text(ErrorCode code, const std::string& name) const {
        switch (code) {
            case ErrorCode::room_exists: return "a room named " + name + " exists";
            case ErrorCode::too_many_rooms: return "at most " + std::to_string(limits_.max_rooms) + " rooms";
            case ErrorCode::unavailable:
                return "room names cannot be checked: the chat cluster is unreachable; retry later";
            default: return "the server is shutting down";
        }
    }

    void route_join(std::string room, typename Hub<Transport>::JoinRequest join) {
        post([this, room = std::move(room), join = std::move(join)]() mutable {
            auto it = rooms_.find(room);
            if (it == rooms_.end())
                return refuse(join.client, join.ref, ErrorCode::room_not_found, "no room " + room);
            it->second.hub->join(std::move(join));
        });
    }

    void join_finished(const ClientPtr& client, const std::string& room, HubPtr hub) {
        client->join_finished(room, std::move(hub));
    }

    /// A Hub's member count changed (any lane).
    void room_members_changed(const std::string& id, std::size_t members) {
        post([this, id, members] {
            auto it = rooms_.find(id);
            if (it == rooms_.end()) return;
            it->second.members = members;
            bus_->room_changed(node_id_, it->second.hub->record(), members);
            // No new timer once stopping: shutdown leaves none behind.
            if (members == 0 && it->second.remote == 0 && !it->second.permanent && !stopping_)
                arm_room_ttl(id);
            publish_room(id);
        });
    }

    void arm_room_ttl(const std::string& id) {
        auto& entry = rooms_.at(id);
        if (entry.ttl_armed) transport_.cancel_timer(entry.ttl_timer);
        entry.ttl_armed = true;
        entry.ttl_timer = transport_.start_timer(lane_, limits_.empty_room_ttl, [this, id] {
            auto it = rooms_.find(id);
            if (it == rooms_.end() || stopping_) return;
            it->second.ttl_armed = false;
            if (it->second.members != 0 || it->second.remote != 0) return;
            // Only the Hub knows whether a join is on its way; it decides.
            it->second.hub->retire_if_empty([this, id](bool retired) {
                if (retired) post([this, id] { remove_room(id); });
            });
        });
    }

    /// `announce`: tell the other nodes (false when they told us).
    void remove_room(const std::string& id, bool announce = true) {
        auto it = rooms_.find(id);
        if (it == rooms_.end()) return;
        const auto name_key = detail::fold_ascii_case(it->second.hub->name());
        if (announce) bus_->room_removed(node_id_, id);
        // Also when told by another node: the release is id-checked, and the node
        // that claimed the name must forget it (or it would claim it again).
        if (!it->second.permanent) bus_->release_room_name(name_key, id);
        room_names_.erase(name_key);
        rooms_.erase(it);
        dirty_rooms_.erase(id);
        store_->remove_room(id);
        Metrics::sub(metrics_.rooms);
        Metrics::add(metrics_.rooms_removed);
        notify_watchers("room_removed", make_frame(detail::encode_room_removed(id)));
    }

    RoomInfo info(const RoomEntry& entry) const {
        return RoomInfo{entry.hub->id(), entry.hub->name(), entry.members + entry.remote};
    }

    /// Another node's view of a room: learn rooms created there, keep their
    /// member counts, and drop a room another node removed if nobody is here.
    void on_directory(const DirectoryEvent& event) {
        if (stopping_) return;
        const auto id = event.room.id;
        auto it = rooms_.find(id);
        if (event.kind == DirectoryEvent::Kind::removed) {
            if (it == rooms_.end() || it->second.permanent || it->second.members != 0) return;
            it->second.remote = 0;
            it->second.hub->retire_if_empty([this, id](bool retired) {
                if (retired) post([this, id] { remove_room(id, false); });
            });
            return;
        }
        if (it == rooms_.end()) {
            // Same name created on two nodes at once: each keeps its own here.
            if (id.empty() || room_names_.count(detail::fold_ascii_case(event.room.name)) ||
                rooms_.size() >= limits_.max_rooms)
                return;
            RoomRecord record = event.room;
            record.last_seq = 0;  // the Hub asks the cluster on its first join
            add_room(std::move(record));
            it = rooms_.find(id);
        }
        it->second.remote = event.remote_members;
        if (it->second.members == 0 && it->second.remote == 0 && !it->second.permanent &&
            !it->second.ttl_armed)
            arm_room_ttl(id);
        publish_room(id);
    }

    std::vector<RoomInfo> room_list() const {
        std::vector<RoomInfo> list;
        list.reserve(rooms_.size());
        for (const auto& [id, entry] : rooms_) list.push_back(info(entry));
        // Ignoring ASCII case, as names are unique ignoring it: "alpha", "Beta", "gamma".
        std::sort(list.begin(), list.end(), [](const RoomInfo& a, const RoomInfo& b) {
            const auto fa = detail::fold_ascii_case(a.name), fb = detail::fold_ascii_case(b.name);
            return std::tie(fa, a.id) < std::tie(fb, b.id);
        });
        return list;
    }

    // ---- lobby watchers (lobby lane) -------------------------------------------------------------

    void list_rooms(ClientPtr client, detail::Ref ref) {
        post([this, client = std::move(client), ref = std::move(ref)] {
            deliver(client, client->handle(), make_frame(detail::encode_rooms(ref, room_list())));
            client->complete();
        });
    }

    void add_watcher(ClientPtr client, detail::Ref ref) {
        post([this, client = std::move(client), ref = std::move(ref)] {
            // Snapshot and registration on this lane, so no update can slip between them.
            if (deliver(client, client->handle(), make_frame(detail::encode_rooms(ref, room_list()))))
                watchers_[client->session()] = client;
            client->complete();
        });
    }

    /// Marks a room changed; changes are sent once per pass of this lane, so a
    /// burst of joins costs one `room_update` per watcher.
    void publish_room(const std::string& id) {
        dirty_rooms_.insert(id);
        if (flush_posted_) return;
        flush_posted_ = true;
        post([this] {
            flush_posted_ = false;
            auto dirty = std::move(dirty_rooms_);
            dirty_rooms_.clear();
            for (const auto& id : dirty) {
                auto it = rooms_.find(id);
                if (it == rooms_.end()) continue;
                notify_watchers("room_update",
                                make_frame(detail::encode_room_event("room_update", {}, info(it->second))));
            }
        });
    }

    void notify_watchers(std::string_view event, const SharedFrame& frame) {
        std::size_t sent = 0;
        std::vector<ClientPtr> slow;
        for (auto& [session, client] : watchers_) {
            if (client->connection_gone()) continue;
            if (try_send(client->handle(), frame)) ++sent;
            else slow.push_back(client);
        }
        count_sent(sent, frame->size());
        for (auto& client : slow) {
            watchers_.erase(client->session());
            drop_slow_consumer(client, client->handle());
        }
        for (auto& [id, watcher] : api_watchers_) watcher(event, frame);
    }

    // ---- search (lobby lane) -----------------------------------------------------------------------

    /// Checks the room and the words, asks the store and brings its answer back
    /// to this lane (a store may answer from its own thread).
    void run_search(const std::string& room, std::string q, std::size_t limit, std::uint64_t offset,
                    std::function<void(Failure, SearchPage)> done) {
        if (!rooms_.count(room)) return done(ErrorCode::room_not_found, {});
        if (!detail::is_valid_utf8(q) || detail::count_code_points(q) > limits_.max_search_chars)
            return done(ErrorCode::bad_request, {});
        // The store gets only the words that count, one space apart.
        SearchQuery query;
        for (const auto& term : detail::search_terms(q, limits_.max_search_terms))
            query.text += (query.text.empty() ? "" : " ") + term;
        if (query.text.empty()) return done(ErrorCode::bad_request, {});
        if (!store_->can_search()) return done(ErrorCode::not_supported, {});
        query.limit = limit;
        query.offset = offset;
        store_->search(room, std::move(query), [this, done = std::move(done)](SearchPage page) mutable {
            post([done = std::move(done), page = std::move(page)]() mutable {
                if (page.failed) return done(ErrorCode::server_busy, {});
                done(std::nullopt, std::move(page));
            });
        });
    }

    void search_for(ClientPtr client, std::string room, std::string q, std::size_t limit,
                    std::uint64_t offset, detail::Ref ref) {
        post([this, client = std::move(client), room = std::move(room), q = std::move(q), limit,
              offset, ref = std::move(ref)]() mutable {
            auto text = q;
            run_search(room, std::move(text), limit, offset,
                       [this, client, room, q = std::move(q), offset, ref](Failure failure,
                                                                            SearchPage page) {
                           if (failure) return refuse(client, ref, *failure, search_refusal(*failure, room));
                           deliver(client, client->handle(),
                                   make_frame(detail::encode_search_results(
                                       ref, room, q, offset, page.messages, page.more)));
                           client->complete();
                       });
        });
    }

    std::string search_refusal(ErrorCode code, const std::string& room) const {
        switch (code) {
            case ErrorCode::room_not_found: return "no room " + room;
            case ErrorCode::bad_request:
                return "\"q\" must hold at least one word and at most " +
                       std::to_string(limits_.max_search_chars) + " characters";
            case ErrorCode::not_supported: return "this server's store cannot search";
            default: return "search is unavailable right now";
        }
    }

    // ---- direct messages (lobby lane) ----------------------------------------------------------

    void direct_message(ClientPtr client, std::string from, std::string to, std::string text,
                        std::string client_id, detail::Ref ref) {
        post([this, client = std::move(client), from = std::move(from), to = std::move(to),
              text = std::move(text), client_id = std::move(client_id), ref = std::move(ref)] {
            const auto key = detail::fold_ascii_case(to);
            auto it = nicks_.find(key);
            const auto ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                                transport_.wall_now().time_since_epoch())
                                .count();
            if (it == nicks_.end() && bus_->shares_nicknames()) {
                // Perhaps on another node: the cluster knows who holds the name.
                auto frame = make_frame(
                    detail::encode_dm(from, to, text, ts, "d" + random_.hex(1), client_id));
                Metrics::add(metrics_.messages_in);
                bus_->send_direct(node_id_, key, frame, [this, client, frame, to, ref](bool sent) {
                    post([this, client, frame, to, ref, sent] {
                        if (!sent)
                            return refuse(client, ref, ErrorCode::user_not_found, "no user " + to + " online");
                        if (deliver(client, client->handle(), frame)) Metrics::add(metrics_.messages_out);
                        client->complete();
                    });
                });
                return;
            }
            if (it == nicks_.end() || !it->second.owner)
                return refuse(client, ref, ErrorCode::user_not_found, "no user " + to + " online");
            const auto& recipient = it->second.owner;
            auto frame = make_frame(detail::encode_dm(from, it->second.nick, text, ts,
                                                      "d" + random_.hex(1), client_id));
            Metrics::add(metrics_.messages_in);
            if (deliver(recipient, recipient->handle(), frame)) Metrics::add(metrics_.messages_out);
            if (recipient != client && deliver(client, client->handle(), frame))
                Metrics::add(metrics_.messages_out);
            client->complete();
        });
    }

    Transport& transport_;
    const Limits limits_;
    Metrics metrics_;
    std::shared_ptr<Store> store_;
    std::shared_ptr<Bus> bus_;
    detail::RandomSource random_;
    const std::string node_id_;
    typename Transport::lane_type lane_;
    std::atomic<std::uint64_t> next_session_{1};
    std::atomic<std::uint64_t> next_watch_{1};
    std::atomic<bool> stopping_{false};

    // Lobby lane only.
    std::unordered_map<std::string, RoomEntry> rooms_;
    std::unordered_map<std::string, std::string> room_names_;  // folded name -> id
    std::unordered_map<std::string, NickEntry> nicks_;         // folded nick -> entry
    std::map<std::uint64_t, ClientPtr> sessions_;
    std::map<std::uint64_t, ClientPtr> watchers_;
    std::map<std::uint64_t, Watcher> api_watchers_;
    std::set<std::string> dirty_rooms_;
    bool flush_posted_ = false;
    std::string shutdown_reason_;
    bool shutdown_begun_ = false;  // the shutdown pass has run
    std::function<void()> shutdown_done_;
};

PARLEY_NAMESPACE_END
