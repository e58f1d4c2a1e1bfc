// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json.hpp>
#include <parley/detail/json_text.hpp>
#include <parley/detail/request.hpp>
#include <parley/error_code.hpp>
#include <parley/limits.hpp>
#include <parley/message.hpp>
#include <parley/version.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace detail {

// Encoders for every server-to-client frame of protocol v1 (docs/protocol.md).
// Each returns the frame text; callers wrap it in one SharedFrame per event.

/// Writes the leading `type` and the echoed `ref` of a frame.
inline JsonWriter& start(JsonWriter& w, std::string_view type, const Ref* ref = nullptr) {
    w.field("type", type);
    if (ref) ref->write(w);
    return w;
}

inline std::string encode_error(const Ref& ref, ErrorCode code, std::string_view message) {
    JsonWriter w;
    return start(w, "error", &ref).field("code", to_string(code)).field("message", message).finish();
}

inline std::string encode_pong(const Ref& ref) { JsonWriter w;
    return start(w, "pong", &ref).finish(); }

inline std::string encode_welcome(const Ref& ref, std::string_view session, std::string_view nick,
                                  std::string_view token, const Limits& limits) {
    auto ms = [](std::chrono::milliseconds d) { return static_cast<std::uint64_t>(d.count()); };
    JsonWriter w;
    start(w, "welcome", &ref);
    w.field("session", session).field("nick", nick).field("token", token);
    w.field("protocol", std::uint64_t{1});
    w.key("limits").begin_object();
    w.field("max_frame_bytes", std::uint64_t{limits.max_frame_bytes});
    w.field("max_text_chars", std::uint64_t{limits.max_text_chars});
    w.field("max_nick_chars", std::uint64_t{limits.max_nick_chars});
    w.field("max_room_name_chars", std::uint64_t{limits.max_room_name_chars});
    w.field("max_rooms_per_client", std::uint64_t{limits.max_rooms_per_client});
    w.field("max_history_page", std::uint64_t{limits.max_history_page});
    w.field("rate_per_second", static_cast<std::uint64_t>(limits.rate_per_second));
    w.field("rate_burst", static_cast<std::uint64_t>(limits.rate_burst));
    w.field("typing_expiry_ms", ms(limits.typing_expiry));
    w.field("typing_throttle_ms", ms(limits.typing_throttle));
    w.field("ping_interval_ms", ms(limits.ping_interval));
    w.field("idle_timeout_ms", ms(limits.idle_timeout));
    w.field("edit_window_ms", ms(limits.edit_window));
    w.field("max_reactions_per_message", std::uint64_t{limits.max_reactions_per_message});
    w.field("max_emoji_bytes", std::uint64_t{limits.max_emoji_bytes});
    w.end_object();
    return w.finish();
}

inline void write_room(JsonWriter& w, const RoomInfo& room) {
    w.begin_object()
        .field("id", room.id)
        .field("name", room.name)
        .field("members", std::uint64_t{room.members})
        .end_object();
}

inline std::string encode_rooms(const Ref& ref, const std::vector<RoomInfo>& rooms) {
    JsonWriter w;
    start(w, "rooms", &ref);
    w.key("rooms").begin_array();
    for (const auto& r : rooms) write_room(w, r);
    w.end_array();
    return w.finish();
}

inline std::string encode_room_event(std::string_view type, const Ref& ref, const RoomInfo& room) {
    JsonWriter w;
    start(w, type, &ref);
    w.key("room");
    write_room(w, room);
    return w.finish();
}

inline std::string encode_room_removed(std::string_view id) {
    JsonWriter w;
    return start(w, "room_removed").field("id", id).finish();
}

/// `viewer` (an author identity; empty: none) gets its own reactions marked `mine`.
inline void write_messages(JsonWriter& w, const std::vector<StoredMessagePtr>& messages,
                           std::string_view viewer = {}) {
    w.key("messages").begin_array();
    for (const auto& m : messages) {
        if (viewer.empty() || m->message.reactions.empty()) w.raw(m->json);
        else w.raw(m->message.to_json(viewer));
    }
    w.end_array();
}

inline std::string encode_joined(const Ref& ref, std::string_view id, std::string_view name,
                                 const std::vector<std::string_view>& members,
                                 const std::vector<StoredMessagePtr>& messages,
                                 std::string_view epoch, bool complete, std::string_view viewer = {}) {
    JsonWriter w;
    start(w, "joined", &ref);
    w.key("room").begin_object().field("id", id).field("name", name).end_object();
    w.key("members").begin_array();
    for (auto nick : members) w.str(nick);
    w.end_array();
    write_messages(w, messages, viewer);
    w.field("epoch", epoch).field("complete", complete);
    return w.finish();
}

inline std::string encode_history(const Ref& ref, std::string_view room,
                                  const std::vector<StoredMessagePtr>& messages, bool complete,
                                  std::string_view viewer = {}) {
    JsonWriter w;
    start(w, "history", &ref);
    w.field("room", room);
    write_messages(w, messages, viewer);
    w.field("complete", complete);
    return w.finish();
}

