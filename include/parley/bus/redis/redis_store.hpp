// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/bus/redis/keys.hpp>
#include <parley/bus/redis/redis_bus.hpp>
#include <parley/bus/redis/scripts.hpp>
#include <parley/detail/json.hpp>
#include <parley/store.hpp>
#include <parley/version.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// History and rooms in Redis, shared by every node of a cluster: each room's
/// messages are the stream the RedisBus append script writes (so `append` has
/// nothing left to do), tombstones are a set of entry ids and edits a hash of
/// them, both applied on read, and
/// rooms are one hash. Use it together with the RedisBus it is given.
class RedisStore final : public Store {
public:
    explicit RedisStore(std::shared_ptr<RedisBus> bus) : bus_(std::move(bus)), keys_(bus_->keys()) {
        bus_->on_connected([saved = saved_ptr_, mutex = mutex_ptr_, bus = std::weak_ptr<RedisBus>(bus_)] {
            auto b = bus.lock();
            if (!b) return;
            {
                std::lock_guard<std::mutex> lock(*mutex);
                for (const auto& [id, args] : *saved) b->command(args, [](auto) {});
            }
            b->command({"HGETALL", b->keys().rooms()}, [bus](std::optional<RedisReply> r) {
                auto b2 = bus.lock();
                if (!b2 || !r || r->kind != RedisReply::Kind::array) return;
                std::vector<RoomRecord> rooms;
                for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2)
                    rooms.push_back(decode_room(r->elements[i + 1].str));
                b2->learn_rooms(std::move(rooms));
            });
        });
    }

    /// Reads the rooms with a short blocking connection (start-up only, before
    /// the event loop runs). Throws StoreError when Redis cannot be reached.
    std::vector<RoomRecord> load_rooms() override {
        const auto& ep = bus_->options().endpoint;
        const auto timeout = bus_->options().connection.connect_timeout;
        timeval tv{static_cast<long>(timeout.count() / 1000), static_cast<long>((timeout.count() % 1000) * 1000)};
        std::unique_ptr<redisContext, void (*)(redisContext*)> c(
            redisConnectWithTimeout(ep.host.c_str(), ep.port, tv), [](redisContext* p) { if (p) redisFree(p); });
        if (!c || c->err)
            throw StoreError(ep.describe(), std::string("cannot reach Redis: ") + (c ? c->errstr : "out of memory") +
                                                " (start it, or unset REDIS_URL to run a single node)");
        redisSetTimeout(c.get(), tv);
        const auto run = [&](std::vector<std::string> args) {
            std::vector<const char*> argv;
            std::vector<size_t> lens;
            for (const auto& a : args) {
                argv.push_back(a.data());
                lens.push_back(a.size());
            }
            auto* raw = static_cast<redisReply*>(
                redisCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
            if (!raw) throw StoreError(ep.describe(), std::string("Redis failed: ") + c->errstr);
            auto reply = RedisReply::from(raw);
            freeReplyObject(raw);
            if (reply.is_error()) throw StoreError(ep.describe(), "Redis refused " + args[0] + ": " + reply.str);
            return reply;
        };
        if (!ep.password.empty()) run({"AUTH", ep.password});
        if (ep.db) run({"SELECT", std::to_string(ep.db)});
        std::vector<RoomRecord> rooms;
        const auto all = run({"HGETALL", keys_.rooms()});
        for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2) {
            auto record = decode_room(all.elements[i + 1].str);
            if (record.id.empty()) continue;
            const auto seq = run({"GET", keys_.room_seq(record.id)});
            if (seq.is_string()) record.last_seq = std::strtoull(seq.str.c_str(), nullptr, 10);
            rooms.push_back(std::move(record));
        }
        return rooms;
    }

    /// The first node to save a room decides its epoch; later saves keep it.
    /// Saved again whenever Redis comes back (it may have lost them).
    void save_room(const RoomRecord& room) override {
        std::vector<std::string> args{"HSETNX", keys_.rooms(), room.id, encode_room(room)};
        {
            std::lock_guard<std::mutex> lock(mutex_);
            saved_[room.id] = args;
        }
        bus_->command(std::move(args), [](auto) {});
    }

    void remove_room(const std::string& room_id) override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            saved_.erase(room_id);
        }
        bus_->command({"HDEL", keys_.rooms(), room_id}, [](auto) {});
        bus_->command({"DEL", keys_.room_stream(room_id), keys_.room_seq(room_id), keys_.room_deleted(room_id),
                       keys_.room_edits(room_id), keys_.room_reactions(room_id)},
                      [](auto) {});
    }

    /// Nothing to do: RedisBus's append script already wrote the stream.
    void append(const std::string&, StoredMessagePtr) override {}

    /// A tombstone joins the deleted set (and drops any edit and reactions: they
    /// are gone with it); an edit replaces the entry's text through the edits
    /// hash; a reaction is applied by a script, atomically.
    void update(const std::string& room_id, const MessagePatch& patch, StoredMessagePtr message) override {
        const auto& m = message->message;
        const auto id = RedisKeys::entry_id(m.seq);
        if (m.deleted) {
            bus_->command({"SADD", keys_.room_deleted(room_id), id}, [](auto) {});
            bus_->command({"HDEL", keys_.room_edits(room_id), id}, [](auto) {});
            bus_->command({"HDEL", keys_.room_reactions(room_id), id}, [](auto) {});
            return;
        }
        if (patch.kind == MessagePatch::Kind::reacted) {
            bus_->eval_script(redis_scripts::react, {keys_.room_reactions(room_id), keys_.room_deleted(room_id)},
                              {id, patch.emoji, patch.author, patch.on ? "1" : "0"}, [](auto) {});
            return;
        }
        bus_->command({"HSET", keys_.room_edits(room_id), id, encode_message_patch(patch)}, [](auto) {});
    }

    void read(const std::string& room_id, HistoryQuery query, ReadDone done) override {
        if (query.limit == 0 || (query.before != 0 && query.before <= query.after + 1))
            return done(HistoryPage{});
        const std::string max = query.before == 0 ? "+" : RedisKeys::entry_id(query.before - 1);
        bus_->eval_script(redis_scripts::read,
                          {keys_.room_stream(room_id), keys_.room_deleted(room_id), keys_.room_edits(room_id),
                           keys_.room_reactions(room_id)},
                          {max, RedisKeys::entry_id(query.after + 1), std::to_string(query.limit)},
                          [done = std::move(done)](std::optional<RedisReply> r) {
                              HistoryPage page;
                              page.failed = !r || r->kind != RedisReply::Kind::array;
                              if (!page.failed) {
                                  for (auto it = r->elements.rbegin(); it != r->elements.rend(); ++it)
                                      if (auto m = decode_entry(*it)) page.messages.push_back(std::move(m));
                              }
                              done(std::move(page));
                          });
    }

