// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/bus/redis/connection.hpp>
#include <parley/bus/redis/keys.hpp>
#include <parley/bus/redis/patch_codec.hpp>
#include <parley/bus/redis/scripts.hpp>
#include <parley/detail/json.hpp>
#include <parley/frame.hpp>
#include <parley/version.hpp>

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// How a RedisBus is set up.
struct RedisBusOptions {
    RedisEndpoint endpoint;
    /// How long a node's member counts and nickname claims outlive its last
    /// heartbeat (a crashed node's members leave the counts and its nicknames
    /// free up within this). Heartbeats go out every `ttl / 3`. At most 30 s.
    std::chrono::milliseconds ttl{15000};
    /// Messages kept per room stream (approximately: MAXLEN ~).
    std::size_t stream_cap = 10000;
    std::string key_prefix = "parley:";
    RedisConnectionOptions connection;
    /// Where connection changes are reported (any thread); null: nowhere.
    std::function<void(const std::string&)> log;
};

/// A Bus over Redis for several server processes (nodes) acting as one chat:
/// per-room pub/sub channels, messages numbered and stored by one Lua script
/// (INCR + XADD + PUBLISH), nicknames claimed with an owner token and a TTL,
/// member counts and room announcements on a lobby channel with heartbeats.
/// Pair it with `RedisStore` (history from the streams). See docs/scaling.md.
///
/// Two hiredis connections on an Asio strand: one for commands, one for
/// subscriptions. While Redis is away the node keeps serving its own members:
/// appends and claims fail fast (`unavailable`), nothing queues up, and both
/// connections come back with backoff, resubscribing and re-registering.
/// Create it with `std::make_shared`, call `start()`, and `stop()` before the
/// Lobby using it is destroyed.
class RedisBus final : public Bus, public std::enable_shared_from_this<RedisBus> {
public:
    using Clock = std::chrono::steady_clock;

    /// A snapshot for health checks and metrics (any thread).
    struct Status {
        bool up = false;                  ///< both connections are up
        std::uint64_t reconnects = 0;     ///< connection attempts after the first
        std::uint64_t outages = 0;        ///< times a connection went down
        std::uint64_t refused = 0;        ///< appends and claims refused while down
        std::string last_error;
    };

    RedisBus(asio::io_context& io, RedisBusOptions options)
        : io_(io), strand_(asio::make_strand(io)), options_(std::move(options)),
          keys_(options_.key_prefix), tick_(io) {
        options_.ttl = std::clamp(options_.ttl, std::chrono::milliseconds(300), std::chrono::milliseconds(30000));
        cmd_ = std::make_shared<RedisConnection>(io_, strand_, options_.endpoint, options_.connection, "commands");
        sub_ = std::make_shared<RedisConnection>(io_, strand_, options_.endpoint, options_.connection, "subscriber");
    }

    RedisBus(const RedisBus&) = delete;
    RedisBus& operator=(const RedisBus&) = delete;

    const RedisKeys& keys() const noexcept { return keys_; }
    const RedisBusOptions& options() const noexcept { return options_; }

