// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/names.hpp>
#include <parley/detail/request.hpp>
#include <parley/detail/utf8.hpp>
#include <parley/error_code.hpp>
#include <parley/limits.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace protocol {

// The validation column of the request table (request_table.hpp): what each
// request of docs/protocol.md carries, read and checked in one pass.
//
// `read` records the first problem on the request (Request::fail keeps the
// first), so the order of the reads is the order of the answers: a field that
// is missing or of the wrong type (bad_request) is reported before a rule on a
// value (nick_invalid, text_too_long, ...). Rules that need the session's state
// (too_many_rooms, not_in_room) belong to the handlers. The string views point
// into the request and live as long as its text.

/// The rule a nickname breaks, as told to the client.
inline std::string nick_rule(const Limits& limits) {
    return "a nickname has " + std::to_string(limits.min_nick_chars) + " to " +
           std::to_string(limits.max_nick_chars) + " characters and no spaces or control characters";
}

/// The rule a room name breaks, as told to the client.
inline std::string room_name_rule(const Limits& limits) {
    return "a room name has 1 to " + std::to_string(limits.max_room_name_chars) +
           " characters, no control characters and no leading or trailing space";
}

namespace checks {

inline void nick(detail::Request& rq, std::string_view nick, const Limits& limits) {
    if (!rq.problem() && !detail::is_valid_nick(nick, limits))
        rq.fail(ErrorCode::nick_invalid, nick_rule(limits));
}

/// Message text: something visible, within max_text_chars.
inline void text(detail::Request& rq, std::string_view text, const Limits& limits) {
    if (rq.problem()) return;
    bool blank = true;
    detail::CodePoints cps(text);
    for (std::uint32_t cp; blank && cps.next(cp);) blank = detail::is_space_or_invisible(cp);
    if (blank) return rq.fail(ErrorCode::text_empty, "text is empty");
    if (detail::count_code_points(text) > limits.max_text_chars)
        rq.fail(ErrorCode::text_too_long,
                "text is longer than " + std::to_string(limits.max_text_chars) + " characters");
}

/// A reaction's emoji: 1 to max_emoji_bytes bytes, something visible, no spaces
/// or control characters (joiners and variation selectors inside an emoji are fine).
inline void emoji(detail::Request& rq, std::string_view emoji, const Limits& limits) {
    if (rq.problem()) return;
    const std::string rule = "\"emoji\" must be 1 to " + std::to_string(limits.max_emoji_bytes) +
                             " bytes of visible characters, without spaces";
    if (emoji.empty() || emoji.size() > limits.max_emoji_bytes) return rq.fail(ErrorCode::bad_request, rule);
    bool visible = false;
    detail::CodePoints cps(emoji);
    for (std::uint32_t cp; cps.next(cp);) {
        const bool joiner = cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F);
        if (detail::is_control(cp) || (detail::is_space_or_invisible(cp) && !joiner))
            return rq.fail(ErrorCode::bad_request, rule);
        visible = visible || !joiner;
    }
    if (!visible) rq.fail(ErrorCode::bad_request, rule);
}

/// The optional `client_id` of send and dm; empty when absent.
inline std::string_view client_id(detail::Request& rq, const Limits& limits) {
    const auto id = rq.optional_string("client_id").value_or(std::string_view{});
    if (id.size() > limits.max_client_id_bytes)
        rq.fail(ErrorCode::bad_request, "\"client_id\" is longer than " +
                                            std::to_string(limits.max_client_id_bytes) + " bytes");
    return id;
}

/// The optional `limit` of a page (history, search), or `fallback`.
inline std::size_t page_limit(detail::Request& rq, std::optional<std::uint64_t> limit,
                              std::size_t fallback, const Limits& limits) {
    if (!limit) return fallback;
    if (*limit == 0 || *limit > limits.max_history_page)
        rq.fail(ErrorCode::bad_request,
                "\"limit\" must be 1 to " + std::to_string(limits.max_history_page));
    return static_cast<std::size_t>(*limit);
}

}  // namespace checks

/// ping, rooms, watch_lobby: nothing beyond the envelope (`type`, `ref`).
struct NoFields {
    static NoFields read(detail::Request&, const Limits&) { return {}; }
};

struct HelloFields {
    std::string_view nick;
    std::string_view token;  ///< empty when absent: a new identity
    static HelloFields read(detail::Request& rq, const Limits& limits) {
        HelloFields f;
        f.nick = rq.required_string("nick");
        f.token = rq.optional_string("token").value_or(std::string_view{});
        checks::nick(rq, f.nick, limits);
        return f;
    }
};