private:
    static std::string encode_room(const RoomRecord& room) {
        detail::JsonWriter w;
        return w.field("id", room.id)
            .field("name", room.name)
            .field("epoch", room.epoch)
            .field("permanent", room.permanent)
            .finish();
    }

    static RoomRecord decode_room(const std::string& json) {
        RoomRecord r;
        rapidjson::Document doc;
        std::string error;
        if (!detail::parse_json(json, doc, error) || !doc.IsObject()) return r;
        const auto str = [&doc](const char* key) {
            const auto* v = detail::find_member(doc, key);
            return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
        };
        r.id = str("id");
        r.name = str("name");
        r.epoch = str("epoch");
        const auto* p = detail::find_member(doc, "permanent");
        r.permanent = p && p->IsBool() && p->GetBool();
        return r;
    }

    /// `[[emoji, [author, ...]], ...]` (scripts.hpp `react`) into `m.reactions`;
    /// anything malformed is skipped.
    static void decode_reactions(const std::string& json, ChatMessage& m) {
        rapidjson::Document doc;
        std::string error;
        if (!detail::parse_json(json, doc, error) || !doc.IsArray()) return;
        for (const auto& r : doc.GetArray()) {
            if (!r.IsArray() || r.Size() != 2 || !r[0].IsString() || !r[1].IsArray()) continue;
            Reaction reaction;
            reaction.emoji.assign(r[0].GetString(), r[0].GetStringLength());
            for (const auto& a : r[1].GetArray())
                if (a.IsString()) reaction.authors.emplace_back(a.GetString(), a.GetStringLength());
            if (!reaction.authors.empty()) m.reactions.push_back(std::move(reaction));
        }
    }

    /// {id, [field, value, ...], deleted, edit?, reactions?} -> a message (a tombstone when
    /// deleted, the edited text when edited).
    static StoredMessagePtr decode_entry(const RedisReply& e) {
        if (e.kind != RedisReply::Kind::array || e.elements.size() < 3) return nullptr;
        ChatMessage m;
        m.seq = std::strtoull(e.elements[0].str.c_str(), nullptr, 10);
        if (m.seq == 0) return nullptr;
        const auto& fields = e.elements[1].elements;
        for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
            const auto& k = fields[i].str;
            const auto& v = fields[i + 1].str;
            if (k == "ts") m.ts = std::strtoll(v.c_str(), nullptr, 10);
            else if (k == "from") m.from = v;
            else if (k == "text") m.text = v;
            else if (k == "cid") m.client_id = v;
            else if (k == "author") m.author = v;
        }
        if (e.elements[2].integer == 1) return make_tombstone(m);
        if (e.elements.size() > 3 && e.elements[3].is_string()) {
            const auto edit = decode_message_patch(e.elements[3].str);
            if (edit && edit->kind == MessagePatch::Kind::edited) {
                m.text = edit->text;
                m.edited_at = edit->edited_at;
            }
        }
        if (e.elements.size() > 4 && e.elements[4].is_string()) decode_reactions(e.elements[4].str, m);
        return make_stored(std::move(m));
    }

    std::shared_ptr<RedisBus> bus_;
    const RedisKeys keys_;
    // Shared with the reconnect hook, which may outlive this store.
    std::shared_ptr<std::mutex> mutex_ptr_ = std::make_shared<std::mutex>();
    std::shared_ptr<std::map<std::string, std::vector<std::string>>> saved_ptr_ =
        std::make_shared<std::map<std::string, std::vector<std::string>>>();
    std::mutex& mutex_ = *mutex_ptr_;
    std::map<std::string, std::vector<std::string>>& saved_ = *saved_ptr_;  // room id -> its HSETNX
};

PARLEY_NAMESPACE_END
