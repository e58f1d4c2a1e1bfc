// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/events.hpp>
#include <parley/detail/names.hpp>
#include <parley/detail/request.hpp>
#include <parley/detail/sha256.hpp>
#include <parley/detail/token_bucket.hpp>
#include <parley/detail/utf8.hpp>
#include <parley/error_code.hpp>
#include <parley/frame.hpp>
#include <parley/fwd.hpp>
#include <parley/limits.hpp>
#include <parley/metrics.hpp>
#include <parley/protocol/error_reply.hpp>
#include <parley/protocol/request_table.hpp>
#include <parley/protocol/requests.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN

/// One connection's session: decodes and validates its requests, enforces its
/// rate limit and keepalive, and forwards work to the Lobby and its rooms' Hubs.
/// It runs on its own lane; the embedder's transport calls `receive`, `pong` and
/// `closed` from any thread.
///
/// Requests are handled in arrival order. A request that needs the Lobby (hello,
/// nick, rooms, watch_lobby, create_room, join, dm, search) is completed before the
/// next one starts; requests for a joined room go straight to its Hub, whose lane keeps
/// their order.
template <class Transport>
class Client : public std::enable_shared_from_this<Client<Transport>> {
    static_assert(detail::check_transport<Transport>());

public:
    using handle_type = typename Transport::handle_type;
    using HubPtr = std::shared_ptr<Hub<Transport>>;

    /// Created by `Lobby::connect`.
    Client(Lobby<Transport>& lobby, handle_type handle, PeerInfo peer, std::uint64_t session)
        : lobby_(lobby),
          transport_(lobby.transport()),
          limits_(lobby.limits()),
          handle_(std::move(handle)),
          peer_(std::move(peer)),
          session_(session),
          lane_(transport_.make_lane()),
          bucket_(limits_.rate_burst, limits_.rate_per_second, transport_.now()),
          strikes_(limits_.abuse_strikes, limits_.abuse_forgiveness_per_second, transport_.now()),
          last_inbound_(transport_.now()) {}

    /// An inbound text frame (any thread).
    void receive(std::string text) {
        // The hot path: one closure built in place rather than through post(),
        // which would move the text once more into its wrapper.
        transport_.post(lane_, Task([self = this->shared_from_this(),
                                     text = std::move(text)]() mutable {
            self->on_frame(std::move(text));
        }));
    }
    /// The peer answered a ping (any thread).
    void pong() {
        post([this] { last_inbound_ = transport_.now(); });
    }
    /// The connection is gone (any thread); `code` is the close code seen, 1006 for a drop.
    void closed(std::uint16_t code) {
        // From now on the core leaves the handle alone (see connection_gone).
        connection_gone_.store(true, std::memory_order_release);
        post([this, code] { finalize(code); });
    }

    std::uint64_t session() const noexcept { return session_; }
    const handle_type& handle() const noexcept { return handle_; }
    const PeerInfo& peer() const noexcept { return peer_; }
    /// True once the session has ended (read on its lane, or after the executor is idle).
    bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

private:
    friend class Lobby<Transport>;
    friend class Hub<Transport>;
    friend struct protocol::RequestTable<Client>;  // its rows name the handlers below
    using time_point = std::chrono::steady_clock::time_point;

    /// Runs `work` on this lane, keeping this object alive until then. The
    /// keep-alive and the work share one closure: one Task (one allocation)
    /// per hop rather than a Task wrapped in another.
    template <class F>
    void post(F&& work) {
        transport_.post(lane_, Task([self = this->shared_from_this(),
                                     work = std::forward<F>(work)]() mutable { work(); }));
    }

    // ---- lifecycle ------------------------------------------------------------------------

    void start() {
        post([this] {
            identify_timer_ = transport_.start_timer(lane_, limits_.identify_timeout,
                                                     [self = this->shared_from_this()] {
                                                         if (self->nick_.empty())
                                                             self->terminate(close_code::policy,
                                                                             "hello expected");
                                                     });
            arm_keepalive(limits_.ping_interval);
        });
    }

    void arm_keepalive(std::chrono::milliseconds delay) {
        keepalive_timer_ = transport_.start_timer(
            lane_, delay, [self = this->shared_from_this()] { self->on_keepalive(); });
    }

