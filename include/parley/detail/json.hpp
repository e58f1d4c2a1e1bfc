// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

// RapidJSON 1.1 trips newer compilers' warnings inside its own headers; they are
// not ours to fix, and the core builds with -Werror.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-copy"
#pragma clang diagnostic ignored "-Wambiguous-reversed-operator"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclass-memaccess"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Deepest array/object nesting in `text`, scanning outside strings only. Run
/// before parsing so a hostile frame of brackets costs a linear scan, not a
/// deep recursion.
inline std::size_t json_nesting_depth(std::string_view text) noexcept {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') deepest = ++depth > deepest ? depth : deepest;
        else if ((c == '}' || c == ']') && depth > 0) --depth;
    }
    return deepest;
}

/// The member `key` of an object, or null. Index-based because RapidJSON's
/// iterator comparisons are ambiguous under C++20's reversed operators.
inline const rapidjson::Value* find_member(const rapidjson::Value& object, std::string_view key) {
    for (rapidjson::SizeType i = 0; i < object.MemberCount(); ++i) {
        const auto& member = object.MemberBegin()[i];
        if (std::string_view(member.name.GetString(), member.name.GetStringLength()) == key)
            return &member.value;
    }
    return nullptr;
}

/// Strict parse: standard JSON only (no comments, NaN or trailing commas), the
/// whole text must be one value, strings must be valid UTF-8.
template <class Document>
bool parse_json(std::string_view text, Document& doc, std::string& error) {
    constexpr unsigned flags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
    doc.template Parse<flags>(text.data(), text.size());
    if (!doc.HasParseError()) return true;
    error = std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
            std::to_string(doc.GetErrorOffset());
    return false;
}

/// Parses `text` in place (RapidJSON's in-situ mode: strings are unescaped into
/// the buffer and the values point into it, nothing is copied), for a frame
/// that `is_valid_utf8` and `json_nesting_depth` have already checked: no
/// encoding validation and the recursive parser. `text` must outlive `doc`.
/// Same acceptance as parse_json: a raw NUL (which ends an in-situ parse
/// early) sends the text to parse_json instead.
template <class Document>
bool parse_json_in_place(std::string& text, Document& doc, std::string& error) {
    if (text.find('\0') != std::string::npos) return parse_json(text, doc, error);
    doc.template ParseInsitu<rapidjson::kParseNoFlags>(text.data());
    if (!doc.HasParseError()) return true;
    error = std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
            std::to_string(doc.GetErrorOffset());
    return false;
}

/// Builds one JSON object frame. Thin wrapper so encoders read top-down.
class JsonWriter {
public:
    JsonWriter() : writer_(buffer_, &levels_, max_levels) { writer_.StartObject(); }
    JsonWriter(const JsonWriter&) = delete;
    JsonWriter& operator=(const JsonWriter&) = delete;

    JsonWriter& key(std::string_view k) {
        writer_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        return *this;
    }
    JsonWriter& str(std::string_view v) {
        writer_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        return *this;
    }
    JsonWriter& u64(std::uint64_t v) {
        writer_.Uint64(v);
        return *this;
    }
    JsonWriter& i64(std::int64_t v) {
        writer_.Int64(v);
        return *this;
    }
    JsonWriter& boolean(bool v) {
        writer_.Bool(v);
        return *this;
    }
    JsonWriter& field(std::string_view k, std::string_view v) { return key(k).str(v); }
    JsonWriter& field(std::string_view k, const char* v) { return key(k).str(v); }
    JsonWriter& field(std::string_view k, std::uint64_t v) { return key(k).u64(v); }
    JsonWriter& field(std::string_view k, bool v) { return key(k).boolean(v); }
    JsonWriter& begin_object() {
        writer_.StartObject();
        return *this;
    }
    JsonWriter& end_object() {
        writer_.EndObject();
        return *this;
    }
    JsonWriter& begin_array() {
        writer_.StartArray();
        return *this;
    }
    JsonWriter& end_array() {
        writer_.EndArray();
        return *this;
    }
    /// Copies an already-encoded JSON value (for example a cached message object).
    JsonWriter& raw(std::string_view json) {
        writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
        return *this;
    }

    /// Closes the outer object and returns the text.
    std::string finish() {
        writer_.EndObject();
        return std::string(buffer_.GetString(), buffer_.GetSize());
    }

private:
    // Frames are a few hundred bytes and a few levels deep, so the text and the
    // writer's nesting stack start in buffers here and the only allocation is
    // the returned string (RapidJSON's defaults allocate an allocator object
    // and a buffer for each, per writer). Bigger frames spill into the pools'
    // heap chunks.
    using Pool = rapidjson::MemoryPoolAllocator<>;
    static constexpr std::size_t text_bytes = 1024;
    static constexpr std::size_t max_levels = 8;  // deeper nesting grows the stack
    static constexpr std::size_t level_bytes = 256;
    static constexpr std::size_t spill_chunk_bytes = 4096;
    alignas(8) char text_buffer_[text_bytes];
    alignas(8) char level_buffer_[level_bytes];
    Pool text_pool_{text_buffer_, sizeof text_buffer_, spill_chunk_bytes};
    Pool levels_{level_buffer_, sizeof level_buffer_, spill_chunk_bytes};
    rapidjson::GenericStringBuffer<rapidjson::UTF8<>, Pool> buffer_{&text_pool_, text_bytes / 2};
    rapidjson::Writer<rapidjson::GenericStringBuffer<rapidjson::UTF8<>, Pool>, rapidjson::UTF8<>,
                      rapidjson::UTF8<>, Pool>
        writer_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
