// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus.hpp>
#include <parley/detail/client_id_index.hpp>
#include <parley/detail/events.hpp>
#include <parley/detail/remote_members.hpp>
#include <parley/detail/request.hpp>
#include <parley/frame.hpp>
#include <parley/fwd.hpp>
#include <parley/message.hpp>
#include <parley/metrics.hpp>
#include <parley/protocol/error_reply.hpp>
#include <parley/store.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// One chat room: an actor on its own lane that owns the members, their typing
/// state, the `seq` counter and the recent history window. Other lanes talk to
/// it only through the posting methods below; it never touches a socket except
/// through the transport's thread-safe `send` and `close`.
template <class Transport>
class Hub : public std::enable_shared_from_this<Hub<Transport>> {
    static_assert(detail::check_transport<Transport>());

public:
    using handle_type = typename Transport::handle_type;
    using ClientPtr = std::shared_ptr<Client<Transport>>;
    using time_point = std::chrono::steady_clock::time_point;
    /// Receives a page of history: messages in ascending `seq` and whether nothing
    /// in the asked range was missing.
    using PageDone = std::function<void(std::vector<StoredMessagePtr>, bool complete)>;

    Hub(Lobby<Transport>& lobby, RoomRecord record)
        : lobby_(lobby),
          transport_(lobby.transport()),
          limits_(lobby.limits()),
          record_(std::move(record)),
          message_head_(detail::message_frame_head(record_.id)),
          lane_(transport_.make_lane()),
          cluster_(lobby.bus().assigns_seq()),
          shares_members_(lobby.bus().shares_members()),
          remote_(lobby.node_id()),
          next_seq_(record_.last_seq + 1) {}

    const std::string& id() const noexcept { return record_.id; }
    const std::string& name() const noexcept { return record_.name; }
    const std::string& epoch() const noexcept { return record_.epoch; }
    /// The room as created (its `last_seq` is the one it was loaded with).
    const RoomRecord& record() const noexcept { return record_; }

    /// What a client asks when it joins.
    struct JoinRequest {
        ClientPtr client;
        handle_type handle;
        std::uint64_t session = 0;
        std::string nick;
        std::string author;  // a digest of the resume token: who its messages belong to
        std::optional<std::uint64_t> since;
        std::optional<std::string> epoch;
        std::optional<std::uint64_t> history;
        detail::Ref ref;
    };

    // ---- called from other lanes: each posts onto this hub's lane -------------------

    void join(JoinRequest request) {
        post([this, r = std::move(request)]() mutable { on_join(std::move(r)); });
    }
    /// `reply`: send `left` to the member (an explicit leave); a disconnect is silent.
    void leave(std::uint64_t session, std::optional<detail::Ref> reply) {
        post([this, session, reply = std::move(reply)] { on_leave(session, reply); });
    }
    /// A disconnect: leaves silently. (Its own overload: passing an empty
    /// std::optional<Ref> through post()'s closures makes GCC 12 at -O3 warn,
    /// falsely, that the Ref's string may be used uninitialized.)
    void leave(std::uint64_t session) {
        post([this, session] { on_leave(session, std::nullopt); });
    }
    void send(std::uint64_t session, std::string text, std::string client_id, detail::Ref ref) {
        // The hot path: one closure built in place rather than through post(),
        // which would move the strings once more into its wrapper.
        transport_.post(lane_, Task([self = this->shared_from_this(), session,
                                     text = std::move(text), client_id = std::move(client_id),
                                     ref = std::move(ref)]() mutable {
            self->on_send(session, std::move(text), std::move(client_id), ref);
        }));
    }
    void typing(std::uint64_t session, bool active, detail::Ref ref) {
        post([this, session, active, ref = std::move(ref)] { on_typing(session, active, ref); });
    }
    void history(std::uint64_t session, std::optional<std::uint64_t> before, std::size_t limit,
                 detail::Ref ref) {
        post([this, session, before, limit, ref = std::move(ref)] {
            on_history(session, before, limit, ref);
        });
    }
    void remove_message(std::uint64_t session, std::uint64_t seq, detail::Ref ref) {
        MessagePatch patch;
        patch.kind = MessagePatch::Kind::deleted;
        patch.seq = seq;
        post([this, session, patch = std::move(patch), ref = std::move(ref)]() mutable {
            on_change(session, std::move(patch), ref);
        });
    }
    /// A member adds (`on`) or takes back its `emoji` on message `seq`.
    void react(std::uint64_t session, std::uint64_t seq, std::string emoji, bool on, detail::Ref ref) {
        MessagePatch patch;
        patch.kind = MessagePatch::Kind::reacted;
        patch.seq = seq;
        patch.emoji = std::move(emoji);
        patch.on = on;
        post([this, session, patch = std::move(patch), ref = std::move(ref)]() mutable {
            on_change(session, std::move(patch), ref);
        });
    }
    /// The author replaces the text of message `seq` (checked on this lane).
    void edit_message(std::uint64_t session, std::uint64_t seq, std::string text, detail::Ref ref) {
        MessagePatch patch;
        patch.kind = MessagePatch::Kind::edited;
        patch.seq = seq;
        patch.text = std::move(text);
        post([this, session, patch = std::move(patch), ref = std::move(ref)]() mutable {
            patch.edited_at = wall_ms();
            on_change(session, std::move(patch), ref);
        });
    }
    void rename(std::uint64_t session, std::string old_nick, std::string nick) {
        post([this, session, old_nick = std::move(old_nick), nick = std::move(nick)] {
            on_rename(session, old_nick, nick);
        });
    }
    /// A page of history for an embedder (REST); `done` runs on this hub's lane.
    void read_history(std::optional<std::uint64_t> before, std::size_t limit, PageDone done) {
        post([this, before, limit, done = std::move(done)]() mutable {
            collect(0, before.value_or(0), std::min(limit, limits_.max_history_page), std::move(done));
        });
    }
    /// Retires the room if it has no members; `done(true)` when retired.
    void retire_if_empty(std::function<void(bool)> done) {
        post([this, done = std::move(done)] {
            if (members_.empty() && pending_joins_ == 0) stop();
            done(retired_);
        });
    }
    /// Server shutdown: cancel timers and leave the bus.
    void shut_down() {
        post([this] { stop(); });
    }