    void on_keepalive() {
        if (closed_ || connection_gone()) return;
        const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(transport_.now() -
                                                                               last_inbound_);
        if (idle >= limits_.idle_timeout) {
            // The peer went silent (half-open or gone): a drop, not a clean close by
            // the client, so its nick stays reserved for the token holder.
            transport_.close(handle_, close_code::normal, "idle timeout");
            return finalize(close_code::abnormal);
        }
        // Ping after ping_interval of silence, counted from the last inbound frame.
        if (idle < limits_.ping_interval)
            return arm_keepalive(std::min(limits_.ping_interval, limits_.idle_timeout) - idle);
        transport_.ping(handle_);
        arm_keepalive(std::min(limits_.ping_interval, limits_.idle_timeout - idle));
    }

    /// Server-side close: the transport drops queued output now and this session
    /// leaves everything at once, without waiting for the close handshake.
    void terminate(std::uint16_t code, std::string_view reason) {
        if (closed_) return;
        if (!connection_gone()) transport_.close(handle_, code, reason);
        finalize(code);
    }

    /// Closed by another lane (slow consumer): the transport was already told.
    void closed_by_server(std::uint16_t code) {
        post([this, code] { finalize(code); });
    }

    void finalize(std::uint16_t code) {
        if (closed_) return;
        closed_.store(true, std::memory_order_release);
        inbox_.clear();
        transport_.cancel_timer(keepalive_timer_);
        transport_.cancel_timer(identify_timer_);
        for (auto& [id, hub] : rooms_) hub->leave(session_);
        rooms_.clear();
        lobby_.session_ended(this->shared_from_this(), nick_, code, claiming_);
    }

    /// The same nickname was reclaimed with its token from a new connection.
    void shut_down_replaced() {
        post([this] { terminate(close_code::normal, "replaced by a new connection"); });
    }

    /// Lobby shutdown: say why, then close with 1001.
    void shut_down(std::string reason) {
        post([this, reason = std::move(reason)] {
            if (closed_) return;
            send(detail::encode_shutdown(reason));
            terminate(close_code::going_away, "server shutting down");
        });
    }

    // ---- inbound ----------------------------------------------------------------------------

    void on_frame(std::string text) {
        if (closed_) return;
        auto& metrics = lobby_.metrics();
        Metrics::add(metrics.frames_in);
        Metrics::add(metrics.bytes_in, text.size());
        const auto now = transport_.now();
        last_inbound_ = now;
        if (text.size() > limits_.max_frame_bytes) {
            Metrics::add(metrics.protocol_closes);
            return terminate(close_code::too_big, "frame too big");
        }
        if (!detail::is_valid_utf8(text)) {
            Metrics::add(metrics.protocol_closes);
            return terminate(close_code::invalid_payload, "invalid UTF-8");
        }
        detail::Request request;  // moved to the inbox only when it has to wait
        auto problem = detail::Request::parse(std::move(text), limits_, request);
        if (!bucket_.try_take(now)) {
            Metrics::add(metrics.rate_limited);
            if (!strikes_.try_take(now)) {
                Metrics::add(metrics.policy_closes);
                return terminate(close_code::policy, "too many requests");
            }
            return error(request.ref(), ErrorCode::rate_limited,
                         "slow down: at most " + std::to_string(limits_.rate_per_second) +
                             " requests per second");
        }
        if (problem) {
            // A bad frame costs a strike too, so a garbage flood is closed like any other.
            if (!strikes_.try_take(now)) {
                Metrics::add(metrics.policy_closes);
                return terminate(close_code::policy, "too many bad requests");
            }
            return error(request.ref(), problem->code, problem->message);
        }
        if (busy_) return inbox_.push_back(std::move(request));
        dispatch(request);
    }

    /// Called on this lane when a Lobby round trip ends; runs queued requests.
    void resume() {
        busy_ = false;
        while (!busy_ && !closed_ && !inbox_.empty()) {
            auto next = std::move(inbox_.front());
            inbox_.pop_front();
            dispatch(next);
        }
    }

    void complete() {
        post([this] { resume(); });
    }

    /// Answers `rq` through its row of the request table (protocol/request_table.hpp).
    void dispatch(detail::Request& rq) {
        const auto* request = protocol::RequestTable<Client>::find(rq.type());
        if (!request)
            return error(rq.ref(), ErrorCode::unknown_type,
                         "unknown request type \"" + std::string(rq.type()) + "\"");
        if (request->gate == protocol::Gate::after_hello && nick_.empty())
            return error(rq.ref(), ErrorCode::not_identified, "send hello first");
        if (request->gate == protocol::Gate::before_hello && !nick_.empty())
            return error(rq.ref(), ErrorCode::already_identified, "already identified as " + nick_);
        request->run(*this, rq);
    }

