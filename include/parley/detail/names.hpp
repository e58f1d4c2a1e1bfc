// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/utf8.hpp>
#include <parley/limits.hpp>
#include <parley/version.hpp>

#include <cstdint>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// A nickname: 1..max code points, no whitespace, invisible or control
/// characters. Letters of any script (Hangul included) are welcome.
inline bool is_valid_nick(std::string_view nick, const Limits& limits) noexcept {
    if (!is_valid_utf8(nick)) return false;
    const auto n = count_code_points(nick);
    if (n < limits.min_nick_chars || n > limits.max_nick_chars) return false;
    CodePoints cps(nick);
    for (std::uint32_t cp; cps.next(cp);)
        if (is_control(cp) || is_space_or_invisible(cp)) return false;
    return true;
}

/// A room name: 1..max code points, no control or invisible characters, and no
/// leading or trailing space (inner single spaces are fine: "Game night").
inline bool is_valid_room_name(std::string_view name, const Limits& limits) noexcept {
    if (name.empty() || !is_valid_utf8(name)) return false;
    if (count_code_points(name) > limits.max_room_name_chars) return false;
    if (name.front() == ' ' || name.back() == ' ') return false;
    CodePoints cps(name);
    for (std::uint32_t cp; cps.next(cp);) {
        if (cp == ' ') continue;
        if (is_control(cp) || is_space_or_invisible(cp)) return false;
    }
    return true;
}

}  // namespace detail
PARLEY_NAMESPACE_END
