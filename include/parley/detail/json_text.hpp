// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace detail {

// Appending JSON pieces straight to a std::string, for the frames sent per
// message, where RapidJSON's Writer (its buffers and per-character stream) was
// a tenth of the core's time. The output is byte for byte what JsonWriter
// writes: tests/protocol_fast_paths.cpp compares the two.

/// Appends `value` as a JSON string, escaped as RapidJSON escapes it: `"` and
/// `\`, \b \t \n \f \r, other control characters as \u00XX (upper-case hex);
/// every other byte (UTF-8 included) as is.
inline void append_json_string(std::string& out, std::string_view value) {
    out.push_back('"');
    const char* p = value.data();
    const char* end = p + value.size();
    while (p < end) {
        // Runs of plain bytes are copied at once.
        const char* run = p;
        while (p < end) {
            const auto c = static_cast<unsigned char>(*p);
            if (c < 0x20 || c == '"' || c == '\\') break;
            ++p;
        }
        out.append(run, static_cast<std::size_t>(p - run));
        if (p == end) break;
        const auto c = static_cast<unsigned char>(*p++);
        char escaped[6] = {'\\', 0, '0', '0', 0, 0};
        std::size_t n = 2;
        switch (c) {
            case '"': escaped[1] = '"'; break;
            case '\\': escaped[1] = '\\'; break;
            case '\b': escaped[1] = 'b'; break;
            case '\t': escaped[1] = 't'; break;
            case '\n': escaped[1] = 'n'; break;
            case '\f': escaped[1] = 'f'; break;
            case '\r': escaped[1] = 'r'; break;
            default:
                escaped[1] = 'u';
                escaped[4] = "0123456789ABCDEF"[c >> 4];
                escaped[5] = "0123456789ABCDEF"[c & 0xF];
                n = 6;
        }
        out.append(escaped, n);
    }
    out.push_back('"');
}

/// Appends an integer in decimal.
template <class Integer>
void append_json_integer(std::string& out, Integer value) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, static_cast<std::size_t>(result.ptr - digits));
}

/// Appends `"key":` (a key that needs no escaping: a literal of ours).
inline void append_json_key(std::string& out, std::string_view key) {
    out.push_back('"');
    out.append(key);
    out.append("\":", 2);
}

}  // namespace detail
PARLEY_NAMESPACE_END