    /// Ends a request whose fields failed validation; true when it did.
    bool rejected(detail::Request& rq) {
        if (!rq.problem()) return false;
        error(rq.ref(), rq.problem()->code, rq.problem()->message);
        return true;
    }

    // ---- requests: the handlers of the request table, called with valid fields ----------------

    void on_ping(detail::Request& rq, const protocol::NoFields&) { send(detail::encode_pong(rq.ref())); }

    void on_hello(detail::Request& rq, const protocol::HelloFields& hello) {
        busy_ = true;
        claiming_ = std::string(hello.nick);
        lobby_.claim_nick(this->shared_from_this(), std::string(hello.nick), std::string(hello.token),
                          rq.ref());
    }

    /// The Lobby's answer to hello: `token` empty means the nick was refused.
    void identified(std::string nick, std::string token, detail::Ref ref) {
        post([this, nick = std::move(nick), token = std::move(token), ref = std::move(ref)] {
            if (!closed_) {
                nick_ = nick;
                token_ = token;
                transport_.cancel_timer(identify_timer_);
                identify_timer_ = {};  // its memory, for the rest of the session
                send(detail::encode_welcome(ref, lobby_.session_name(session_), nick_, token_,
                                            limits_));
            }
            resume();
        });
    }

    void on_nick(detail::Request& rq, const protocol::NickFields& fields) {
        busy_ = true;
        claiming_ = std::string(fields.nick);
        lobby_.rename(this->shared_from_this(), nick_, std::string(fields.nick), rq.ref());
    }

    void renamed(std::string nick, detail::Ref ref) {
        post([this, nick = std::move(nick), ref = std::move(ref)] {
            if (!closed_) {
                std::string old = std::exchange(nick_, nick);
                send(detail::encode_nick_changed(ref, "", old, nick_));
                for (auto& [id, hub] : rooms_) hub->rename(session_, old, nick_);
            }
            resume();
        });
    }

    void on_rooms(detail::Request& rq, const protocol::NoFields&) {
        busy_ = true;
        lobby_.list_rooms(this->shared_from_this(), rq.ref());
    }

    void on_watch_lobby(detail::Request& rq, const protocol::NoFields&) {
        busy_ = true;
        lobby_.add_watcher(this->shared_from_this(), rq.ref());
    }

    void on_create_room(detail::Request& rq, const protocol::CreateRoomFields& fields) {
        busy_ = true;
        lobby_.create_room_for(this->shared_from_this(), std::string(fields.name), rq.ref());
    }

    void on_join(detail::Request& rq, const protocol::JoinFields& fields) {
        if (!rooms_.count(fields.room) && rooms_.size() >= limits_.max_rooms_per_client)
            return error(rq.ref(), ErrorCode::too_many_rooms,
                         "at most " + std::to_string(limits_.max_rooms_per_client) +
                             " rooms at once");
        typename Hub<Transport>::JoinRequest join;
        join.client = this->shared_from_this();
        join.handle = handle_;
        join.session = session_;
        join.nick = nick_;
        join.author = detail::author_identity(token_);
        join.since = fields.since;
        if (fields.epoch) join.epoch = std::string(*fields.epoch);
        join.history = fields.history;
        join.ref = rq.ref();
        busy_ = true;
        lobby_.route_join(std::string(fields.room), std::move(join));
    }

    /// The Hub's answer to join: `hub` null when it was refused.
    void join_finished(std::string room, HubPtr hub) {
        post([this, room = std::move(room), hub = std::move(hub)] {
            if (hub) {
                if (closed_) hub->leave(session_);
                else rooms_[room] = hub;
            }
            resume();
        });
    }

    /// The Hub of a joined room, or an error reply and null. A plain pointer,
    /// held by rooms_, so the hot path copies no shared_ptr; valid until rooms_ changes.
    Hub<Transport>* joined_hub(detail::Request& rq, std::string_view room) {
        auto it = rooms_.find(room);
        if (it != rooms_.end()) return it->second.get();
        error(rq.ref(), ErrorCode::not_in_room, "not in room " + std::string(room));
        return nullptr;
    }

