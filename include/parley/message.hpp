// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json_text.hpp>
#include <parley/version.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

PARLEY_NAMESPACE_BEGIN

/// One chat message of a room, immutable once stored. Deleting a message
/// replaces it with a tombstone that keeps only `seq` and `ts`.
struct ChatMessage {
    std::uint64_t seq = 0;
    std::int64_t ts = 0;  ///< milliseconds since the Unix epoch
    std::string from;
    std::string text;
    std::string client_id;
    bool deleted = false;
    /// Who wrote it, for the delete check: the author's resume token, which
    /// survives a nick change and a reclaim while a freed nickname does not.
    /// Never sent (not part of `to_json`); empty when unknown (then `from` decides).
    std::string author;

    /// The wire form `{seq, ts, from, text, client_id?}` or `{seq, ts, deleted:true}`.
    /// Appended directly (not through JsonWriter): it is built once per message.
    std::string to_json() const {
        std::string out;
        // Exact unless a string needs escapes (then it grows once or twice).
        out.reserve(64 + from.size() + text.size() + client_id.size());
        out.append("{\"seq\":", 7);
        detail::append_json_integer(out, seq);
        out.append(",\"ts\":", 6);
        detail::append_json_integer(out, ts);
        if (deleted) {
            out.append(",\"deleted\":true}", 16);
            return out;
        }
        out.append(",\"from\":", 8);
        detail::append_json_string(out, from);
        out.append(",\"text\":", 8);
        detail::append_json_string(out, text);
        if (!client_id.empty()) {
            out.append(",\"client_id\":", 13);
            detail::append_json_string(out, client_id);
        }
        out.push_back('}');
        return out;
    }
};

using MessagePtr = std::shared_ptr<const ChatMessage>;

/// A message together with its encoded JSON, built once and reused by every
/// join replay and history page that includes it.
struct StoredMessage {
    ChatMessage message;
    std::string json;

    explicit StoredMessage(ChatMessage m) : message(std::move(m)), json(message.to_json()) {}
};

using StoredMessagePtr = std::shared_ptr<const StoredMessage>;

inline StoredMessagePtr make_stored(ChatMessage m) {
    return std::make_shared<const StoredMessage>(std::move(m));
}

inline StoredMessagePtr make_tombstone(const ChatMessage& original) {
    ChatMessage t;
    t.seq = original.seq;
    t.ts = original.ts;
    t.deleted = true;
    return make_stored(std::move(t));
}

/// A room as the lobby lists it.
struct RoomInfo {
    std::string id;
    std::string name;
    std::size_t members = 0;
};

/// A room as a Store keeps it.
struct RoomRecord {
    std::string id;
    std::string name;
    bool permanent = false;   ///< never removed for being empty
    std::string epoch;        ///< history lineage; see docs/protocol.md
    std::uint64_t last_seq = 0;
};

PARLEY_NAMESPACE_END
