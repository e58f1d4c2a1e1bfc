// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json.hpp>
#include <parley/message.hpp>
#include <parley/version.hpp>

#include <optional>
#include <string>
#include <string_view>

PARLEY_NAMESPACE_BEGIN

/// A MessagePatch as one line of JSON (strings escape their newlines): how a
/// change to a message travels between nodes (the room channel) and how an edit
/// is kept in Redis (the room's edits hash), so both read the same form.
inline std::string encode_message_patch(const MessagePatch& patch) {
    detail::JsonWriter w;
    w.field("seq", patch.seq);
    if (patch.kind == MessagePatch::Kind::deleted) return w.field("deleted", true).finish();
    if (patch.kind == MessagePatch::Kind::reacted)
        return w.field("emoji", patch.emoji).field("author", patch.author).field("on", patch.on).finish();
    w.field("text", patch.text).key("edited_at").i64(patch.edited_at);
    return w.finish();
}

inline std::optional<MessagePatch> decode_message_patch(std::string_view line) {
    rapidjson::Document doc;
    std::string error;
    if (!detail::parse_json(line, doc, error) || !doc.IsObject()) return std::nullopt;
    const auto* seq = detail::find_member(doc, "seq");
    if (!seq || !seq->IsUint64()) return std::nullopt;
    MessagePatch patch;
    patch.seq = seq->GetUint64();
    const auto* deleted = detail::find_member(doc, "deleted");
    if (deleted && deleted->IsBool() && deleted->GetBool()) return patch;
    const auto* emoji = detail::find_member(doc, "emoji");
    if (emoji) {
        const auto* author = detail::find_member(doc, "author");
        const auto* on = detail::find_member(doc, "on");
        if (!emoji->IsString() || !author || !author->IsString() || !on || !on->IsBool()) return std::nullopt;
        patch.kind = MessagePatch::Kind::reacted;
        patch.emoji.assign(emoji->GetString(), emoji->GetStringLength());
        patch.author.assign(author->GetString(), author->GetStringLength());
        patch.on = on->GetBool();
        return patch;
    }
    const auto* text = detail::find_member(doc, "text");
    const auto* at = detail::find_member(doc, "edited_at");
    if (!text || !text->IsString() || !at || !at->IsInt64()) return std::nullopt;
    patch.kind = MessagePatch::Kind::edited;
    patch.text.assign(text->GetString(), text->GetStringLength());
    patch.edited_at = at->GetInt64();
    return patch;
}

PARLEY_NAMESPACE_END