    void on_leave(detail::Request& rq, const protocol::LeaveFields& fields) {
        auto it = joined_hub(rq, fields.room) ? rooms_.find(fields.room) : rooms_.end();
        if (it == rooms_.end()) return;
        const HubPtr hub = std::move(it->second);
        rooms_.erase(it);
        hub->leave(session_, rq.ref());
    }

    void on_send(detail::Request& rq, const protocol::SendFields& fields) {
        auto hub = joined_hub(rq, fields.room);
        if (!hub) return;
        std::string id(fields.client_id);
        // The request's text becomes the message's: the last use of its views.
        hub->send(session_, rq.take_string(fields.text), std::move(id), rq.ref());
    }

    void on_typing(detail::Request& rq, const protocol::TypingFields& fields) {
        if (auto hub = joined_hub(rq, fields.room)) hub->typing(session_, fields.active, rq.ref());
    }

    void on_history(detail::Request& rq, const protocol::HistoryFields& fields) {
        if (auto hub = joined_hub(rq, fields.room))
            hub->history(session_, fields.before, fields.limit, rq.ref());
    }

    void on_delete(detail::Request& rq, const protocol::DeleteFields& fields) {
        if (auto hub = joined_hub(rq, fields.room)) hub->remove_message(session_, fields.seq, rq.ref());
    }

    /// The new text is checked like a `send`'s; the Hub checks authorship and age.
    void on_react(detail::Request& rq, const protocol::ReactFields& fields) {
        if (auto hub = joined_hub(rq, fields.room))
            hub->react(session_, fields.seq, std::string(fields.emoji), fields.on, rq.ref());
    }

    void on_edit(detail::Request& rq, const protocol::EditFields& fields) {
        if (auto hub = joined_hub(rq, fields.room))
            hub->edit_message(session_, fields.seq, std::string(fields.text), rq.ref());
    }

    /// Search needs no membership (any identified client may read any room's
    /// history over REST too); the Lobby checks the room and the words.
    void on_search(detail::Request& rq, const protocol::SearchFields& fields) {
        busy_ = true;
        lobby_.search_for(this->shared_from_this(), std::string(fields.room), std::string(fields.q),
                          fields.limit, fields.offset, rq.ref());
    }

    void on_dm(detail::Request& rq, const protocol::DmFields& fields) {
        busy_ = true;
        lobby_.direct_message(this->shared_from_this(), nick_, std::string(fields.to),
                              std::string(fields.text), std::string(fields.client_id), rq.ref());
    }

    // ---- outbound ---------------------------------------------------------------------------

    void send(std::string text) { deliver(make_frame(std::move(text))); }

    void deliver(const SharedFrame& frame) { lobby_.deliver(this->shared_from_this(), handle_, frame); }

    void error(const detail::Ref& ref, ErrorCode code, std::string_view message) {
        protocol::send_error(lobby_.metrics(), [this](const SharedFrame& frame) { deliver(frame); }, ref,
                             code, message);
    }

    Lobby<Transport>& lobby_;
    Transport& transport_;
    const Limits& limits_;
    const handle_type handle_;
    const PeerInfo peer_;
    const std::uint64_t session_;
    typename Transport::lane_type lane_;

    std::string nick_;   // empty until hello succeeds
    std::string token_;
    std::string claiming_;  // the nick last asked of the Lobby (hello or nick)
    std::map<std::string, HubPtr, std::less<>> rooms_;  // std::less<>: found by string_view
    bool busy_ = false;  // a Lobby round trip is under way
    // A list, not a deque: requests rarely wait, and an empty std::deque
    // already holds about 600 bytes, which every idle session would pay.
    std::list<detail::Request> inbox_;
    /// The embedder reported the close (`closed`): send, close, ping and the
    /// buffered counts are no longer called for this handle by any lane that
    /// sees it (docs/embedding.md, "Handle lifetime").
    bool connection_gone() const noexcept { return connection_gone_.load(std::memory_order_acquire); }
    std::atomic<bool> connection_gone_{false};
    std::atomic<bool> closed_{false};  // read by Hubs to skip a join that raced a close

    detail::TokenBucket bucket_;
    detail::TokenBucket strikes_;
    time_point last_inbound_;
    typename Transport::timer_type keepalive_timer_{};
    typename Transport::timer_type identify_timer_{};
};

PARLEY_NAMESPACE_END