    /// Members, for tests and metrics; call on this hub's lane only.
    std::size_t member_count() const noexcept { return members_.size(); }

private:
    struct Member {
        ClientPtr client;
        handle_type handle;
        std::uint64_t session;
        std::string nick;
        std::string author;
        bool typing = false;
        time_point typing_until{};
        time_point typing_broadcast_at{};
        std::uint64_t listed_as = 0;  // its id in the cluster's member list (kept by a takeover)
    };

    /// Runs `work` on this lane, keeping this object alive until then. The
    /// keep-alive and the work share one closure: one Task (one allocation)
    /// per hop rather than a Task wrapped in another.
    template <class F>
    void post(F&& work) {
        transport_.post(lane_, Task([self = this->shared_from_this(),
                                     work = std::forward<F>(work)]() mutable { work(); }));
    }

    Member* find(std::uint64_t session) {
        auto it = index_.find(session);
        return it == index_.end() ? nullptr : &members_[it->second];
    }

    // ---- direct replies ------------------------------------------------------------------

    void reply(const Member& m, std::string text) {
        lobby_.deliver(m.client, m.handle, make_frame(std::move(text)));
    }
    void reply_error(const ClientPtr& client, const handle_type& handle, const detail::Ref& ref,
                     ErrorCode code, std::string_view message) {
        auto to_client = [&](const SharedFrame& frame) { lobby_.deliver(client, handle, frame); };
        protocol::send_error(lobby_.metrics(), to_client, ref, code, message);
    }
    /// Hub requests from a client that is no longer a member (it left, or was
    /// dropped) are answered through its session, which knows its handle.
    void reply_not_member(std::uint64_t session, const detail::Ref& ref) {
        lobby_.send_error_to_session(session, ref, ErrorCode::not_in_room,
                                     "not in room " + record_.id);
    }

    // ---- broadcast -----------------------------------------------------------------------

    /// Sends one shared frame to every member except `except`; members whose
    /// outbound queue is over budget are dropped as slow consumers afterwards,
    /// so one stalled reader never delays the room. Returns how many got it.
    std::size_t broadcast_local(const SharedFrame& frame, std::uint64_t except = 0) {
        std::size_t sent = 0;
        std::vector<std::uint64_t> slow;
        for (auto& m : members_) {
            if (m.session == except) continue;
            if (lobby_.try_send(m.handle, frame)) ++sent;
            else slow.push_back(m.session);
        }
        lobby_.count_sent(sent, frame->size());
        for (auto session : slow) drop_slow_consumer(session);
        return sent;
    }

    /// broadcast_local, then the same frame to the other nodes; `patch`: the
    /// change to a message it announces, for their windows.
    std::size_t broadcast(const SharedFrame& frame, std::uint64_t except = 0,
                          std::optional<MessagePatch> patch = std::nullopt) {
        const auto sent = broadcast_local(frame, except);
        // Subscribed here and the only node subscribed: nobody else would get it.
        if (lobby_.bus().subscribed_nodes() > (subscribed_ ? 1u : 0u))
            lobby_.bus().publish(BusEvent{lobby_.node_id(), record_.id, frame, 0, {}, std::move(patch)});
        return sent;
    }

