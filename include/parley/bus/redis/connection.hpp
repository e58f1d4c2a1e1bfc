// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus/redis/asio_adapter.hpp>
#include <parley/bus/redis/endpoint.hpp>
#include <parley/bus/redis/reply.hpp>
#include <parley/version.hpp>

#include <asio.hpp>
#include <hiredis/async.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// Timeouts and bounds of one Redis connection. hiredis 0.14 has no timeouts
/// of its own in async mode; these are enforced with an Asio timer.
struct RedisConnectionOptions {
    std::chrono::milliseconds connect_timeout{2000};
    /// A reply later than this means the connection is broken: it is dropped
    /// (failing every command in flight) and made again.
    std::chrono::milliseconds command_timeout{3000};
    std::chrono::milliseconds backoff_min{100};  ///< first reconnect delay, doubled per failure
    std::chrono::milliseconds backoff_max{2000};
    /// Commands in flight at most; more fail at once (no queue grows while Redis is slow).
    std::size_t max_in_flight = 10000;
};

/// One hiredis async connection on an Asio strand, made again with capped
/// exponential backoff whenever it fails. Commands are refused at once while it
/// is down: nothing queues up during an outage. A subscriber connection keeps
/// its channels and subscribes them again after every reconnect.
///
/// Every member function must be called on the strand; every callback runs on it.
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
public:
    using Strand = asio::strand<asio::io_context::executor_type>;
    using Clock = std::chrono::steady_clock;
    /// A command's reply; nullopt when the connection failed or was down.
    using ReplyDone = std::function<void(std::optional<RedisReply>)>;
    /// A published message on a subscriber connection: channel, payload.
    using MessageHandler = std::function<void(const std::string&, const std::string&)>;
    using StateHandler = std::function<void(bool up, const std::string& why)>;

    RedisConnection(asio::io_context& io, Strand strand, RedisEndpoint endpoint,
                    RedisConnectionOptions options, std::string name)
        : io_(io), strand_(std::move(strand)), endpoint_(std::move(endpoint)),
          options_(options), name_(std::move(name)), tick_(io) {}

    ~RedisConnection() {
        if (ac_) {
            ac_->data = nullptr;
            redisAsyncFree(ac_);
        }
    }

    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    void on_state(StateHandler handler) { on_state_ = std::move(handler); }
    void on_message(MessageHandler handler) { on_message_ = std::move(handler); }

    /// Connects, and keeps connecting until `stop`.
    void start() {
        stopped_ = false;
        connect();
        arm_tick();
    }

    void stop() {
        stopped_ = true;
        asio::error_code ignored;
        tick_.cancel(ignored);
        drop("stopped");
    }

    /// Drops the link and makes it again (with backoff), failing what is in
    /// flight: for a link known to be dead that the socket does not show as
    /// such (a half-open TCP connection; see RedisBus's heartbeat echo).
    void reconnect(const std::string& why) {
        if (!stopped_ && ac_) drop(why);
    }

    bool up() const noexcept { return up_; }
    const std::string& name() const noexcept { return name_; }
    std::uint64_t reconnects() const noexcept { return reconnects_.load(std::memory_order_relaxed); }

    /// Sends one command; `done` runs later on the strand (never inline).
    void command(std::vector<std::string> args, ReplyDone done) {
        if (!up_ || !ac_ || in_flight_.size() >= options_.max_in_flight) {
            asio::post(strand_, [done = std::move(done)] { done(std::nullopt); });
            return;
        }
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* pending = new ReplyDone(std::move(done));
        if (redisAsyncCommandArgv(ac_, &RedisConnection::on_reply, pending, static_cast<int>(argv.size()),
                                  argv.data(), lens.data()) != REDIS_OK) {
            asio::post(strand_, [done = std::move(*pending)] { done(std::nullopt); });
            delete pending;
            return;
        }
        in_flight_.push_back(Clock::now() + options_.command_timeout);
    }

    /// Subscriber connections: listen to `channel` (now if up, else after connecting).
    ///
    /// hiredis 0.14 keeps one callback per channel and drops it when an
    /// `unsubscribe` reply arrives, even if a new SUBSCRIBE for the channel was
    /// sent meanwhile (its messages would then go nowhere): a subscribe waits
    /// for the channel's pending unsubscribe to be confirmed. The connection also
    /// never drops its last channel (the bus keeps the lobby channel), which
    /// avoids hiredis 0.14 leaving subscribed mode between an UNSUBSCRIBE and a
    /// SUBSCRIBE sent back to back.
    void subscribe(const std::string& channel) {
        if (!channels_.insert(channel).second) return;
        if (up_ && !unsubscribing_.count(channel)) send_subscription("SUBSCRIBE", channel);
    }
    void unsubscribe(const std::string& channel) {
        if (!channels_.erase(channel)) return;
        confirmed_.erase(channel);
        if (up_ && !unsubscribing_.count(channel)) {
            unsubscribing_.insert(channel);
            send_subscription("UNSUBSCRIBE", channel);
        }
    }

    /// Runs `fn` (later, on the strand) once Redis confirmed the subscription to
    /// `channel`, or at once when there is nothing to wait for (not subscribed,
    /// already confirmed, or down).
    void when_subscribed(const std::string& channel, std::function<void()> fn) {
        if (!up_ || !channels_.count(channel) || confirmed_.count(channel)) {
            asio::post(strand_, std::move(fn));
            return;
        }
        waiters_[channel].push_back(std::move(fn));
    }

