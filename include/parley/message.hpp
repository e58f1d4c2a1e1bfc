// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json_text.hpp>
#include <parley/version.hpp>

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// One emoji on a message and who put it there (author identities, oldest first).
struct Reaction {
    std::string emoji;
    std::vector<std::string> authors;
};

/// One chat message of a room, immutable once stored. Deleting a message
/// replaces it with a tombstone that keeps only `seq` and `ts`.
struct ChatMessage {
    std::uint64_t seq = 0;
    std::int64_t ts = 0;  ///< milliseconds since the Unix epoch
    std::string from;
    std::string text;
    std::string client_id;
    /// When the author last edited the text (ms since the Unix epoch); 0: never.
    std::int64_t edited_at = 0;
    bool deleted = false;
    /// Who wrote it, for the delete check: a digest of the author's resume
    /// token (detail::author_identity), which survives a nick change and a
    /// reclaim while a freed nickname does not, and reveals no token when
    /// stored. Never sent (not part of `to_json`); empty when unknown, and then
    /// nobody may delete the message.
    std::string author;
    /// Emojis in order of first use; never on a tombstone.
    std::vector<Reaction> reactions;

    /// The wire form `{seq, ts, from, text, client_id?, edited_at?, reactions?}` or
    /// `{seq, ts, deleted:true}`. `viewer` (an author identity) marks its own
    /// reactions `mine`. Written directly into a string of its exact size (not
    /// through JsonWriter): it is built once per message.
    std::string to_json(std::string_view viewer = {}) const {
        using namespace std::string_view_literals;
        // Every string and integer is measured once; plain strings (nearly all)
        // are then copied without a second scan.
        const detail::JsonInteger seq_text(seq), ts_text(ts), edited_text(edited_at);
        detail::JsonStringPlan from_plan, text_plan, client_id_plan;
        // The literals below, in order: 7 + 6, then 16 or 8 + 8 (+ 13) + 1.
        std::size_t size = 13 + seq_text.size() + ts_text.size();
        if (deleted) {
            size += 16;
        } else {
            from_plan = detail::plan_json_string(from);
            text_plan = detail::plan_json_string(text);
            size += 17 + from_plan.size + text_plan.size;
            if (!client_id.empty()) {
                client_id_plan = detail::plan_json_string(client_id);
                size += 13 + client_id_plan.size;
            }
            if (edited_at != 0) size += 13 + edited_text.size();
        }
        std::string out(size, '\0');
        detail::JsonSink w(out.data());
        w.raw(R"({"seq":)"sv).raw(seq_text.text()).raw(R"(,"ts":)"sv).raw(ts_text.text());
        if (deleted) {
            w.raw(R"(,"deleted":true})"sv);
            assert(w.position() == out.data() + out.size());
            return out;
        }
        w.raw(R"(,"from":)"sv).string(from, from_plan).raw(R"(,"text":)"sv).string(text, text_plan);
        if (!client_id.empty()) w.raw(R"(,"client_id":)"sv).string(client_id, client_id_plan);
        if (edited_at != 0) w.raw(R"(,"edited_at":)"sv).raw(edited_text.text());
        w.raw("}"sv);
        assert(w.position() == out.data() + out.size());
        if (!reactions.empty()) {
            out.pop_back();
            append_reactions(out, viewer);
            out.push_back('}');
        }
        return out;
    }

    /// The reaction of `emoji`, or null.
    const Reaction* reaction(std::string_view emoji) const {
        for (const auto& r : reactions)
            if (r.emoji == emoji) return &r;
        return nullptr;
    }

private:
    // `,"reactions":[{"emoji":..,"count":..,"mine":true?},..]`: rare, so built simply.
    void append_reactions(std::string& out, std::string_view viewer) const {
        out += R"(,"reactions":[)";
        for (std::size_t i = 0; i < reactions.size(); ++i) {
            const auto& r = reactions[i];
            if (i) out.push_back(',');
            out += R"({"emoji":)";
            const auto plan = detail::plan_json_string(r.emoji);
            const auto at = out.size();
            out.resize(at + plan.size);
            detail::JsonSink(out.data() + at).string(r.emoji, plan);
            out += R"(,"count":)";
            out += std::to_string(r.authors.size());
            if (!viewer.empty() && std::find(r.authors.begin(), r.authors.end(), viewer) != r.authors.end())
                out += R"(,"mine":true)";
            out.push_back('}');
        }
        out.push_back(']');
    }
};

