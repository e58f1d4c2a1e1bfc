// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <array>
#include <cstddef>
#include <string_view>

PARLEY_NAMESPACE_BEGIN

/// Protocol error codes, sent as `{"type":"error","code":...}`. None closes the connection.
enum class ErrorCode : unsigned char {
    bad_json,
    bad_request,
    unknown_type,
    not_identified,
    already_identified,
    nick_invalid,
    nick_taken,
    room_name_invalid,
    room_exists,
    room_not_found,
    room_full,
    too_many_rooms,
    not_in_room,
    text_empty,
    text_too_long,
    rate_limited,
    not_found,
    forbidden,
    user_not_found,
    server_busy,
    not_supported,  ///< the server cannot do this (e.g. search without a searchable store)
    unavailable,    ///< a cluster backend (Redis) is unreachable; retry later
    edit_expired,   ///< the message is older than `Limits::edit_window`
    too_many_reactions,  ///< the message has `Limits::max_reactions_per_message` emojis already
    count_  // number of codes; not a code
};

inline constexpr std::size_t error_code_count = static_cast<std::size_t>(ErrorCode::count_);

/// The wire name of an error code.
constexpr std::string_view to_string(ErrorCode code) noexcept {
    constexpr std::array<std::string_view, error_code_count> names{
        "bad_json",     "bad_request",       "unknown_type",   "not_identified",
        "already_identified", "nick_invalid", "nick_taken",    "room_name_invalid",
        "room_exists",  "room_not_found",    "room_full",      "too_many_rooms",
        "not_in_room",  "text_empty",        "text_too_long",  "rate_limited",
        "not_found",    "forbidden",         "user_not_found", "server_busy",
        "not_supported", "unavailable",      "edit_expired", "too_many_reactions"};
    return names[static_cast<std::size_t>(code)];
}

PARLEY_NAMESPACE_END