private:
    // ---- hiredis callbacks (run inside redisAsyncHandle*, on the strand) ----------------

    static RedisConnection* owner(const redisAsyncContext* ac) {
        return static_cast<RedisConnection*>(ac->data);
    }

    static void on_connected(const redisAsyncContext* ac, int status) {
        auto* self = owner(ac);
        if (!self) return;
        if (status != REDIS_OK) {
            // hiredis frees the context after this returns.
            const std::string why = ac->errstr[0] ? ac->errstr : "connect failed";
            self->ac_ = nullptr;
            self->connecting_ = false;
            self->went_down("cannot connect to " + self->endpoint_.describe() + ": " + why);
            return;
        }
        self->connecting_ = false;
        self->connected();
    }

    static void on_disconnected(const redisAsyncContext* ac, int status) {
        auto* self = owner(ac);
        if (!self || self->ac_ != ac) return;
        self->ac_ = nullptr;
        self->went_down(status == REDIS_OK ? "disconnected"
                                           : std::string("connection lost: ") +
                                                 (ac->errstr[0] ? ac->errstr : "closed by the server"));
    }

    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
        std::unique_ptr<ReplyDone> done(static_cast<ReplyDone*>(privdata));
        auto* self = owner(ac);
        std::optional<RedisReply> out;
        if (reply) out = RedisReply::from(static_cast<redisReply*>(reply));
        if (self) {
            if (!self->in_flight_.empty()) self->in_flight_.pop_front();
            // Later, not inline: the callback may send commands, and this context
            // may be in the middle of being freed.
            asio::post(self->strand_, [done = std::move(*done), out = std::move(out)] { done(out); });
        }
    }

    static void on_push(redisAsyncContext* ac, void* reply, void*) {
        auto* self = owner(ac);
        if (!self || !reply) return;
        auto r = RedisReply::from(static_cast<redisReply*>(reply));
        if (r.kind != RedisReply::Kind::array || r.elements.size() != 3) return;
        if (r.elements[0].str == "subscribe" || r.elements[0].str == "unsubscribe") {
            asio::post(self->strand_, [weak = self->weak_from_this(), subscribed = r.elements[0].str == "subscribe",
                                       channel = std::move(r.elements[1].str)] {
                if (auto s = weak.lock()) s->confirmation(channel, subscribed);
            });
            return;
        }
        if (r.elements[0].str != "message") return;
        if (self->on_message_) {
            asio::post(self->strand_, [weak = self->weak_from_this(), channel = std::move(r.elements[1].str),
                                       payload = std::move(r.elements[2].str)] {
                if (auto s = weak.lock(); s && s->on_message_ && s->up_) s->on_message_(channel, payload);
            });
        }
    }

    // ---- lifecycle ------------------------------------------------------------------------

    void connect() {
        if (stopped_ || ac_) return;
        ac_ = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
        if (!ac_ || ac_->err) {
            const std::string why = ac_ ? ac_->errstr : "out of memory";
            if (ac_) redisAsyncFree(ac_);
            ac_ = nullptr;
            went_down("cannot connect to " + endpoint_.describe() + ": " + why);
            return;
        }
        ac_->data = this;
        detail::RedisAsioAdapter::attach(ac_, io_, strand_);
        connecting_ = true;
        connect_deadline_ = Clock::now() + options_.connect_timeout;
        redisAsyncSetDisconnectCallback(ac_, &RedisConnection::on_disconnected);
        // Last: this registers the write wait that tells when connect(2) finished.
        redisAsyncSetConnectCallback(ac_, &RedisConnection::on_connected);
    }

    void connected() {
        up_ = true;
        backoff_ = std::chrono::milliseconds(0);
        // TCP keepalive: the kernel notices a peer that vanished (no RST ever
        // comes) even on a link with nothing to send, like an idle subscriber.
        redisEnableKeepAlive(&ac_->c);
        // Pipelined ahead of everything else sent on this connection.
        if (!endpoint_.password.empty()) raw({"AUTH", endpoint_.password});
        if (endpoint_.db != 0) raw({"SELECT", std::to_string(endpoint_.db)});
        for (const auto& channel : channels_) send_subscription("SUBSCRIBE", channel);
        if (on_state_) on_state_(true, "connected to " + endpoint_.describe());
    }

    /// A command whose reply nobody waits for (AUTH, SELECT): a failure shows on the next.
    void raw(std::vector<std::string> args) { command(std::move(args), [](std::optional<RedisReply>) {}); }
    void send_subscription(const char* verb, const std::string& channel) {
        if (!ac_) return;
        const char* argv[] = {verb, channel.data()};
        const size_t lens[] = {std::char_traits<char>::length(verb), channel.size()};
        redisAsyncCommandArgv(ac_, &RedisConnection::on_push, nullptr, 2, argv, lens);
    }

    /// Drops the context we hold (timeouts, stop); hiredis fails what is in flight.
    void drop(const std::string& why) {
        if (!ac_) {
            if (!stopped_) return;
            went_down(why);
            return;
        }
        auto* ac = ac_;
        ac_ = nullptr;
        connecting_ = false;
        redisAsyncFree(ac);  // calls on_disconnected (ignored: ac_ no longer matches) and each reply callback
        went_down(why);
    }

    void confirmation(const std::string& channel, bool subscribed) {
        if (!subscribed) {
            unsubscribing_.erase(channel);
            // Wanted again meanwhile: subscribe now that hiredis forgot the old one.
            if (channels_.count(channel) && up_) send_subscription("SUBSCRIBE", channel);
            return;
        }
        if (channels_.count(channel)) confirmed_.insert(channel);
        release_waiters(channel);
    }

    void release_waiters(const std::string& channel) {
        auto it = waiters_.find(channel);
        if (it == waiters_.end()) return;
        for (auto& fn : it->second) asio::post(strand_, std::move(fn));
        waiters_.erase(it);
    }

    void went_down(const std::string& why) {
        in_flight_.clear();
        confirmed_.clear();
        unsubscribing_.clear();
        while (!waiters_.empty()) release_waiters(waiters_.begin()->first);
        const bool was_up = up_;
        up_ = false;
        if (stopped_) {
            if (was_up && on_state_) on_state_(false, why);
            return;
        }
        backoff_ = backoff_.count() == 0 ? options_.backoff_min
                                         : std::min(backoff_ * 2, options_.backoff_max);
        retry_at_ = Clock::now() + backoff_;
        if (was_up || why != last_error_) {
            if (on_state_) on_state_(false, why + "; retrying in " + std::to_string(backoff_.count()) + " ms");
        }
        last_error_ = why;
    }

    /// One timer does it all: connect and command timeouts, and reconnecting.
    void arm_tick() {
        tick_.expires_after(std::chrono::milliseconds(50));
        tick_.async_wait(asio::bind_executor(strand_, [weak = weak_from_this()](const asio::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self || self->stopped_) return;
            self->on_tick();
            self->arm_tick();
        }));
    }

    void on_tick() {
        const auto now = Clock::now();
        if (connecting_ && ac_ && now > connect_deadline_) {
            drop("cannot connect to " + endpoint_.describe() + ": timed out after " +
                 std::to_string(options_.connect_timeout.count()) + " ms");
        } else if (up_ && !in_flight_.empty() && now > in_flight_.front()) {
            drop("no reply from " + endpoint_.describe() + " within " +
                 std::to_string(options_.command_timeout.count()) + " ms");
        } else if (!ac_ && now >= retry_at_) {
            reconnects_.fetch_add(1, std::memory_order_relaxed);
            connect();
        }
    }

    asio::io_context& io_;
    Strand strand_;
    const RedisEndpoint endpoint_;
    const RedisConnectionOptions options_;
    const std::string name_;
    asio::steady_timer tick_;
    StateHandler on_state_;
    MessageHandler on_message_;

    redisAsyncContext* ac_ = nullptr;
    bool connecting_ = false;
    bool up_ = false;
    bool stopped_ = true;
    Clock::time_point connect_deadline_{};
    Clock::time_point retry_at_{};
    std::chrono::milliseconds backoff_{0};
    std::string last_error_;
    std::deque<Clock::time_point> in_flight_;  // deadlines, oldest first (replies come in order)
    std::set<std::string> channels_;
    std::set<std::string> confirmed_;      // channels Redis confirmed since the last connect
    std::set<std::string> unsubscribing_;  // UNSUBSCRIBE sent, not yet confirmed
    std::map<std::string, std::vector<std::function<void()>>> waiters_;
    std::atomic<std::uint64_t> reconnects_{0};
};

PARLEY_NAMESPACE_END