using MessagePtr = std::shared_ptr<const ChatMessage>;

/// A message together with its encoded JSON, built once and reused by every
/// join replay and history page that includes it.
struct StoredMessage {
    ChatMessage message;
    std::string json;

    // Two overloads rather than one by value: a by-value parameter costs a
    // second move of every string on the per-message path.
    explicit StoredMessage(ChatMessage&& m) : message(std::move(m)), json(message.to_json()) {}
    explicit StoredMessage(const ChatMessage& m) : message(m), json(message.to_json()) {}
};

using StoredMessagePtr = std::shared_ptr<const StoredMessage>;

inline StoredMessagePtr make_stored(ChatMessage&& m) {
    return std::make_shared<const StoredMessage>(std::move(m));
}
inline StoredMessagePtr make_stored(const ChatMessage& m) {
    return std::make_shared<const StoredMessage>(m);
}

/// `original` with its text replaced by the author at `edited_at`.
inline StoredMessagePtr make_edited(const ChatMessage& original, std::string text, std::int64_t edited_at) {
    ChatMessage m = original;
    m.text = std::move(text);
    m.edited_at = edited_at;
    return make_stored(std::move(m));
}

inline StoredMessagePtr make_tombstone(const ChatMessage& original) {
    ChatMessage t;
    t.seq = original.seq;
    t.ts = original.ts;
    t.deleted = true;
    return make_stored(std::move(t));
}

/// A change to one stored message, by `seq`: what a Hub applies to its window,
/// hands to `Store::update` (with the changed message) and shares with the
/// other nodes of a cluster (`BusEvent::patch`).
struct MessagePatch {
    enum class Kind : unsigned char { deleted, edited, reacted };
    Kind kind = Kind::deleted;
    std::uint64_t seq = 0;
    std::string text;            ///< edited: the new text
    std::int64_t edited_at = 0;  ///< edited: when (ms since the Unix epoch)
    std::string emoji;           ///< reacted: which
    std::string author;          ///< reacted: whose reaction (an author identity)
    bool on = true;              ///< reacted: added (true) or taken back

    /// `original` changed by this patch (a deleted message stays deleted; a
    /// reaction added twice or removed when absent changes nothing).
    StoredMessagePtr applied_to(const ChatMessage& original) const {
        if (original.deleted || kind == Kind::deleted) return make_tombstone(original);
        if (kind == Kind::edited) return make_edited(original, text, edited_at);
        ChatMessage m = original;
        apply_reaction(m);
        return make_stored(std::move(m));
    }

    /// Whether applying this reaction to `m` would change it.
    bool changes_reactions_of(const ChatMessage& m) const {
        const auto* r = m.reaction(emoji);
        const bool has = r && std::find(r->authors.begin(), r->authors.end(), author) != r->authors.end();
        return has != on;
    }

    void apply_reaction(ChatMessage& m) const {
        auto it = std::find_if(m.reactions.begin(), m.reactions.end(),
                               [this](const Reaction& r) { return r.emoji == emoji; });
        if (on) {
            if (it == m.reactions.end()) it = m.reactions.insert(m.reactions.end(), Reaction{emoji, {}});
            if (std::find(it->authors.begin(), it->authors.end(), author) == it->authors.end())
                it->authors.push_back(author);
            return;
        }
        if (it == m.reactions.end()) return;
        it->authors.erase(std::remove(it->authors.begin(), it->authors.end(), author), it->authors.end());
        if (it->authors.empty()) m.reactions.erase(it);
    }
};

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