    /// Connects both connections and starts the heartbeat.
    void start() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            std::weak_ptr<RedisBus> weak = self;
            self->cmd_->on_state([weak](bool up, const std::string& why) {
                if (auto s = weak.lock()) s->connection_changed(*s->cmd_, up, why);
            });
            self->sub_->on_state([weak](bool up, const std::string& why) {
                if (auto s = weak.lock()) s->connection_changed(*s->sub_, up, why);
            });
            self->sub_->on_message([weak](const std::string& channel, const std::string& payload) {
                if (auto s = weak.lock()) s->received(channel, payload);
            });
            self->sub_->subscribe(self->keys_.lobby_channel());
            self->sub_->subscribe(self->keys_.direct_channel());
            self->cmd_->start();
            self->sub_->start();
            self->arm_tick();
        });
    }

    /// Releases this node's nicknames and counts (best effort), then disconnects.
    /// `done` (on the bus's strand) runs once that is over: the callbacks of
    /// every command still in flight have run by then (failed, most of them),
    /// and no handler or callback is called afterwards. So whatever those
    /// callbacks point at (a Lobby) must live until `done`, and no longer.
    void stop(std::function<void()> done = {}) {
        asio::dispatch(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
            if (done) self->stop_waiters_.push_back(std::move(done));
            if (self->stop_finished_) return self->release_stop_waiters();
            if (self->stopped_) return;
            self->stopped_ = true;
            self->directory_ = nullptr;
            self->direct_ = nullptr;
            self->rooms_.clear();
            asio::error_code ignored;
            self->tick_.cancel(ignored);
            for (auto& [key, token] : self->online_nicks_)
                self->eval(redis_scripts::release, {self->keys_.online(key)}, {token});
            self->online_nicks_.clear();
            for (auto& [key, token] : self->held_nicks_)
                self->eval(redis_scripts::release, {self->keys_.nick(key)}, {token});
            self->held_nicks_.clear();
            self->members_stopping();
            self->cmd_->command({"DEL", self->keys_.node_counts(self->node_)}, [self](auto) {
                // Fails what is still in flight: those callbacks are posted on the
                // strand now, ahead of the waiters.
                self->cmd_->stop();
                asio::post(self->strand_, [self] {
                    self->stop_finished_ = true;
                    self->release_stop_waiters();
                });
            });
            self->sub_->stop();
        });
    }

    /// Frees both connections now. Only once the io_context no longer runs
    /// (after `stop()` and the event loop ended): it skips the strand.
    void close_now() {
        stopped_ = true;
        directory_ = nullptr;
        direct_ = nullptr;
        cmd_->stop();
        sub_->stop();
    }

    /// `hook` runs on the bus's strand each time both connections are up
    /// (first connect and after every outage), to put state back into Redis.
    void on_connected(std::function<void()> hook) {
        asio::dispatch(strand_, [self = shared_from_this(), hook = std::move(hook)]() mutable {
            self->connected_hooks_.push_back(std::move(hook));
        });
    }

    /// Rooms found in Redis (RedisStore reads them after every reconnect): the
    /// Lobby learns those created elsewhere while this node was cut off.
    void learn_rooms(std::vector<RoomRecord> rooms) {
        asio::dispatch(strand_, [self = shared_from_this(), rooms = std::move(rooms)] {
            for (const auto& room : rooms) {
                if (room.id.empty() || self->records_.count(room.id)) continue;
                self->records_[room.id] = room;
                self->report(room.id);
            }
        });
    }

    Status status() const {
        std::lock_guard<std::mutex> lock(status_mutex_);
        Status s = status_;
        s.up = cmd_up_.load() && sub_up_.load();
        s.reconnects = cmd_->reconnects() + sub_->reconnects();
        return s;
    }

    /// Runs one command on the command connection; `done` runs on the bus's
    /// strand (nullopt when Redis is unreachable). For RedisStore.
    void command(std::vector<std::string> args, RedisConnection::ReplyDone done) {
        asio::dispatch(strand_, [self = shared_from_this(), args = std::move(args), done = std::move(done)]() mutable {
            self->cmd_->command(std::move(args), std::move(done));
        });
    }
    /// EVAL `script` with `keys` and `args` (same threading as `command`).
    void eval_script(const char* script, std::vector<std::string> keys, std::vector<std::string> args,
                     RedisConnection::ReplyDone done) {
        command(eval_args(script, std::move(keys), std::move(args)), std::move(done));
    }

    // ---- Bus: fan-out -----------------------------------------------------------------

    void subscribe(const std::string& node, const std::string& room_id, Handler handler) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id, handler = std::move(handler)]() mutable {
            if (self->stopped_) return;
            self->note_node(node);
            auto& handlers = self->rooms_[room_id];
            if (handlers.empty()) self->sub_->subscribe(self->keys_.room_channel(room_id));
            handlers[node] = std::move(handler);
        });
    }

    void unsubscribe(const std::string& node, const std::string& room_id) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id] {
            auto it = self->rooms_.find(room_id);
            if (it == self->rooms_.end()) return;
            it->second.erase(node);
            if (!it->second.empty()) return;
            self->rooms_.erase(it);
            self->sub_->unsubscribe(self->keys_.room_channel(room_id));
        });
    }

    void publish(const BusEvent& event) override {
        asio::dispatch(strand_, [self = shared_from_this(), event] {
            if (!self->cmd_->up()) return;  // presence and typing are not worth queueing
            // origin \n 0 \n patch (one line of JSON, or empty) \n frame
            std::string payload = event.origin_node + "\n0\n";
            if (event.patch) payload.append(encode_message_patch(*event.patch));
            payload.push_back('\n');
            payload.append(event.frame->text());
            self->cmd_->command({"PUBLISH", self->keys_.room_channel(event.room_id), std::move(payload)},
                                [](std::optional<RedisReply>) {});
        });
    }

    // ---- Bus: sequencing --------------------------------------------------------------

    bool assigns_seq() const override { return true; }

    void append(SequencedMessage m, SeqDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), m = std::move(m), done = std::move(done)]() mutable {
            // Without the subscriber the sender would never get its own message
            // back (nor anyone here): refused, as in an outage.
            if (!self->cmd_->up() || !self->sub_->up()) {
                self->count_refused();
                return done(std::nullopt);
            }
            const auto& room = m.room_id;
            self->eval(redis_scripts::append, {self->keys_.room_seq(room), self->keys_.room_stream(room)},
                       {std::to_string(m.floor), std::to_string(self->options_.stream_cap),
                        self->keys_.room_channel(room), m.origin_node + "\n", m.message.author,
                        std::move(m.frame_head), std::move(m.frame_tail), std::to_string(m.message.ts),
                        m.message.from, m.message.text, m.message.client_id},
                       [done = std::move(done)](std::optional<RedisReply> r) {
                           if (r && r->kind == RedisReply::Kind::integer && r->integer > 0)
                               return done(static_cast<std::uint64_t>(r->integer));
                           done(std::nullopt);
                       });
        });
    }

    /// Read only once the room's subscription is confirmed (the Hub subscribed
    /// just before): every later message then arrives live.
    void room_head(const std::string& room_id, SeqDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), room_id, done = std::move(done)]() mutable {
            self->sub_->when_subscribed(self->keys_.room_channel(room_id), [self, room_id,
                                                                             done = std::move(done)]() mutable {
                self->cmd_->command({"GET", self->keys_.room_seq(room_id)},
                                    [done = std::move(done)](std::optional<RedisReply> r) {
                                        if (!r || r->is_error()) return done(std::nullopt);
                                        if (r->kind == RedisReply::Kind::nil) return done(std::uint64_t{0});
                                        try {
                                            done(static_cast<std::uint64_t>(std::stoull(r->str)));
                                        } catch (const std::exception&) {
                                            done(std::nullopt);
                                        }
                                    });
            });
        });
    }

    // ---- Bus: nicknames -----------------------------------------------------------------

    bool shares_nicknames() const override { return true; }

    void claim_nick(const std::string& key, const std::string& token, ClaimDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), key, token, done = std::move(done)]() mutable {
            if (!self->cmd_->up()) {
                self->count_refused();
                return done(NickClaim::unavailable);
            }
            const auto nick_key = self->keys_.nick(key);
            const auto ttl = std::to_string(self->options_.ttl.count());
            // The common case in one step; a held name goes through the token check.
            self->cmd_->command(
                {"SET", nick_key, token, "NX", "PX", ttl},
                [self, key, token, nick_key, ttl, done = std::move(done)](std::optional<RedisReply> r) mutable {
                    if (!r || r->is_error()) return done(NickClaim::unavailable);
                    if (r->is_string()) return self->claimed(key, token, std::move(done));
                    self->eval(redis_scripts::claim_or_renew, {nick_key}, {token, ttl},
                               [self, key, token, done = std::move(done)](std::optional<RedisReply> r2) mutable {
                                   if (!r2 || r2->kind != RedisReply::Kind::integer)
                                       return done(NickClaim::unavailable);
                                   if (r2->integer != 1) return done(NickClaim::taken);
                                   self->claimed(key, token, std::move(done));
                               });
                });
        });
    }

    void release_nick(const std::string& key, const std::string& token) override {
        asio::dispatch(strand_, [self = shared_from_this(), key, token] {
            auto it = self->held_nicks_.find(key);
            if (it != self->held_nicks_.end() && it->second == token) self->held_nicks_.erase(it);
            self->drop_online(key, token);
            self->eval(redis_scripts::release, {self->keys_.nick(key)}, {token});
        });
    }

    // ---- Bus: cluster directory (nickname look-ups, room names, who is connected) ------------

    void nick_held(const std::string& key, HeldDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), key, done = std::move(done)]() mutable {
            if (!self->cmd_->up()) return done(std::nullopt);  // a wrong "free" is worse than no answer
            self->cmd_->command({"EXISTS", self->keys_.nick(key)},
                                [done = std::move(done)](std::optional<RedisReply> r) {
                                    if (!r || r->kind != RedisReply::Kind::integer) return done(std::nullopt);
                                    done(r->integer != 0);
                                });
        });
    }

    bool shares_room_names() const override { return true; }

    void claim_room_name(const std::string& key, const std::string& room_id, ClaimDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), key, room_id, done = std::move(done)]() mutable {
            if (!self->cmd_->up()) {
                self->count_refused();
                return done(NickClaim::unavailable);
            }
            self->eval(redis_scripts::claim_room_name, {self->keys_.room_name(key)}, {room_id},
                       [self, key, room_id, done = std::move(done)](std::optional<RedisReply> r) {
                           if (!r || r->kind != RedisReply::Kind::integer) return done(NickClaim::unavailable);
                           if (r->integer != 1) return done(NickClaim::taken);
                           self->room_names_[key] = room_id;
                           done(NickClaim::granted);
                       });
        });
    }

    void release_room_name(const std::string& key, const std::string& room_id) override {
        asio::dispatch(strand_, [self = shared_from_this(), key, room_id] {
            auto it = self->room_names_.find(key);
            if (it != self->room_names_.end() && it->second == room_id) self->room_names_.erase(it);
            self->eval(redis_scripts::release, {self->keys_.room_name(key)}, {room_id});
        });
    }

    void nick_online(const std::string& key, const std::string& token, bool online) override {
        asio::dispatch(strand_, [self = shared_from_this(), key, token, online] {
            if (online) {
                self->online_nicks_[key] = token;
                self->set_online(key, token);
            } else {
                self->drop_online(key, token);
            }
        });
    }

    // ---- Bus: direct messages ---------------------------------------------------------------

    void send_direct(const std::string& origin_node, const std::string& key, SharedFrame frame,
                     DirectDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), origin_node, key, frame = std::move(frame),
                                 done = std::move(done)]() mutable {
            if (!self->cmd_->up()) return done(false);
            std::string payload = origin_node + "\n" + key + "\n";
            payload.append(frame->text());
            self->eval(redis_scripts::direct, {self->keys_.online(key)},
                       {self->keys_.direct_channel(), std::move(payload)},
                       [done = std::move(done)](std::optional<RedisReply> r) {
                           done(r && r->kind == RedisReply::Kind::integer && r->integer == 1);
                       });
        });
    }

    void watch_direct(const std::string& node, DirectHandler handler) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, handler = std::move(handler)]() mutable {
            self->note_node(node);
            self->direct_ = std::move(handler);
        });
    }

    // ---- Bus: directory -------------------------------------------------------------------

    void watch_directory(const std::string& node, DirectoryHandler handler) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, handler = std::move(handler)]() mutable {
            self->note_node(node);
            self->directory_ = std::move(handler);
        });
    }

    void room_changed(const std::string& node, const RoomRecord& room, std::size_t local_members) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room, local_members] {
            self->note_node(node);
            if (local_members) self->local_rooms_[room.id] = {room, local_members};
            else self->local_rooms_.erase(room.id);
            detail::JsonWriter w;
            w.field("t", "room").field("node", node).key("room");
            write_room(w, room, local_members);
            self->publish_lobby(w.finish());
            self->counts_dirty_ = true;
        });
    }

    void room_removed(const std::string& node, const std::string& room_id) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id] {
            self->local_rooms_.erase(room_id);
            detail::JsonWriter w;
            self->publish_lobby(w.field("t", "gone").field("node", node).field("id", room_id).finish());
            self->counts_dirty_ = true;
        });
    }