struct NickFields {
    std::string_view nick;
    static NickFields read(detail::Request& rq, const Limits& limits) {
        NickFields f;
        f.nick = rq.required_string("nick");
        checks::nick(rq, f.nick, limits);
        return f;
    }
};

struct CreateRoomFields {
    std::string_view name;
    static CreateRoomFields read(detail::Request& rq, const Limits& limits) {
        CreateRoomFields f;
        f.name = rq.required_string("name");
        if (!rq.problem() && !detail::is_valid_room_name(f.name, limits))
            rq.fail(ErrorCode::room_name_invalid, room_name_rule(limits));
        return f;
    }
};

struct JoinFields {
    std::string_view room;
    std::optional<std::uint64_t> since;
    std::optional<std::string_view> epoch;
    std::optional<std::uint64_t> history;
    static JoinFields read(detail::Request& rq, const Limits&) {
        JoinFields f;
        f.room = rq.required_string("room");
        f.since = rq.optional_count("since");
        f.epoch = rq.optional_string("epoch");
        f.history = rq.optional_count("history");
        return f;
    }
};

/// leave: the room, which must be joined (the handler's rule).
struct LeaveFields {
    std::string_view room;
    static LeaveFields read(detail::Request& rq, const Limits&) {
        return LeaveFields{rq.required_string("room")};
    }
};

struct SendFields {
    std::string_view room;
    std::string_view text;
    std::string_view client_id;  ///< empty when absent
    static SendFields read(detail::Request& rq, const Limits& limits) {
        SendFields f;
        f.room = rq.required_string("room");
        f.text = rq.required_string("text");
        f.client_id = checks::client_id(rq, limits);
        checks::text(rq, f.text, limits);
        return f;
    }
};

struct TypingFields {
    std::string_view room;
    bool active = false;
    static TypingFields read(detail::Request& rq, const Limits&) {
        TypingFields f;
        f.room = rq.required_string("room");
        f.active = rq.required_bool("active");
        return f;
    }
};

struct HistoryFields {
    std::string_view room;
    std::optional<std::uint64_t> before;
    std::size_t limit = 0;
    static HistoryFields read(detail::Request& rq, const Limits& limits) {
        HistoryFields f;
        f.room = rq.required_string("room");
        f.before = rq.optional_count("before");
        f.limit = checks::page_limit(rq, rq.optional_count("limit"), limits.join_history_default, limits);
        return f;
    }
};

struct DeleteFields {
    std::string_view room;
    std::uint64_t seq = 0;
    static DeleteFields read(detail::Request& rq, const Limits&) {
        DeleteFields f;
        f.room = rq.required_string("room");
        f.seq = rq.required_count("seq");
        return f;
    }
};

struct EditFields {
    std::string_view room;
    std::uint64_t seq = 0;
    std::string_view text;  ///< checked like a send's
    static EditFields read(detail::Request& rq, const Limits& limits) {
        EditFields f;
        f.room = rq.required_string("room");
        f.seq = rq.required_count("seq");
        f.text = rq.required_string("text");
        checks::text(rq, f.text, limits);
        return f;
    }
};

struct ReactFields {
    std::string_view room;
    std::uint64_t seq = 0;
    std::string_view emoji;
    bool on = true;
    static ReactFields read(detail::Request& rq, const Limits& limits) {
        ReactFields f;
        f.room = rq.required_string("room");
        f.seq = rq.required_count("seq");
        f.emoji = rq.required_string("emoji");
        f.on = rq.required_bool("on");
        checks::emoji(rq, f.emoji, limits);
        return f;
    }
};

struct SearchFields {
    std::string_view room;
    std::string_view q;
    std::size_t limit = 0;
    std::uint64_t offset = 0;
    static SearchFields read(detail::Request& rq, const Limits& limits) {
        SearchFields f;
        f.room = rq.required_string("room");
        f.q = rq.required_string("q");
        const auto limit = rq.optional_count("limit");
        f.offset = rq.optional_count("offset").value_or(0);
        f.limit = checks::page_limit(rq, limit, limits.search_page_default, limits);
        return f;
    }
};

struct DmFields {
    std::string_view to;
    std::string_view text;
    std::string_view client_id;  ///< empty when absent
    static DmFields read(detail::Request& rq, const Limits& limits) {
        DmFields f;
        f.to = rq.required_string("to");
        f.text = rq.required_string("text");
        f.client_id = checks::client_id(rq, limits);
        checks::text(rq, f.text, limits);
        return f;
    }
};

}  // namespace protocol
PARLEY_NAMESPACE_END
