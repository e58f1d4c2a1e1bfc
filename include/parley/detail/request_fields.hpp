// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json.hpp>
#include <parley/detail/json_text.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// One top-level field's value, as a request's accessors see it: the same
/// distinctions RapidJSON makes (IsNull, IsBool, IsString, IsUint64, IsInt64),
/// whichever reader found it.
struct FieldValue {
    enum class Kind : unsigned char { null, boolean, string, unsigned_integer, negative_integer, other };
    Kind kind = Kind::other;
    bool boolean = false;
    std::string_view string;
    std::uint64_t unsigned_value = 0;
    std::int64_t negative_value = 0;

    bool is_null() const noexcept { return kind == Kind::null; }
    bool is_bool() const noexcept { return kind == Kind::boolean; }
    bool is_string() const noexcept { return kind == Kind::string; }
    bool is_uint64() const noexcept { return kind == Kind::unsigned_integer; }
    bool is_int64() const noexcept {
        return kind == Kind::negative_integer ||
               (kind == Kind::unsigned_integer && unsigned_value <= static_cast<std::uint64_t>(INT64_MAX));
    }
    std::int64_t int64() const noexcept {
        return kind == Kind::negative_integer ? negative_value : static_cast<std::int64_t>(unsigned_value);
    }

    static FieldValue of(const rapidjson::Value& v) {
        FieldValue out;
        if (v.IsNull()) {
            out.kind = Kind::null;
        } else if (v.IsBool()) {
            out.kind = Kind::boolean;
            out.boolean = v.GetBool();
        } else if (v.IsString()) {
            out.kind = Kind::string;
            out.string = std::string_view(v.GetString(), v.GetStringLength());
        } else if (v.IsUint64()) {
            out.kind = Kind::unsigned_integer;
            out.unsigned_value = v.GetUint64();
        } else if (v.IsInt64()) {  // not a uint64, so below zero
            out.kind = Kind::negative_integer;
            out.negative_value = v.GetInt64();
        }
        return out;
    }
};

/// Whether n bytes at a and b are equal. Request keys are short: up to 16
/// bytes are compared as two overlapping words each way, without a call.
inline bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
    if (n >= 4 && n <= 16) {
        if (n >= 8) {
            std::uint64_t a0, a1, b0, b1;
            std::memcpy(&a0, a, 8), std::memcpy(&b0, b, 8);
            std::memcpy(&a1, a + n - 8, 8), std::memcpy(&b1, b + n - 8, 8);
            return ((a0 ^ b0) | (a1 ^ b1)) == 0;
        }
        std::uint32_t a0, a1, b0, b1;
        std::memcpy(&a0, a, 4), std::memcpy(&b0, b, 4);
        std::memcpy(&a1, a + n - 4, 4), std::memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return std::memcmp(a, b, n) == 0;
}

/// The fields of a flat request object, as offsets into its text (so the
/// request that owns the text can move).
struct FlatFields {
    struct Field {
        std::uint32_t key_at = 0, key_size = 0;
        std::uint32_t value_at = 0, value_size = 0;  // a string's characters
        FieldValue::Kind kind = FieldValue::Kind::other;
        bool boolean = false;
        std::uint64_t number = 0;
    };
    static constexpr std::size_t capacity = 8;
    Field fields[capacity];
    std::size_t count = 0;

    /// The value of `key` in `text` (the text that was scanned), or false.
    bool find(std::string_view text, std::string_view key, FieldValue& out) const noexcept {
        for (std::size_t i = 0; i < count; ++i) {
            const Field& f = fields[i];
            if (f.key_size != key.size() || !same_bytes(text.data() + f.key_at, key.data(), key.size()))
                continue;
            out = FieldValue{};
            out.kind = f.kind;
            out.boolean = f.boolean;
            out.unsigned_value = f.number;
            if (f.kind == FieldValue::Kind::string) out.string = text.substr(f.value_at, f.value_size);
            return true;
        }
        return false;
    }
};

inline bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/// Reads `text` as one flat JSON object without building a document, for the
/// common request (`{"type":"send","room":..,"text":..}`). Succeeds only when
/// the reading is unambiguous: up to `FlatFields::capacity` distinct keys; values
/// that are strings without escapes or control characters, integers of 0 to 18
/// digits without sign, fraction or exponent, true, false or null; JSON
/// whitespace between tokens; nothing after the object. Anything else (escapes,
/// nesting, duplicates, other numbers, any syntax error, a text that is not an
/// object) returns false, and the caller parses with RapidJSON, whose verdicts
/// and error messages thus stay the only ones.
inline bool scan_flat_object(std::string_view text, FlatFields& out) noexcept {
    if (text.size() > UINT32_MAX) return false;
    const char* const begin = text.data();
    const char* const end = begin + text.size();
    const char* p = begin;
    out.count = 0;
    auto skip_space = [&] {
        while (p < end && is_json_space(*p)) ++p;
    };
    // At an opening quote: the characters up to the closing one.
    auto plain_string = [&](std::uint32_t& at, std::uint32_t& size) {
        const char* start = ++p;
        p = find_json_special(p, end);
        if (p == end || *p != '"') return false;
        at = static_cast<std::uint32_t>(start - begin);
        size = static_cast<std::uint32_t>(p - start);
        ++p;
        return true;
    };
    auto literal = [&](const char* word, std::size_t n) {
        if (static_cast<std::size_t>(end - p) < n || std::memcmp(p, word, n) != 0) return false;
        p += n;
        return true;
    };

    skip_space();
    if (p == end || *p != '{') return false;
    ++p;
    skip_space();
    if (p < end && *p == '}') {
        ++p;
    } else {
        for (;;) {
            if (out.count == FlatFields::capacity || p == end || *p != '"') return false;
            auto& f = out.fields[out.count];
            f = FlatFields::Field{};
            if (!plain_string(f.key_at, f.key_size)) return false;
            skip_space();
            if (p == end || *p != ':') return false;
            ++p;
            skip_space();
            if (p == end) return false;
            const char c = *p;
            if (c == '"') {
                f.kind = FieldValue::Kind::string;
                if (!plain_string(f.value_at, f.value_size)) return false;
            } else if (c >= '0' && c <= '9') {
                const char* digits = p;
                std::uint64_t n = 0;
                while (p < end && *p >= '0' && *p <= '9') n = n * 10 + static_cast<std::uint64_t>(*p++ - '0');
                const auto length = p - digits;
                if (length > 18 || (length > 1 && *digits == '0')) return false;
                if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return false;
                f.kind = FieldValue::Kind::unsigned_integer;
                f.number = n;
            } else if (literal("true", 4)) {
                f.kind = FieldValue::Kind::boolean;
                f.boolean = true;
            } else if (literal("false", 5)) {
                f.kind = FieldValue::Kind::boolean;
            } else if (literal("null", 4)) {
                f.kind = FieldValue::Kind::null;
            } else {
                return false;
            }
            for (std::size_t i = 0; i < out.count; ++i)
                if (out.fields[i].key_size == f.key_size &&
                    same_bytes(begin + out.fields[i].key_at, begin + f.key_at, f.key_size))
                    return false;
            ++out.count;
            skip_space();
            if (p == end) return false;
            if (*p == '}') {
                ++p;
                break;
            }
            if (*p != ',') return false;
            ++p;
            skip_space();
        }
    }
    skip_space();
    return p == end;
}

}  // namespace detail
PARLEY_NAMESPACE_END