private:
    struct LocalRoom {
        RoomRecord record;
        std::size_t members = 0;
    };
    struct RemoteNode {
        Clock::time_point expires{};
        std::map<std::string, std::size_t> counts;  // room id -> members there
    };

    static std::vector<std::string> eval_args(const char* script, std::vector<std::string> keys,
                                              std::vector<std::string> args) {
        std::vector<std::string> out{"EVAL", script, std::to_string(keys.size())};
        for (auto& k : keys) out.push_back(std::move(k));
        for (auto& a : args) out.push_back(std::move(a));
        return out;
    }
    void eval(const char* script, std::vector<std::string> keys, std::vector<std::string> args,
              RedisConnection::ReplyDone done = [](std::optional<RedisReply>) {}) {
        cmd_->command(eval_args(script, std::move(keys), std::move(args)), std::move(done));
    }

    void release_stop_waiters() {
        auto waiters = std::move(stop_waiters_);
        stop_waiters_.clear();
        for (auto& fn : waiters) fn();
    }

    void set_online(const std::string& key, const std::string& token) {
        if (!cmd_->up()) return;  // put back by renew_nicks once Redis is back
        cmd_->command({"SET", keys_.online(key), token, "PX", std::to_string(options_.ttl.count())},
                      [](std::optional<RedisReply>) {});
    }
    void drop_online(const std::string& key, const std::string& token) {
        auto it = online_nicks_.find(key);
        if (it == online_nicks_.end() || it->second != token) return;
        online_nicks_.erase(it);
        eval(redis_scripts::release, {keys_.online(key)}, {token});
    }

    void claimed(const std::string& key, const std::string& token, ClaimDone done) {
        held_nicks_[key] = token;
        done(NickClaim::granted);
    }

    void note_node(const std::string& node) {
        if (node_.empty()) node_ = node;
    }

    void count_refused() {
        std::lock_guard<std::mutex> lock(status_mutex_);
        ++status_.refused;
    }

    static void write_room(detail::JsonWriter& w, const RoomRecord& room, std::size_t members) {
        w.begin_object()
            .field("id", room.id)
            .field("name", room.name)
            .field("epoch", room.epoch)
            .field("permanent", room.permanent)
            .field("n", static_cast<std::uint64_t>(members))
            .end_object();
    }

    // ---- connection state ----------------------------------------------------------------

    void connection_changed(RedisConnection& which, bool up, const std::string& why) {
        (&which == cmd_.get() ? cmd_up_ : sub_up_).store(up);
        {
            std::lock_guard<std::mutex> lock(status_mutex_);
            if (!up) {
                ++status_.outages;
                status_.last_error = why;
            }
        }
        if (options_.log) options_.log("redis " + which.name() + ": " + why);
        if (!up) members_online_ = false;
        if (up) last_echo_ = Clock::now();  // a fresh link gets a full TTL to show it works
        if (up && cmd_up_ && sub_up_ && !stopped_) {
            // Back (or first up): say hello so the others answer with their counts,
            // and put our own state back in case Redis lost it.
            members_back_online();
            detail::JsonWriter w;
            publish_lobby(w.field("t", "hello").field("node", node_).finish());
            heartbeat();
            renew_nicks();
            reclaim_room_names();
            for (auto& hook : connected_hooks_) hook();
        }
    }

    // ---- heartbeat and the lobby channel -------------------------------------------------------

    void arm_tick() {
        tick_.expires_after(std::min<std::chrono::milliseconds>(options_.ttl / 6, std::chrono::milliseconds(1000)));
        tick_.async_wait(asio::bind_executor(strand_, [weak = weak_from_this()](const asio::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self || self->stopped_) return;
            self->on_tick();
            self->arm_tick();
        }));
    }

    void on_tick() {
        const auto now = Clock::now();
        check_subscriber(now);
        for (auto it = remote_.begin(); it != remote_.end();) {
            if (it->second.expires > now) {
                ++it;
                continue;
            }
            auto rooms = std::move(it->second.counts);
            node_gone(it->first);  // its members leave the rooms' lists too
            it = remote_.erase(it);
            for (const auto& [id, n] : rooms) report(id);  // the crashed node's members leave the counts
        }
        if (now >= next_heartbeat_) {
            next_heartbeat_ = now + options_.ttl / 3;
            heartbeat();
            renew_nicks();
        } else if (counts_dirty_) {
            heartbeat();
        }
    }

    /// The subscriber gets no replies, so a half-open link (the peer gone, no
    /// RST) would look up forever: every heartbeat this node publishes comes
    /// back on it, and none for a whole TTL (three heartbeats) means it is dead.
    void check_subscriber(Clock::time_point now) {
        if (!cmd_->up() || !sub_->up() || node_.empty()) {
            last_echo_ = now;  // nothing published, nothing to expect
            return;
        }
        if (now - last_echo_ <= options_.ttl) return;
        last_echo_ = now;
        sub_->reconnect("no echo of this node's heartbeat within " + std::to_string(options_.ttl.count()) +
                        " ms: subscriber link presumed dead");
    }

    /// Publishes our counts and stores them with expiry.
    void heartbeat() {
        if (!cmd_->up() || node_.empty()) return;
        counts_dirty_ = false;
        renew_alive();  // this node's member-list fields count while this lives
        detail::JsonWriter w;
        w.field("t", "hb").field("node", node_).key("rooms").begin_array();
        std::vector<std::string> counts{std::to_string(options_.ttl.count())};
        for (const auto& [id, room] : local_rooms_) {
            write_room(w, room.record, room.members);
            counts.push_back(id);
            counts.push_back(std::to_string(room.members));
        }
        w.end_array();
        publish_lobby(w.finish());
        eval(redis_scripts::node_counts, {keys_.node_counts(node_)}, std::move(counts));
    }

    /// Keeps our nickname claims alive (and puts them back after Redis lost them).
    void renew_nicks() {
        if (!cmd_->up()) return;
        for (const auto& [key, token] : online_nicks_) set_online(key, token);
        const auto ttl = std::to_string(options_.ttl.count());
        for (const auto& [key, token] : held_nicks_) {
            eval(redis_scripts::claim_or_renew, {keys_.nick(key)}, {token, ttl},
                 [self = shared_from_this(), key = key, token = token](std::optional<RedisReply> r) {
                     // Taken by someone else (ours expired during a long outage): not ours to renew.
                     if (r && r->kind == RedisReply::Kind::integer && r->integer == 0) {
                         auto it = self->held_nicks_.find(key);
                         if (it != self->held_nicks_.end() && it->second == token) self->held_nicks_.erase(it);
                     }
                 });
        }
    }

    /// Puts this node's room name claims back (Redis may have lost them); a name
    /// another room took meanwhile stays theirs.
    void reclaim_room_names() {
        for (const auto& [key, room_id] : room_names_)
            eval(redis_scripts::claim_room_name, {keys_.room_name(key)}, {room_id});
    }

    void publish_lobby(std::string payload) {
        if (!cmd_->up()) return;
        cmd_->command({"PUBLISH", keys_.lobby_channel(), std::move(payload)}, [](std::optional<RedisReply>) {});
    }

    void received(const std::string& channel, const std::string& payload) {
        if (stopped_) return;
        if (channel == keys_.lobby_channel()) return lobby_event(payload);
        if (channel == keys_.direct_channel()) {
            // origin \n key \n frame
            const auto a = payload.find('\n');
            const auto b = a == std::string::npos ? a : payload.find('\n', a + 1);
            if (b == std::string::npos || payload.compare(0, a, node_) == 0 || !direct_) return;
            direct_(payload.substr(a + 1, b - a - 1), make_frame(payload.substr(b + 1)));
            return;
        }
        const auto room = keys_.room_of_channel(channel);
        if (member_message(room, payload)) return;
        auto it = rooms_.find(room);
        if (room.empty() || it == rooms_.end()) return;
        // origin \n seq \n author \n frame
        const auto a = payload.find('\n');
        const auto b = a == std::string::npos ? a : payload.find('\n', a + 1);
        const auto c = b == std::string::npos ? b : payload.find('\n', b + 1);
        if (c == std::string::npos) return;
        BusEvent event;
        event.origin_node = payload.substr(0, a);
        event.room_id = room;
        try {
            event.seq = std::stoull(payload.substr(a + 1, b - a - 1));
        } catch (const std::exception&) {
            return;
        }
        // The third line: a sequenced message's author, or another event's patch.
        if (event.seq != 0) event.author = payload.substr(b + 1, c - b - 1);
        else if (c > b + 1) event.patch = decode_message_patch(std::string_view(payload).substr(b + 1, c - b - 1));
        event.frame = make_frame(payload.substr(c + 1));
        auto handlers = it->second;  // a handler may unsubscribe
        for (auto& [node, handler] : handlers)
            if (event.seq != 0 || node != event.origin_node) handler(event);
    }

    void lobby_event(const std::string& payload) {
        rapidjson::Document doc;
        std::string error;
        if (!detail::parse_json(payload, doc, error) || !doc.IsObject()) return;
        const auto str = [](const rapidjson::Value* v) {
            return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
        };
        const auto type = str(detail::find_member(doc, "t"));
        const auto node = str(detail::find_member(doc, "node"));
        if (node == node_ && !node.empty()) last_echo_ = Clock::now();  // our own: the link works
        if (node.empty() || node == node_) return;
        const auto read_room = [&](const rapidjson::Value& v, std::size_t& n) {
            RoomRecord r;
            if (!v.IsObject()) return r;
            r.id = str(detail::find_member(v, "id"));
            r.name = str(detail::find_member(v, "name"));
            r.epoch = str(detail::find_member(v, "epoch"));
            const auto* p = detail::find_member(v, "permanent");
            r.permanent = p && p->IsBool() && p->GetBool();
            const auto* count = detail::find_member(v, "n");
            n = count && count->IsUint64() ? static_cast<std::size_t>(count->GetUint64()) : 0;
            return r;
        };
        if (type == "hello") {
            next_heartbeat_ = Clock::now();  // answer on the next tick with our counts
            resync_members();                // and read the lists it (re)wrote
            return;
        }
        if (type == "bye") return node_said_bye(node);
        auto& remote = remote_[node];
        remote.expires = Clock::now() + options_.ttl;
        if (type == "room") {
            std::size_t n = 0;
            const auto* v = detail::find_member(doc, "room");
            if (!v) return;
            auto record = read_room(*v, n);
            if (record.id.empty()) return;
            records_[record.id] = record;
            if (n) remote.counts[record.id] = n;
            else remote.counts.erase(record.id);
            report(record.id);
        } else if (type == "hb") {
            const auto* rooms = detail::find_member(doc, "rooms");
            if (!rooms || !rooms->IsArray()) return;
            auto before = std::move(remote.counts);
            remote.counts.clear();
            for (rapidjson::SizeType i = 0; i < rooms->Size(); ++i) {
                std::size_t n = 0;
                auto record = read_room((*rooms)[i], n);
                if (record.id.empty() || n == 0) continue;
                records_[record.id] = record;
                remote.counts[record.id] = n;
            }
            for (const auto& [id, n] : remote.counts) {
                auto old = before.find(id);
                if (old == before.end() || old->second != n) report(id);
                if (old != before.end()) before.erase(old);
            }
            for (const auto& [id, n] : before) report(id);
        } else if (type == "gone") {
            const auto id = str(detail::find_member(doc, "id"));
            remote.counts.erase(id);
            records_.erase(id);
            if (!directory_ || id.empty()) return;
            DirectoryEvent event;
            event.kind = DirectoryEvent::Kind::removed;
            event.room.id = id;
            directory_(event);
        }
    }

    /// A node stopped cleanly: its counts and members go now, not after the TTL.
    void node_said_bye(const std::string& node) {
        auto it = remote_.find(node);
        std::map<std::string, std::size_t> rooms;
        if (it != remote_.end()) {
            rooms = std::move(it->second.counts);
            remote_.erase(it);
        }
        for (const auto& [id, n] : rooms) report(id);
        node_gone(node, false);  // it dropped its own fields from the hashes
    }

    /// Tells the Lobby how many members other nodes have in `room_id`.
    void report(const std::string& room_id) {
        if (!directory_) return;
        auto record = records_.find(room_id);
        if (record == records_.end()) return;
        DirectoryEvent event;
        event.room = record->second;
        for (const auto& [node, remote] : remote_) {
            auto it = remote.counts.find(room_id);
            if (it != remote.counts.end()) event.remote_members += it->second;
        }
        directory_(event);
    }

    asio::io_context& io_;
    asio::strand<asio::io_context::executor_type> strand_;
    RedisBusOptions options_;
    const RedisKeys keys_;
    asio::steady_timer tick_;
    std::shared_ptr<RedisConnection> cmd_;
    std::shared_ptr<RedisConnection> sub_;

    // Strand only.
    bool stopped_ = false;
    bool stop_finished_ = false;                    // stop()'s last callback ran
    std::vector<std::function<void()>> stop_waiters_;
    std::string node_;
    std::map<std::string, std::map<std::string, Handler>> rooms_;  // room -> node -> handler
    DirectoryHandler directory_;
    DirectHandler direct_;
    std::vector<std::function<void()>> connected_hooks_;
    std::map<std::string, std::string> held_nicks_;  // folded nick -> token
    std::map<std::string, std::string> online_nicks_;  // folded nick -> token, holder connected here
    std::map<std::string, std::string> room_names_;    // folded room name -> room id, claimed here
    std::map<std::string, LocalRoom> local_rooms_;   // rooms with members here
    std::map<std::string, RemoteNode> remote_;       // other nodes, by id
    std::map<std::string, RoomRecord> records_;      // rooms other nodes told us about
    Clock::time_point next_heartbeat_{};
    Clock::time_point last_echo_{};  // our own lobby publish last came back (or the link came up)
    bool counts_dirty_ = false;

    std::atomic<bool> cmd_up_{false};
    std::atomic<bool> sub_up_{false};
    mutable std::mutex status_mutex_;
    Status status_;
    // ---- Bus: room members (one block: see docs/scaling.md, "Member lists") ----------------
    //
    // Each room's members, all nodes, in the hash `room_members(room)`: field
    // `<node>/<member>`, value the nick. A change updates the hash and publishes
    // on the room channel in one script (`origin \n m \n +<member> \n <nick>`, or
    // `-<member>`). A node's fields count only while its liveness key
    // (`node_alive`, renewed with the heartbeat) exists: a reader skips and drops
    // the fields of a dead node, and the survivors drop them (and tell their
    // Hubs) when its heartbeats stop for a TTL, or at once on its `bye`.
