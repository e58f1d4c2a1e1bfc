// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/utf8.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace detail {

// Search text is words a person typed, never a query language: every store
// splits it the same way here and builds its own syntax from the words, so no
// input can be a syntax error (or an injection) in the backend.

/// The words of `text` (valid UTF-8): split at whitespace, invisible and control
/// characters, empty pieces dropped, at most `max_terms` of them. A word may end
/// in `*` ("hel*"), which stores read as a prefix.
inline std::vector<std::string> search_terms(std::string_view text, std::size_t max_terms) {
    std::vector<std::string> terms;
    std::size_t begin = 0;
    auto word_ends = [&](std::size_t end) {
        if (end > begin && terms.size() < max_terms) terms.emplace_back(text.substr(begin, end - begin));
    };
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        std::uint32_t cp = 0;
        CodePoints(text.substr(i, length)).next(cp);
        const std::size_t next = i + length < text.size() ? i + length : text.size();
        if (is_space_or_invisible(cp) || is_control(cp)) {
            word_ends(i);
            begin = next;
        }
        i = next;
    }
    word_ends(text.size());
    return terms;
}

/// A word without its trailing `*`s, and whether it had any (a prefix search).
inline std::string_view search_stem(std::string_view term, bool& prefix) {
    std::size_t end = term.size();
    while (end > 0 && term[end - 1] == '*') --end;
    prefix = end < term.size();
    return term.substr(0, end);
}

/// Whether every term occurs in `text`, ASCII letters compared case-blind:
/// the plain matching of stores without a text index (MemoryStore).
inline bool contains_all_terms(std::string_view text, const std::vector<std::string>& terms) {
    const std::string folded = fold_ascii_case(text);
    for (const auto& term : terms) {
        bool prefix = false;
        const auto stem = search_stem(term, prefix);
        if (stem.empty()) continue;
        if (folded.find(fold_ascii_case(stem)) == std::string::npos) return false;
    }
    return true;
}

}  // namespace detail
PARLEY_NAMESPACE_END
