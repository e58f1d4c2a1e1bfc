// parley-load: a tiny, allocation-free scanner for the server frames the
// generator reads. It walks a JSON object's members without building a tree and
// without unescaping (the values it looks at, ids, codes and numbers, are plain
// ASCII), so a `message` frame costs one pass over its bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace parley_bench::json {

inline const char* ws(const char* p, const char* e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    return p;
}

/// `p` at the opening quote; returns the position after the closing quote, or null.
inline const char* skip_string(const char* p, const char* e) {
    ++p;
    for (;;) {
        const void* q = std::memchr(p, '"', static_cast<std::size_t>(e - p));
        if (!q) return nullptr;
        const char* quote = static_cast<const char*>(q);
        // The quote is escaped when an odd number of backslashes precede it.
        const char* b = quote;
        while (b > p && b[-1] == '\\') --b;
        if (((quote - b) & 1) == 0) return quote + 1;
        p = quote + 1;
    }
}

inline const char* skip_value(const char* p, const char* e);

inline const char* skip_container(const char* p, const char* e) {
    int depth = 0;
    while (p < e) {
        const char c = *p;
        if (c == '"') {
            p = skip_string(p, e);
            if (!p) return nullptr;
            continue;
        }
        if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') {
            if (--depth == 0) return p + 1;
        }
        ++p;
    }
    return nullptr;
}

inline const char* skip_value(const char* p, const char* e) {
    p = ws(p, e);
    if (p >= e) return nullptr;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') return skip_container(p, e);
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') ++p;
    return p;
}

/// Calls `f(key, value)` for each member of the object starting at `p` (at '{');
/// `value` spans the raw value text (strings keep their quotes). Returns false on
/// malformed input.
template <class F>
bool each_member(const char* p, const char* e, F&& f) {
    p = ws(p, e);
    if (p >= e || *p != '{') return false;
    ++p;
    for (;;) {
        p = ws(p, e);
        if (p >= e) return false;
        if (*p == '}') return true;
        if (*p != '"') return false;
        const char* kend = skip_string(p, e);
        if (!kend) return false;
        std::string_view key(p + 1, static_cast<std::size_t>(kend - p - 2));
        p = ws(kend, e);
        if (p >= e || *p != ':') return false;
        p = ws(p + 1, e);
        const char* vend = skip_value(p, e);
        if (!vend) return false;
        f(key, std::string_view(p, static_cast<std::size_t>(vend - p)));
        p = ws(vend, e);
        if (p < e && *p == ',') ++p;
    }
}

/// Calls `f(element)` for each element of the array starting at `p` (at '[').
template <class F>
bool each_element(const char* p, const char* e, F&& f) {
    p = ws(p, e);
    if (p >= e || *p != '[') return false;
    ++p;
    for (;;) {
        p = ws(p, e);
        if (p >= e) return false;
        if (*p == ']') return true;
        const char* vend = skip_value(p, e);
        if (!vend) return false;
        f(std::string_view(p, static_cast<std::size_t>(vend - p)));
        p = ws(vend, e);
        if (p < e && *p == ',') ++p;
    }
}

/// The contents of a string value (without quotes), or empty when not a string.
inline std::string_view str(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
    return {};
}

/// An unsigned integer value; `ok` false when it is not one.
inline std::uint64_t u64(std::string_view v, bool& ok) {
    ok = !v.empty();
    std::uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') {
            ok = false;
            return 0;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

}  // namespace parley_bench::json