public:
    bool shares_members() const override { return true; }

    void member_listed(const std::string& node, const std::string& room_id, const std::string& member,
                       const std::string& nick, SharedFrame) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id, member, nick] {
            if (self->stopped_) return;
            self->note_node(node);
            self->listed_[room_id][member] = nick;
            // Offline: written back (and announced by `hello`) when both links are up.
            if (!self->members_online_) return;
            self->eval(redis_scripts::member_set, {self->keys_.room_members(room_id)},
                       {RedisKeys::member_field(node, member), nick, self->keys_.room_channel(room_id),
                        node + "\nm\n+" + member + "\n" + nick});
        });
    }

    void member_unlisted(const std::string& node, const std::string& room_id, const std::string& member,
                         SharedFrame) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id, member] {
            if (self->stopped_) return;
            auto room = self->listed_.find(room_id);
            if (room != self->listed_.end()) {
                room->second.erase(member);
                if (room->second.empty()) self->listed_.erase(room);
            }
            if (!self->members_online_) return;
            self->eval(redis_scripts::member_unset, {self->keys_.room_members(room_id)},
                       {RedisKeys::member_field(node, member), self->keys_.room_channel(room_id),
                        node + "\nm\n-" + member + "\n"});
        });
    }

    /// After the room's subscription is confirmed: HGETALL, then the liveness
    /// keys of the nodes found; a dead node's fields are skipped and dropped.
    void read_members(const std::string& node, const std::string& room_id, MembersDone done) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id, done = std::move(done)]() mutable {
            self->note_node(node);
            if (self->stopped_ || !self->cmd_->up()) return done(std::nullopt);
            self->sub_->when_subscribed(self->keys_.room_channel(room_id), [self, room_id,
                                                                             done = std::move(done)]() mutable {
                self->cmd_->command({"HGETALL", self->keys_.room_members(room_id)},
                                    [self, room_id, done = std::move(done)](std::optional<RedisReply> r) mutable {
                                        self->members_found(room_id, std::move(r), std::move(done));
                                    });
            });
        });
    }

    void watch_members(const std::string& node, const std::string& room_id, MemberHandler handler) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id, handler = std::move(handler)]() mutable {
            if (self->stopped_) return;
            self->note_node(node);
            self->member_watchers_[room_id][node] = std::move(handler);
        });
    }

    void unwatch_members(const std::string& node, const std::string& room_id) override {
        asio::dispatch(strand_, [self = shared_from_this(), node, room_id] {
            auto it = self->member_watchers_.find(room_id);
            if (it == self->member_watchers_.end()) return;
            it->second.erase(node);
            if (it->second.empty()) self->member_watchers_.erase(it);
        });
    }