    std::int64_t wall_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   transport_.wall_now().time_since_epoch())
            .count();
    }

    void drop_slow_consumer(std::uint64_t session) {
        auto* m = find(session);
        if (!m) return;
        lobby_.drop_slow_consumer(m->client, m->handle);
        remove_member(session, std::nullopt);
    }

    // ---- membership ------------------------------------------------------------------------

    void on_join(JoinRequest r) {
        if (retired_) {
            reply_error(r.client, r.handle, r.ref, ErrorCode::room_not_found,
                        "no room " + record_.id);
            lobby_.join_finished(r.client, record_.id, nullptr);
            return;
        }
        if (!find(r.session) && members_.size() + pending_joins_ >= limits_.max_members_per_room) {
            reply_error(r.client, r.handle, r.ref, ErrorCode::room_full,
                        "room " + record_.id + " is full");
            maybe_unsubscribe();
            lobby_.join_finished(r.client, record_.id, nullptr);
            return;
        }
        if (!cluster_ && !shares_members_) return start_join(std::move(r));
        // Clustered: listen first, then learn the room's newest seq and the other
        // nodes' members, so every message and member change is either in those
        // reads or arrives live.
        if (!subscribed_) subscribe_bus();
        ++pending_joins_;
        if (!cluster_) return start_join_when_members_known(std::move(r));
        lobby_.bus().room_head(record_.id, [self = this->shared_from_this(),
                                            r = std::move(r)](std::optional<std::uint64_t> head) mutable {
            self->post([self, r = std::move(r), head]() mutable {
                // With members here the subscription is live and delivers in order;
                // jumping ahead then would drop messages still on their way. So it
                // would with another join's replay read in flight: that join takes
                // what arrives meanwhile from the window, which must stay whole.
                if (head && self->members_.empty() && self->replays_in_flight_ == 0)
                    self->advance_to(*head);
                self->start_join_when_members_known(std::move(r));
            });
        });
    }

    /// The join counted in `pending_joins_` goes on once the remote member list is read.
    void start_join_when_members_known(JoinRequest r) {
        auto go = [this, r = std::move(r)]() mutable {
            --pending_joins_;
            start_join(std::move(r));
        };
        if (!shares_members_ || remote_.synced()) return go();
        members_waiters_.emplace_back(std::move(go));
        if (!remote_.reading()) read_members();
    }

    void start_join(JoinRequest r) {
        // The replay is chosen now but the member is added only when it is
        // ready, so no live message can overtake the `joined` frame.
        std::uint64_t after = 0;
        std::size_t limit =
            static_cast<std::size_t>(std::min<std::uint64_t>(
                r.history.value_or(limits_.join_history_default), limits_.max_history_page));
        bool lineage_ok = !r.epoch || *r.epoch == record_.epoch;
        bool resume = r.since && lineage_ok && *r.since < next_seq_;
        if (resume) {
            after = *r.since;
            limit = limits_.history_window;
        }
        bool lost_lineage = r.since && !resume;
        const std::uint64_t seen = next_seq_ - 1;  // the newest seq the read considers
        ++pending_joins_;
        ++replays_in_flight_;
        collect(after, 0, limit,
                [this, r = std::move(r), lost_lineage, seen](std::vector<StoredMessagePtr> messages,
                                                             bool complete) mutable {
                    --pending_joins_;
                    --replays_in_flight_;
                    finish_join(std::move(r), std::move(messages), complete && !lost_lineage, seen);
                });
    }

    void finish_join(JoinRequest r, std::vector<StoredMessagePtr> messages, bool complete,
                     std::uint64_t seen) {
        if (retired_ || r.client->is_closed()) {
            maybe_unsubscribe();
            lobby_.join_finished(r.client, record_.id, nullptr);
            return;
        }
        // Messages broadcast while a store read was in flight (seq > seen) are in
        // the window; older ones were the read's to choose, even when it chose none.
        if (!window_.empty() && window_.back()->message.seq > seen) {
            if (window_.front()->message.seq > seen + 1) complete = false;
            for (const auto& m : window_)
                if (m->message.seq > seen) messages.push_back(m);
        }
        const bool rejoin = find(r.session) != nullptr;
        bool took_over = false;
        if (!rejoin) {
            auto same = std::find_if(members_.begin(), members_.end(), [&](const Member& m) {
                return !r.author.empty() && m.author == r.author && m.nick == r.nick;
            });
            if (same != members_.end()) {
                // A nick reclaimed with its token while the replaced session is still
                // listed (its leave is on its way): take its place quietly, so nobody
                // sees the name twice, or leave while its owner is here.
                index_.erase(same->session);
                index_[r.session] = static_cast<std::size_t>(same - members_.begin());
                const auto listed_as = same->listed_as;  // the cluster knows it by that id
                *same = Member{r.client, r.handle, r.session, r.nick, r.author};
                same->listed_as = listed_as;
                took_over = true;
            } else {
                index_[r.session] = members_.size();
                members_.push_back(Member{r.client, r.handle, r.session, r.nick, r.author});
                members_.back().listed_as = r.session;
                if (!subscribed_) subscribe_bus();
            }
        }
        std::vector<std::string_view> nicks;
        nicks.reserve(members_.size() + remote_.size());
        for (const auto& m : members_) nicks.push_back(m.nick);
        if (remote_.size()) {
            // A nick on two nodes at once (reclaimed elsewhere, its leave on its way) is listed once.
            std::unordered_set<std::string_view> seen(nicks.begin(), nicks.end());
            remote_.for_each_nick([&](const std::string& nick) {
                if (seen.insert(nick).second) nicks.push_back(nick);
            });
        }
        lobby_.deliver(r.client, r.handle,
                       make_frame(detail::encode_joined(r.ref, record_.id, record_.name, nicks,
                                                        messages, record_.epoch, complete, r.author)));
        if (!rejoin && !took_over) {
            auto frame = make_frame(detail::encode_presence(record_.id, "join", r.nick));
            broadcast_local(frame, r.session);
            lobby_.bus().member_listed(lobby_.node_id(), record_.id, std::to_string(r.session), r.nick,
                                       std::move(frame));
            lobby_.room_members_changed(record_.id, members_.size());
        }
        lobby_.join_finished(r.client, record_.id, this->shared_from_this());
    }

    void on_leave(std::uint64_t session, const std::optional<detail::Ref>& reply_ref) {
        remove_member(session, reply_ref);
    }

    void remove_member(std::uint64_t session, const std::optional<detail::Ref>& reply_ref) {
        auto it = index_.find(session);
        if (it == index_.end()) return;
        const std::size_t at = it->second;
        Member gone = std::move(members_[at]);
        index_.erase(it);
        if (at + 1 != members_.size()) {
            members_[at] = std::move(members_.back());
            index_[members_[at].session] = at;
        }
        members_.pop_back();
        if (reply_ref) reply(gone, detail::encode_left(*reply_ref, record_.id));
        auto frame = make_frame(detail::encode_presence(record_.id, "leave", gone.nick));
        broadcast_local(frame);
        lobby_.bus().member_unlisted(lobby_.node_id(), record_.id, std::to_string(gone.listed_as),
                                     std::move(frame));
        maybe_unsubscribe();
        lobby_.room_members_changed(record_.id, members_.size());
    }

    void on_rename(std::uint64_t session, const std::string& old_nick, const std::string& nick) {
        auto* m = find(session);
        if (!m) return;
        m->nick = nick;
        const auto listed_as = std::to_string(m->listed_as);
        auto frame = make_frame(detail::encode_nick_changed({}, record_.id, old_nick, nick));
        broadcast_local(frame, session);  // may drop slow consumers: `m` is not used after
        lobby_.bus().member_listed(lobby_.node_id(), record_.id, listed_as, nick, std::move(frame));
    }

    // ---- messages --------------------------------------------------------------------------

    void on_send(std::uint64_t session, std::string&& text, std::string&& client_id,
                 const detail::Ref& ref) {
        auto* m = find(session);
        if (!m) return reply_not_member(session, ref);
        // Exactly once: a send repeated with the same client_id (a resend after a
        // lost echo, maybe on a new connection) gets the original back, alone.
        if (sent_ids_.size() != 0 && !client_id.empty())
            if (const auto* original = already_sent(m->author, client_id))
                return reply(*m, detail::encode_message_with_head(message_head_, *original));
        ChatMessage message;
        message.seq = cluster_ ? 0 : next_seq_++;  // clustered: the Bus numbers it
        message.ts = wall_ms();
        message.from = m->nick;
        message.author = m->author;
        message.text = std::move(text);
        message.client_id = std::move(client_id);
        m->typing = false;  // a sent message ends "typing"; clients clear it on `message`
        if (cluster_) return send_sequenced(session, std::move(message), ref);
        auto stored = make_stored(std::move(message));
        auto frame = make_frame(detail::encode_message_with_head(message_head_, *stored));
        window_push(stored);
        lobby_.store().append(record_.id, std::move(stored));
        Metrics::add(lobby_.metrics().messages_in);
        // Counted as delivered: a slow consumer dropped instead is not.
        Metrics::add(lobby_.metrics().messages_out, broadcast(frame));
    }

    // ---- the history window ---------------------------------------------------------------

    void window_push(StoredMessagePtr stored) {
        if (!stored->message.client_id.empty())
            sent_ids_.insert(stored->message.client_id, stored->message.seq);
        window_.push_back(std::move(stored));
        while (window_.size() > limits_.history_window) {
            const auto& leaving = window_.front()->message;
            if (!leaving.client_id.empty()) sent_ids_.erase(leaving.client_id, leaving.seq);
            window_.pop_front();
        }
    }

    void window_clear() {
        window_.clear();
        sent_ids_.clear();
    }

    /// A window slot takes the message's new version; a tombstone leaves the
    /// client_id index (it keeps no client_id to be found by later).
    void replace_in_window(StoredMessagePtr& slot, StoredMessagePtr changed) {
        if (changed->message.deleted && !slot->message.client_id.empty())
            sent_ids_.erase(slot->message.client_id, slot->message.seq);
        slot = std::move(changed);
    }

    /// The message `author` already sent with `client_id`, while it is in the window.
    const StoredMessage* already_sent(const std::string& author, const std::string& client_id) const {
        if (client_id.empty() || author.empty() || window_.empty()) return nullptr;
        const auto first = window_.front()->message.seq;
        const StoredMessage* found = nullptr;
        sent_ids_.candidates(client_id, [&](std::uint64_t seq) {
            if (found || seq < first || seq - first >= window_.size()) return;
            const auto& m = *window_[seq - first];
            if (!m.message.deleted && m.message.author == author && m.message.client_id == client_id) found = &m;
        });
        return found;
    }

    /// Clustered: the Bus numbers, stores and publishes the message; every node,
    /// this one included, delivers it from its subscription (`on_sequenced`), so
    /// the sender sees it once, in the room's order.
    void send_sequenced(std::uint64_t session, ChatMessage message, const detail::Ref& ref) {
        SequencedMessage out;
        out.origin_node = lobby_.node_id();
        out.room_id = record_.id;
        out.floor = next_seq_ - 1;
        // The frame with seq 0, split around the 0 for the Bus to fill in. A raw
        // `,"seq":0,` cannot occur inside an encoded string (quotes are escaped).
        const auto frame = detail::encode_message_with_head(message_head_, *make_stored(message));
        const std::string marker = ",\"seq\":0,";
        const auto at = frame.find(marker);
        out.frame_head = frame.substr(0, at + marker.size() - 2);
        out.frame_tail = frame.substr(at + marker.size() - 1);
        out.message = std::move(message);
        lobby_.bus().append(std::move(out), [self = this->shared_from_this(), session,
                                             ref](std::optional<std::uint64_t> seq) {
            self->post([self, session, ref, seq] {
                if (seq) return Metrics::add(self->lobby_.metrics().messages_in);
                auto* m = self->find(session);
                if (!m) return;
                self->reply_error(m->client, m->handle, ref, ErrorCode::unavailable,
                                  "the chat cluster is unreachable; the message was not sent, retry later");
            });
        });
    }

    /// A message numbered by the Bus. Older seqs were delivered already (or
    /// served by a join's replay). A jump means some were missed (say, published
    /// while the subscription was reconnecting): when someone here needs them
    /// (members, or a join's replay that takes the window) they are read from
    /// the store and delivered first, newer events waiting meanwhile.
    void on_sequenced(const BusEvent& event) {
        if (retired_ || event.seq < next_seq_) return;
        if (filling_gap_) return held_events_.push_back(event);
        if (event.seq > next_seq_ && (!members_.empty() || replays_in_flight_ > 0))
            return fill_gap(event);
        auto message = detail::decode_message_frame(event.frame->text());
        if (!message) return;
        if (event.seq > next_seq_) window_clear();  // nobody here needs what is missing
        message->seq = event.seq;
        message->author = event.author;
        deliver_sequenced(make_stored(std::move(*message)), event.frame);
    }

    void deliver_sequenced(StoredMessagePtr stored, const SharedFrame& frame) {
        next_seq_ = stored->message.seq + 1;
        window_push(std::move(stored));
        Metrics::add(lobby_.metrics().messages_out, broadcast_local(frame));
    }

    /// Reads the seqs missing before `event` (at most a window's worth: older
    /// ones are for `history`), then delivers them and the events held meanwhile.
    void fill_gap(const BusEvent& event) {
        filling_gap_ = true;
        gap_end_ = event.seq;
        gap_attempts_ = 0;
        held_events_.push_back(event);
        read_gap();
    }

    void read_gap() {
        ++gap_attempts_;
        const std::uint64_t missing = gap_end_ - next_seq_;
        const auto limit = static_cast<std::size_t>(std::min<std::uint64_t>(missing, limits_.history_window));
        lobby_.store().read(record_.id, HistoryQuery{gap_end_ - 1 - limit, gap_end_, limit},
                            [self = this->shared_from_this()](HistoryPage page) {
                                self->post([self, page = std::move(page)]() mutable {
                                    self->gap_read(std::move(page));
                                });
                            });
    }

    /// A failed read is tried again with backoff (see `Limits::gap_read_backoff`),
    /// the held events still waiting; after the last attempt the gap is skipped.
    void gap_read(HistoryPage page) {
        if (retired_) return gap_filled({});
        if (!page.failed) return gap_filled(std::move(page.messages));
        if (gap_attempts_ >= limits_.gap_read_attempts) {
            Metrics::add(lobby_.metrics().gap_reads_failed);
            return gap_filled({});
        }
        Metrics::add(lobby_.metrics().gap_read_retries);
        auto delay = limits_.gap_read_backoff;
        for (std::size_t i = 1; i < gap_attempts_ && delay < limits_.gap_read_backoff_max; ++i) delay *= 2;
        gap_timer_armed_ = true;
        gap_timer_ = transport_.start_timer(lane_, std::min(delay, limits_.gap_read_backoff_max),
                                            [self = this->shared_from_this()] {
                                                self->gap_timer_armed_ = false;
                                                if (self->retired_) return self->gap_filled({});
                                                self->read_gap();
                                            });
    }

    void gap_filled(std::vector<StoredMessagePtr> found) {
        filling_gap_ = false;
        auto held = std::move(held_events_);
        held_events_.clear();
        if (retired_) return;
        for (auto& stored : found) {
            if (stored->message.seq < next_seq_) continue;
            // Not in the store (trimmed, or the read failed): lost for good here.
            if (stored->message.seq > next_seq_) window_clear();
            if (stored->message.deleted) {
                next_seq_ = stored->message.seq + 1;
                window_push(std::move(stored));
                continue;
            }
            auto frame = make_frame(detail::encode_message_with_head(message_head_, *stored));
            deliver_sequenced(std::move(stored), frame);
        }
        if (next_seq_ < gap_end_) {  // the newest missing ones are gone too: never ask again
            window_clear();
            next_seq_ = gap_end_;
        }
        // In order; one of them may find another gap, which holds the rest again.
        for (const auto& event : held) on_sequenced(event);
    }

    /// Another node's broadcast: passed on as is; a change to a message made
    /// there (a delete, an edit) also changes this node's window.
    void on_remote_event(const BusEvent& event) {
        if (cluster_ && event.patch && !window_.empty()) {
            const auto seq = event.patch->seq;
            if (seq >= window_.front()->message.seq && seq <= window_.back()->message.seq) {
                auto& slot = window_[seq - window_.front()->message.seq];
                replace_in_window(slot, event.patch->applied_to(slot->message));
            }
        }
        broadcast_local(event.frame);
    }

    /// The room's newest seq is `head` (learnt while no member was listening).
    void advance_to(std::uint64_t head) {
        if (head < next_seq_) return;
        window_clear();
        next_seq_ = head + 1;
    }

    /// A delete or an edit of message `patch.seq` by `session`: checked against
    /// the message (from the window, or the store when older), then applied to
    /// the window, the store and the other nodes, and broadcast.
    void on_change(std::uint64_t session, MessagePatch patch, const detail::Ref& ref) {
        auto* m = find(session);
        if (!m) return reply_not_member(session, ref);
        if (patch.kind == MessagePatch::Kind::reacted) patch.author = m->author;
        const auto seq = patch.seq;
        if (seq == 0 || seq >= next_seq_)
            return reply_error(m->client, m->handle, ref, ErrorCode::not_found,
                               "no message " + std::to_string(seq));
        if (!window_.empty() && seq >= window_.front()->message.seq) {
            auto& slot = window_[seq - window_.front()->message.seq];
            return change_checked(session, slot, patch, ref);
        }
        // Older than the window: ask the store, then re-check on this lane.
        lobby_.store().read(record_.id, HistoryQuery{seq - 1, seq + 1, 1},
                            [self = this->shared_from_this(), session, patch = std::move(patch),
                             ref](HistoryPage page) mutable {
                                self->post([self, session, patch = std::move(patch), ref,
                                            page = std::move(page)]() mutable {
                                    StoredMessagePtr found;
                                    if (!page.messages.empty() &&
                                        page.messages.front()->message.seq == patch.seq)
                                        found = page.messages.front();
                                    self->change_checked(session, found, patch, ref);
                                });
                            });
    }

    /// `slot` is the stored message (null when unknown); replaced by its changed
    /// version when the member wrote it (and, for an edit, it is recent enough).
    void change_checked(std::uint64_t session, StoredMessagePtr& slot, const MessagePatch& patch,
                        const detail::Ref& ref) {
        auto* m = find(session);
        if (!m) return reply_not_member(session, ref);
        const bool edit = patch.kind == MessagePatch::Kind::edited;
        if (!slot || slot->message.deleted)
            return reply_error(m->client, m->handle, ref, ErrorCode::not_found, "no such message");
        if (patch.kind == MessagePatch::Kind::reacted) return react_checked(*m, slot, patch, ref);
        // The author's identity, never the nickname: a nickname changes hands, and
        // a message whose author is unknown (stored before authors were kept)
        // belongs to nobody who can prove it.
        if (slot->message.author.empty() || slot->message.author != m->author)
            return reply_error(m->client, m->handle, ref, ErrorCode::forbidden,
                               edit ? "only the author can edit a message"
                                    : "only the author can delete a message");
        if (edit && patch.edited_at - slot->message.ts >
                        std::chrono::duration_cast<std::chrono::milliseconds>(limits_.edit_window).count())
            return reply_error(m->client, m->handle, ref, ErrorCode::edit_expired,
                               "messages can be edited for " +
                                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                      limits_.edit_window)
                                                      .count()) +
                                   " s after they are sent");
        replace_in_window(slot, patch.applied_to(slot->message));
        lobby_.store().update(record_.id, patch, slot);
        const auto frame = make_frame(edit ? detail::encode_edited(record_.id, slot->message)
                                           : detail::encode_deleted(record_.id, patch.seq));
        broadcast(frame, 0, patch);
    }

    /// Anyone in the room may react; one reaction per member and emoji (a repeat
    /// changes nothing and tells nobody), at most max_reactions_per_message emojis.
    void react_checked(const Member& m, StoredMessagePtr& slot, const MessagePatch& patch,
                       const detail::Ref& ref) {
        if (!patch.changes_reactions_of(slot->message)) return;
        if (patch.on && !slot->message.reaction(patch.emoji) &&
            slot->message.reactions.size() >= limits_.max_reactions_per_message)
            return reply_error(m.client, m.handle, ref, ErrorCode::too_many_reactions,
                               "a message has at most " + std::to_string(limits_.max_reactions_per_message) +
                                   " different reactions");
        replace_in_window(slot, patch.applied_to(slot->message));
        lobby_.store().update(record_.id, patch, slot);
        const auto* now = slot->message.reaction(patch.emoji);
        broadcast(make_frame(detail::encode_reaction(record_.id, patch.seq, patch.emoji, m.nick, patch.on,
                                                     now ? now->authors.size() : 0)),
                  0, patch);
    }

    void on_history(std::uint64_t session, std::optional<std::uint64_t> before, std::size_t limit,
                    const detail::Ref& ref) {
        auto* m = find(session);
        if (!m) return reply_not_member(session, ref);
        collect(0, before.value_or(0), std::min(limit, limits_.max_history_page),
                [this, session, ref](std::vector<StoredMessagePtr> messages, bool complete) {
                    if (auto* member = find(session))
                        reply(*member,
                              detail::encode_history(ref, record_.id, messages, complete,
                                                     member->author));
                });
    }

    /// Gathers messages with `after < seq < before` (before 0: no bound), the
    /// newest `limit` of them, from the window and, when it does not reach back
    /// far enough, from the store. `done` runs on this lane. `complete` is false
    /// when part of the range is gone (trimmed) or more than `limit` followed
    /// `after`.
    void collect(std::uint64_t after, std::uint64_t before, std::size_t limit, PageDone done) {
        const std::uint64_t upper = (before == 0 || before > next_seq_) ? next_seq_ : before;
        std::uint64_t low = upper > limit ? upper - limit : 1;
        if (low <= after) low = after + 1;
        const bool all_after = after == 0 || low == after + 1;
        if (low >= upper) return done({}, all_after);
        const std::uint64_t window_low = window_.empty() ? next_seq_ : window_.front()->message.seq;
        if (window_low <= low) return done(window_range(low, upper), all_after);

        auto from_window = window_range(window_low, upper);
        HistoryQuery query{low - 1, std::min(window_low, upper), static_cast<std::size_t>(
                                                                     std::min(window_low, upper) - low)};
        lobby_.store().read(
            record_.id, query,
            [self = this->shared_from_this(), low, all_after, from_window = std::move(from_window),
             done = std::move(done)](HistoryPage page) mutable {
                self->post([low, all_after, from_window = std::move(from_window),
                            done = std::move(done), page = std::move(page)]() mutable {
                    auto messages = std::move(page.messages);
                    bool complete = all_after && !messages.empty() &&
                                    messages.front()->message.seq == low;
                    for (std::size_t i = 1; complete && i < messages.size(); ++i)
                        complete = messages[i]->message.seq == messages[i - 1]->message.seq + 1;
                    if (complete && !from_window.empty())
                        complete = from_window.front()->message.seq == messages.back()->message.seq + 1;
                    for (auto& m : from_window) messages.push_back(std::move(m));
                    done(std::move(messages), complete);
                });
            });
    }

    std::vector<StoredMessagePtr> window_range(std::uint64_t low, std::uint64_t upper) const {
        std::vector<StoredMessagePtr> out;
        if (window_.empty() || low >= upper) return out;
        const std::uint64_t first = window_.front()->message.seq;
        const std::size_t begin = low > first ? static_cast<std::size_t>(low - first) : 0;
        const std::size_t end = std::min<std::size_t>(window_.size(), static_cast<std::size_t>(upper - first));
        if (begin < end) out.assign(window_.begin() + static_cast<std::ptrdiff_t>(begin),
                                    window_.begin() + static_cast<std::ptrdiff_t>(end));
        return out;
    }

    // ---- typing ----------------------------------------------------------------------------

    void on_typing(std::uint64_t session, bool active, const detail::Ref& ref) {
        auto* m = find(session);
        if (!m) return reply_not_member(session, ref);
        const auto now = transport_.now();
        if (active) {
            const bool announce = !m->typing || now - m->typing_broadcast_at >= limits_.typing_throttle;
            m->typing = true;
            m->typing_until = now + limits_.typing_expiry;
            if (announce) {
                m->typing_broadcast_at = now;
                broadcast(make_frame(detail::encode_typing(record_.id, m->nick, true)), session);
            }
            arm_typing_timer(m->typing_until);
        } else if (m->typing) {
            m->typing = false;
            broadcast(make_frame(detail::encode_typing(record_.id, m->nick, false)), session);
        }
    }

    void arm_typing_timer(time_point deadline) {
        if (retired_) return;  // stopped: a typing request that raced shutdown arms nothing
        if (typing_timer_armed_ && typing_deadline_ <= deadline) return;
        if (typing_timer_armed_) transport_.cancel_timer(typing_timer_);
        typing_timer_armed_ = true;
        typing_deadline_ = deadline;
        const auto generation = ++typing_generation_;
        const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - transport_.now());
        typing_timer_ = transport_.start_timer(
            lane_, std::max(delay, std::chrono::milliseconds(0)),
            [self = this->shared_from_this(), generation] { self->on_typing_timer(generation); });
    }

    void on_typing_timer(std::uint64_t generation) {
        if (generation != typing_generation_ || retired_) return;  // superseded or cancelled
        typing_timer_armed_ = false;
        const auto now = transport_.now();
        std::optional<time_point> next;
        std::vector<std::uint64_t> expired;
        for (auto& m : members_) {
            if (!m.typing) continue;
            if (m.typing_until <= now) expired.push_back(m.session);
            else if (!next || m.typing_until < *next) next = m.typing_until;
        }
        for (auto session : expired) {
            if (auto* m = find(session)) {
                m->typing = false;
                broadcast(make_frame(detail::encode_typing(record_.id, m->nick, false)), session);
            }
        }
        if (next) arm_typing_timer(*next);
    }

    // ---- bus and lifecycle -------------------------------------------------------------------

    void subscribe_bus() {
        subscribed_ = true;
        std::weak_ptr<Hub> weak = this->shared_from_this();
        lobby_.bus().subscribe(lobby_.node_id(), record_.id, [weak](const BusEvent& event) {
            auto self = weak.lock();
            if (!self) return;
            if (event.seq != 0)
                self->post([self, event] { self->on_sequenced(event); });
            else
                self->post([self, event] { self->on_remote_event(event); });
        });
        if (shares_members_) watch_members();
    }
    void unsubscribe_bus() {
        subscribed_ = false;
        lobby_.bus().unsubscribe(lobby_.node_id(), record_.id);
        if (!shares_members_) return;
        lobby_.bus().unwatch_members(lobby_.node_id(), record_.id);
        remote_.reset();  // nobody here follows the list any more
    }

    // ---- the other nodes' members (a Bus that shares_members) ----------------------------

    void watch_members() {
        std::weak_ptr<Hub> weak = this->shared_from_this();
        lobby_.bus().watch_members(lobby_.node_id(), record_.id, [weak](const Bus::MemberEvent& event) {
            if (auto self = weak.lock()) self->post([self, event] { self->on_member_event(event); });
        });
    }

    /// Reads the list (the Bus answers once the subscription is confirmed);
    /// events arriving meanwhile are held by `remote_`.
    void read_members() {
        remote_.begin_read();
        lobby_.bus().read_members(
            lobby_.node_id(), record_.id,
            [self = this->shared_from_this(), epoch = remote_.epoch()](
                std::optional<std::vector<Bus::RemoteMember>> found) mutable {
                self->post([self, epoch, found = std::move(found)]() mutable {
                    self->members_read(epoch, std::move(found));
                });
            });
    }

    void members_read(std::uint64_t epoch, std::optional<std::vector<Bus::RemoteMember>> found) {
        if (epoch != remote_.epoch()) return;  // unsubscribed meanwhile: a later read counts
        bool again = false;
        announce(remote_.read_done(std::move(found), again));
        // Joins waiting go on with this list; a read asked for meanwhile follows.
        auto waiters = std::move(members_waiters_);
        members_waiters_.clear();
        for (auto& go : waiters) go();
        if (again && subscribed_) read_members();
    }

    void on_member_event(const Bus::MemberEvent& event) {
        if (retired_ || !subscribed_) return;
        bool read_now = false;
        announce(remote_.on_event(event, read_now));
        if (read_now) read_members();
    }

    /// Tells the local members how the other nodes' list changed.
    void announce(const detail::RemoteMembers::Changes& changes) {
        using Kind = detail::RemoteMembers::Change::Kind;
        for (const auto& c : changes) {
            if (c.kind == Kind::rename)
                broadcast_local(make_frame(detail::encode_nick_changed({}, record_.id, c.old_nick, c.nick)));
            else
                broadcast_local(make_frame(
                    detail::encode_presence(record_.id, c.kind == Kind::join ? "join" : "leave", c.nick)));
        }
    }
    /// Leaves the room's channel once nobody here listens or is about to.
    void maybe_unsubscribe() {
        if (subscribed_ && members_.empty() && pending_joins_ == 0) unsubscribe_bus();
    }

    void stop() {
        if (retired_) return;
        retired_ = true;
        ++typing_generation_;
        if (typing_timer_armed_) transport_.cancel_timer(typing_timer_);
        typing_timer_armed_ = false;
        if (gap_timer_armed_) transport_.cancel_timer(gap_timer_);
        gap_timer_armed_ = false;
        filling_gap_ = false;
        if (subscribed_) unsubscribe_bus();
        held_events_.clear();
        // Joins waiting for the member list finish now (refused: the room is retired).
        auto waiters = std::move(members_waiters_);
        members_waiters_.clear();
        for (auto& go : waiters) go();
    }

    Lobby<Transport>& lobby_;
    Transport& transport_;
    const Limits& limits_;
    const RoomRecord record_;
    const std::string message_head_;  // every message frame's start (message_frame_head)
    typename Transport::lane_type lane_;
    const bool cluster_;       // the Bus numbers messages (see Bus::assigns_seq)
    const bool shares_members_;  // the Bus keeps the member list cluster-wide
    bool subscribed_ = false;  // on the Bus channel of this room

    std::vector<Member> members_;
    std::unordered_map<std::uint64_t, std::size_t> index_;  // session -> members_ slot
    std::size_t pending_joins_ = 0;
    std::size_t replays_in_flight_ = 0;  // clustered joins reading their replay
    bool filling_gap_ = false;           // reading seqs a live delivery skipped
    std::uint64_t gap_end_ = 0;          // the seq of the event that showed the gap
    std::vector<BusEvent> held_events_;  // sequenced events waiting for that read
    std::size_t gap_attempts_ = 0;       // reads of the current gap so far
    typename Transport::timer_type gap_timer_{};
    bool gap_timer_armed_ = false;       // a failed gap read waits to be tried again
    detail::RemoteMembers remote_;       // the other nodes' members (shares_members_)
    std::vector<std::function<void()>> members_waiters_;  // joins waiting for its read
    std::uint64_t next_seq_;
    std::deque<StoredMessagePtr> window_;  // contiguous seqs, newest last
    detail::ClientIdIndex sent_ids_;  // the window's messages by client_id: exactly-once sends
    bool retired_ = false;

    typename Transport::timer_type typing_timer_{};
    bool typing_timer_armed_ = false;
    time_point typing_deadline_{};
    std::uint64_t typing_generation_ = 0;
};

PARLEY_NAMESPACE_END
