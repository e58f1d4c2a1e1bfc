// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Strict UTF-8 check (RFC 3629): no overlong forms, no surrogates, nothing above
/// U+10FFFF. Browsers and websocketpp apply the same rule, and a 1007 close must
/// agree with them.
inline bool is_valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            // Mostly ASCII: skip it eight bytes at a time.
            ++p;
            for (std::uint64_t word; end - p >= 8; p += 8) {
                std::memcpy(&word, p, 8);
                if (word & 0x8080808080808080ull) break;
            }
            continue;
        }
        std::size_t need;
        std::uint32_t cp;
        std::uint32_t min;
        if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) <= need) return false;
        for (std::size_t i = 1; i <= need; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += need + 1;
    }
    return true;
}

/// Number of code points in valid UTF-8.
inline std::size_t count_code_points(std::string_view s) noexcept {
    // Every byte but the continuation bytes (10xxxxxx) starts a code point.
    const char* p = s.data();
    const char* const end = p + s.size();
    std::size_t continuation = 0;
    // Eight bytes at a time: w & ~(w << 1) has a byte's top bit set when that
    // byte's bit 7 is set and its bit 6 is clear; shifted down to one bit per
    // byte, a multiplication sums the eight bytes into the top one.
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    for (std::uint64_t w; end - p >= 8; p += 8) {
        std::memcpy(&w, p, 8);
        const std::uint64_t flags = ((w & ~(w << 1)) >> 7) & ones;
        continuation += static_cast<std::size_t>((flags * ones) >> 56);
    }
    for (; p < end; ++p) continuation += (static_cast<unsigned char>(*p) & 0xC0) == 0x80;
    return s.size() - continuation;
}

/// Decodes valid UTF-8 one code point at a time.
class CodePoints {
public:
    explicit CodePoints(std::string_view s) noexcept : s_(s) {}
    bool next(std::uint32_t& cp) noexcept {
        if (i_ >= s_.size()) return false;
        const auto c = static_cast<unsigned char>(s_[i_]);
        std::size_t extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        cp = extra == 0 ? c : extra == 1 ? (c & 0x1Fu) : extra == 2 ? (c & 0x0Fu) : (c & 0x07u);
        for (std::size_t k = 1; k <= extra && i_ + k < s_.size(); ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(s_[i_ + k]) & 0x3Fu);
        i_ += extra + 1;
        return true;
    }

private:
    std::string_view s_;
    std::size_t i_ = 0;
};

/// Unicode White_Space plus the invisible format characters people use to fake
/// look-alike names (zero-width joiners, bidi overrides, BOM).
inline bool is_space_or_invisible(std::uint32_t cp) noexcept {
    switch (cp) {
        case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
        case 0x202F: case 0x205F: case 0x3000: case 0xFEFF: case 0x180E:
            return true;
        default:
            break;
    }
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x2000 && cp <= 0x200F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F);
}

/// C0 and C1 control characters.
inline bool is_control(std::uint32_t cp) noexcept {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/// Folds ASCII letters to lower case; other characters are compared as written.
inline std::string fold_ascii_case(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace detail
PARLEY_NAMESPACE_END