private:
    void members_found(const std::string& room_id, std::optional<RedisReply> r, MembersDone done) {
        if (!r || r->kind != RedisReply::Kind::array) return done(std::nullopt);
        std::vector<RemoteMember> found;
        std::vector<std::string> nodes;
        for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
            const auto& field = r->elements[i].str;
            const auto slash = field.rfind('/');
            if (slash == std::string::npos) continue;
            RemoteMember m{field.substr(0, slash), field.substr(slash + 1), r->elements[i + 1].str};
            if (m.node == node_) continue;  // the Hub knows its own
            if (std::find(nodes.begin(), nodes.end(), m.node) == nodes.end()) nodes.push_back(m.node);
            found.push_back(std::move(m));
        }
        if (nodes.empty()) return done(std::move(found));
        std::vector<std::string> mget{"MGET"};
        for (const auto& n : nodes) mget.push_back(keys_.node_alive(n));
        cmd_->command(std::move(mget), [self = shared_from_this(), room_id, nodes, found = std::move(found),
                                        done = std::move(done)](std::optional<RedisReply> alive) mutable {
            if (!alive || alive->kind != RedisReply::Kind::array || alive->elements.size() != nodes.size())
                return done(std::nullopt);
            std::vector<std::string> dead;
            for (std::size_t i = 0; i < nodes.size(); ++i)
                if (alive->elements[i].kind == RedisReply::Kind::nil) dead.push_back(nodes[i]);
            if (!dead.empty()) {
                found.erase(std::remove_if(found.begin(), found.end(),
                                           [&](const RemoteMember& m) {
                                               return std::find(dead.begin(), dead.end(), m.node) != dead.end();
                                           }),
                            found.end());
                for (const auto& n : dead)
                    self->eval(redis_scripts::node_members, {self->keys_.room_members(room_id)}, {n + "/"});
            }
            done(std::move(found));
        });
    }

    /// A member change another node published on a room channel; false: not one.
    bool member_message(const std::string& room, const std::string& payload) {
        // origin \n m \n (+|-)member \n nick
        const auto a = payload.find('\n');
        if (a == std::string::npos || payload.compare(a, 3, "\nm\n") != 0) return false;
        const auto c = payload.find('\n', a + 3);
        if (c == std::string::npos || c == a + 3) return true;
        MemberEvent event;
        event.node = payload.substr(0, a);
        event.kind = payload[a + 3] == '+' ? MemberEvent::Kind::listed : MemberEvent::Kind::unlisted;
        event.member = payload.substr(a + 4, c - a - 4);
        event.nick = payload.substr(c + 1);
        if (event.node == node_) return true;
        auto it = member_watchers_.find(room);
        if (it == member_watchers_.end()) return true;
        auto watchers = it->second;  // a handler may unwatch
        for (auto& [node, handler] : watchers) handler(event);
        return true;
    }

    void tell_member_watchers(const MemberEvent& event) {
        auto all = member_watchers_;
        for (auto& [room, watchers] : all)
            for (auto& [node, handler] : watchers) handler(event);
    }

    /// `node` is gone: every Hub drops its members; `clean_up`: also drop its
    /// fields from the hashes of the rooms followed here (it cannot any more).
    void node_gone(const std::string& node, bool clean_up = true) {
        MemberEvent event;
        event.kind = MemberEvent::Kind::node_gone;
        event.node = node;
        tell_member_watchers(event);
        if (!clean_up || !cmd_->up()) return;
        for (const auto& [room, watchers] : member_watchers_)
            eval(redis_scripts::node_members, {keys_.room_members(room)}, {node + "/"});
    }

    /// Another node said hello (restarted, or back from an outage), or ours came back.
    void resync_members() {
        MemberEvent event;
        event.kind = MemberEvent::Kind::resync;
        tell_member_watchers(event);
    }

    void renew_alive() {
        if (!cmd_->up() || node_.empty()) return;
        cmd_->command({"SET", keys_.node_alive(node_), "1", "PX", std::to_string(options_.ttl.count())},
                      [](std::optional<RedisReply>) {});
    }

    /// Both links up: liveness first, then this node's fields as they are now
    /// (Redis may have lost them, or changes failed while away), then the Hubs
    /// re-read. All on the command link, in order, ahead of the `hello`.
    void members_back_online() {
        renew_alive();
        for (const auto& [room, members] : listed_) {
            std::vector<std::string> args{node_ + "/"};
            for (const auto& [member, nick] : members) {
                args.push_back(RedisKeys::member_field(node_, member));
                args.push_back(nick);
            }
            eval(redis_scripts::node_members, {keys_.room_members(room)}, std::move(args));
        }
        members_online_ = !node_.empty();
        resync_members();
    }

    /// Clean stop: drop this node's fields and liveness, and say `bye`.
    void members_stopping() {
        member_watchers_.clear();
        if (!cmd_->up() || node_.empty()) return;
        for (const auto& [room, members] : listed_)
            eval(redis_scripts::node_members, {keys_.room_members(room)}, {node_ + "/"});
        listed_.clear();
        cmd_->command({"DEL", keys_.node_alive(node_)}, [](std::optional<RedisReply>) {});
        detail::JsonWriter w;
        publish_lobby(w.field("t", "bye").field("node", node_).finish());
    }

    // Strand only.
    std::map<std::string, std::map<std::string, std::string>> listed_;  // room -> member -> nick, ours
    std::map<std::string, std::map<std::string, MemberHandler>> member_watchers_;  // room -> node -> handler
    bool members_online_ = false;  // liveness set and our fields written since both links came up
};

PARLEY_NAMESPACE_END
