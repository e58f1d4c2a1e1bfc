// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

PARLEY_NAMESPACE_BEGIN
namespace detail {

// Writing JSON pieces straight into a string of the right size, for the
// frames built per message, where RapidJSON's Writer (its buffers and
// per-character stream) was a tenth of the core's time. The output is byte for
// byte what JsonWriter writes: tests/protocol_fast_paths.cpp compares the two.

/// The first byte in [p, end) that a JSON string cannot hold as is (`"`, `\`
/// or a control character), or `end`. Eight bytes at a time: request strings
/// and chat text are crossed in a few steps.
inline const char* find_json_special(const char* p, const char* end) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (std::uint64_t w; end - p >= 8; p += 8) {
        std::memcpy(&w, p, 8);
        // (x - ones) & ~x & highs flags the zero bytes of x, and (w - 0x20 *
        // ones) & ~w & highs the bytes below 0x20; a flag may be false only
        // above a true one, so the lowest flag is always right.
        const std::uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
        const std::uint64_t hit =
            (((quote - ones) & ~quote) | ((slash - ones) & ~slash) | ((w - ones * 0x20) & ~w)) & highs;
        if (hit) {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + (__builtin_ctzll(hit) >> 3);
#else
            break;
#endif
        }
    }
    for (; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c == '"' || c == '\\') return p;
    }
    return end;
}

/// A string measured for writing as JSON: its size with quotes and escapes,
/// and whether it needs no escape at all (then it is copied as is, without a
/// second scan).
struct JsonStringPlan {
    std::size_t size = 2;
    bool plain = true;
};

inline JsonStringPlan plan_json_string(std::string_view value) noexcept {
    JsonStringPlan plan{2 + value.size(), true};
    const char* end = value.data() + value.size();
    for (const char* p = find_json_special(value.data(), end); p != end; p = find_json_special(p + 1, end)) {
        const auto c = static_cast<unsigned char>(*p);
        const bool short_escape = c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
        plan.size += short_escape ? 1 : 5;
        plan.plain = false;
    }
    return plan;
}

/// An integer's decimal text (with its sign), written once to be measured and
/// copied. Written from the end two digits at a time, which spares the length
/// pass std::to_chars makes first (a message has two: its seq and its ts).
class JsonInteger {
public:
    template <class Integer>
    explicit JsonInteger(Integer value) noexcept {
        static_assert(std::is_integral_v<Integer> && sizeof(Integer) <= 8, "an integer of up to 64 bits");
        using Unsigned = std::make_unsigned_t<Integer>;
        bool negative = false;
        auto magnitude = static_cast<std::uint64_t>(static_cast<Unsigned>(value));
        if constexpr (std::is_signed_v<Integer>) {
            negative = value < 0;
            // Two's complement negation in unsigned arithmetic: exact for the minimum too.
            if (negative) magnitude = std::uint64_t{0} - magnitude;
        }
        static constexpr char pairs[] =
            "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
            "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
            "8081828384858687888990919293949596979899";
        char* const end = digits_ + sizeof digits_;
        char* p = end;
        while (magnitude >= 100) {
            const auto pair = static_cast<std::size_t>(magnitude % 100) * 2;
            magnitude /= 100;
            p -= 2;
            std::memcpy(p, pairs + pair, 2);
        }
        if (magnitude >= 10) {
            p -= 2;
            std::memcpy(p, pairs + static_cast<std::size_t>(magnitude) * 2, 2);
        } else {
            *--p = static_cast<char>('0' + magnitude);
        }
        if (negative) *--p = '-';
        start_ = p;
        size_ = static_cast<std::size_t>(end - p);
    }
    std::string_view text() const noexcept { return {start_, size_}; }
    std::size_t size() const noexcept { return size_; }

    JsonInteger(const JsonInteger&) = delete;  // text() points into the object
    JsonInteger& operator=(const JsonInteger&) = delete;

private:
    char digits_[24];
    const char* start_;
    std::size_t size_;
};

/// Writes JSON pieces into memory the caller has sized (with the *_size
/// functions above), so a frame is built in its final string in one pass.
class JsonSink {
public:
    explicit JsonSink(char* at) noexcept : p_(at) {}

    JsonSink& raw(std::string_view text) noexcept {
        std::memcpy(p_, text.data(), text.size());
        p_ += text.size();
        return *this;
    }
    /// `value` as a JSON string, as measured by `plan` (see plan_json_string).
    JsonSink& string(std::string_view value, const JsonStringPlan& plan) noexcept {
        if (!plan.plain) return string(value);
        *p_++ = '"';
        std::memcpy(p_, value.data(), value.size());
        p_ += value.size();
        *p_++ = '"';
        return *this;
    }
    /// `value` as a JSON string, escaped as RapidJSON escapes it: `"` and `\`,
    /// \b \t \n \f \r, other control characters as \u00XX (upper-case hex);
    /// every other byte (UTF-8 included) as is.
    JsonSink& string(std::string_view value) noexcept {
        *p_++ = '"';
        const char* p = value.data();
        const char* end = p + value.size();
        while (p < end) {
            const char* run = p;
            p = find_json_special(p, end);
            std::memcpy(p_, run, static_cast<std::size_t>(p - run));
            p_ += p - run;
            if (p == end) break;
            const auto c = static_cast<unsigned char>(*p++);
            *p_++ = '\\';
            switch (c) {
                case '"': *p_++ = '"'; break;
                case '\\': *p_++ = '\\'; break;
                case '\b': *p_++ = 'b'; break;
                case '\t': *p_++ = 't'; break;
                case '\n': *p_++ = 'n'; break;
                case '\f': *p_++ = 'f'; break;
                case '\r': *p_++ = 'r'; break;
                default:
                    *p_++ = 'u';
                    *p_++ = '0';
                    *p_++ = '0';
                    *p_++ = "0123456789ABCDEF"[c >> 4];
                    *p_++ = "0123456789ABCDEF"[c & 0xF];
            }
        }
        *p_++ = '"';
        return *this;
    }
    char* position() const noexcept { return p_; }

private:
    char* p_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