/// `messages` best match first, as the store ranked them.
inline std::string encode_search_results(const Ref& ref, std::string_view room, std::string_view q,
                                         std::uint64_t offset,
                                         const std::vector<StoredMessagePtr>& messages, bool more) {
    JsonWriter w;
    start(w, "search_results", &ref);
    w.field("room", room).field("q", q).field("offset", offset);
    write_messages(w, messages);
    w.field("more", more);
    return w.finish();
}

inline std::string encode_presence(std::string_view room, std::string_view event,
                                   std::string_view nick) {
    JsonWriter w;
    return start(w, "presence").field("room", room).field("event", event).field("nick", nick).finish();
}

inline std::string encode_left(const Ref& ref, std::string_view room) {
    JsonWriter w;
    return start(w, "left", &ref).field("room", room).finish();
}

/// `{"type":"message","room":..., <the stored object's fields>}`: the message
/// is encoded once (`StoredMessage::json`, which history and join replays
/// reuse) and the event wraps that text instead of encoding it again.
/// `{"type":"message","room":"r",`: what every `message` frame of room `r`
/// starts with, so a Hub encodes it once rather than per message.
inline std::string message_frame_head(std::string_view room) {
    constexpr std::string_view type = R"({"type":"message","room":)";
    const auto room_plan = plan_json_string(room);
    std::string head(type.size() + room_plan.size + 1, '\0');
    JsonSink(head.data()).raw(type).string(room, room_plan).raw(",");
    return head;
}

/// A `message` frame: `head` (see message_frame_head) and the stored JSON
/// without its `{`, copied into a string of their exact size.
inline std::string encode_message_with_head(std::string_view head, const StoredMessage& m) {
    const auto body = std::string_view(m.json).substr(1);
    std::string text(head.size() + body.size(), '\0');
    JsonSink(text.data()).raw(head).raw(body);
    return text;
}

inline std::string encode_message(std::string_view room, const StoredMessage& m) {
    return encode_message_with_head(message_frame_head(room), m);
}

/// The message inside a `message` frame (`seq` and `author` left unset), or
/// nullopt when the text is not one. Used for frames other nodes sequenced.
inline std::optional<ChatMessage> decode_message_frame(std::string_view frame) {
    rapidjson::Document doc;
    std::string error;
    if (!parse_json(frame, doc, error) || !doc.IsObject()) return std::nullopt;
    auto string_of = [&doc](std::string_view key) -> std::optional<std::string> {
        const auto* v = find_member(doc, key);
        if (!v || !v->IsString()) return std::nullopt;
        return std::string(v->GetString(), v->GetStringLength());
    };
    const auto* ts = find_member(doc, "ts");
    auto from = string_of("from");
    auto text = string_of("text");
    if (!ts || !ts->IsInt64() || !from || !text || string_of("type") != "message") return std::nullopt;
    ChatMessage m;
    m.ts = ts->GetInt64();
    m.from = std::move(*from);
    m.text = std::move(*text);
    m.client_id = string_of("client_id").value_or("");
    return m;
}

inline std::string encode_typing(std::string_view room, std::string_view nick, bool active) {
    JsonWriter w;
    return start(w, "typing").field("room", room).field("nick", nick).field("active", active).finish();
}

inline std::string encode_deleted(std::string_view room, std::uint64_t seq) {
    JsonWriter w;
    return start(w, "deleted").field("room", room).field("seq", seq).finish();
}

/// `{"type":"edited","room":..,"seq":..,"text":..,"edited_at":..}`: an edit, to every member.
inline std::string encode_edited(std::string_view room, const ChatMessage& m) {
    JsonWriter w;
    start(w, "edited").field("room", room).field("seq", m.seq).field("text", m.text);
    return w.key("edited_at").i64(m.edited_at).finish();
}

/// `{"type":"reaction","room":..,"seq":..,"emoji":..,"nick":..,"on":..,"count":..}`:
/// `count` is the emoji's total after the change.
inline std::string encode_reaction(std::string_view room, std::uint64_t seq, std::string_view emoji,
                                   std::string_view nick, bool on, std::uint64_t count) {
    JsonWriter w;
    start(w, "reaction").field("room", room).field("seq", seq).field("emoji", emoji);
    return w.field("nick", nick).field("on", on).field("count", count).finish();
}

/// `room` empty: the direct reply to the one who changed name.
inline std::string encode_nick_changed(const Ref& ref, std::string_view room, std::string_view old,
                                       std::string_view nick) {
    JsonWriter w;
    start(w, "nick_changed", &ref);
    if (!room.empty()) w.field("room", room);
    return w.field("old", old).field("nick", nick).finish();
}

inline std::string encode_dm(std::string_view from, std::string_view to, std::string_view text,
                             std::int64_t ts, std::string_view id, std::string_view client_id) {
    JsonWriter w;
    start(w, "dm");
    w.field("from", from).field("to", to).field("text", text).key("ts").i64(ts).field("id", id);
    if (!client_id.empty()) w.field("client_id", client_id);
    return w.finish();
}

inline std::string encode_shutdown(std::string_view reason) {
    JsonWriter w;
    return start(w, "shutdown").field("reason", reason).finish();
}

}  // namespace detail
PARLEY_NAMESPACE_END
