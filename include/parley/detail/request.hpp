// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json.hpp>
#include <parley/detail/request_fields.hpp>
#include <parley/error_code.hpp>
#include <parley/limits.hpp>
#include <parley/version.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// A request's `ref`, echoed on the direct reply or error.
struct Ref {
    enum class Kind : unsigned char { none, text, integer } kind = Kind::none;
    std::string text;
    std::int64_t integer = 0;

    void write(JsonWriter& w) const {
        if (kind == Kind::text) w.field("ref", text);
        else if (kind == Kind::integer) w.key("ref").i64(integer);
    }
};

/// Why a frame could not become a request.
struct RequestProblem {
    ErrorCode code;
    std::string message;
};

/// A parsed request object with typed, validating field access. The first
/// problem found is kept; later accessors then return empty values.
///
/// Two readers: a flat object of plain fields (nearly every request) is read
/// in one scan without a document (`scan_flat_object`); anything else is
/// parsed by RapidJSON, which thus decides every error. Both give the
/// accessors the same view of a field (`FieldValue`).
class Request {
public:
    Request() = default;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    /// Movable: a flat request keeps offsets into its text, a parsed one its
    /// document (and the text it points into) on the heap.
    Request(Request&&) = default;
    Request& operator=(Request&&) = default;

    /// Parses and checks the envelope: JSON object, unique keys, `ref`, `type`.
    /// `text` must be valid UTF-8 (Client checks every frame first); the request
    /// keeps it (and parses in place when RapidJSON reads it).
    static std::optional<RequestProblem> parse(std::string text, const Limits& limits,
                                               Request& out) {
        out.text_ = std::move(text);
        // A flat object is one level deep: within any depth limit but zero.
        if (limits.max_json_depth >= 1 && scan_flat_object(out.text_, out.flat_)) {
            out.flat_ok_ = true;
            return out.check_envelope(limits);
        }
        if (json_nesting_depth(out.text_) > limits.max_json_depth)
            return RequestProblem{ErrorCode::bad_json, "JSON nested deeper than " +
                                                           std::to_string(limits.max_json_depth)};
        out.dom_ = std::make_unique<Dom>();
        auto& dom = *out.dom_;
        dom.text = std::move(out.text_);
        std::string error;
        if (!parse_json_in_place(dom.text, dom.doc, error))
            return RequestProblem{ErrorCode::bad_json, error};
        if (!dom.doc.IsObject())
            return RequestProblem{ErrorCode::bad_request, "a request must be a JSON object"};
        const auto count = dom.doc.MemberCount();
        for (rapidjson::SizeType a = 0; a < count; ++a)
            for (rapidjson::SizeType b = a + 1; b < count; ++b)
                if (dom.doc.MemberBegin()[a].name == dom.doc.MemberBegin()[b].name)
                    return RequestProblem{ErrorCode::bad_request,
                                          "duplicate field \"" +
                                              std::string(dom.doc.MemberBegin()[a].name.GetString()) +
                                              "\""};
        return out.check_envelope(limits);
    }

    std::string_view type() const noexcept {
        return flat_ok_ ? std::string_view(text_).substr(type_at_, type_.size()) : type_;
    }
    const Ref& ref() const noexcept { return ref_; }
    const std::optional<RequestProblem>& problem() const noexcept { return problem_; }

    std::string_view required_string(const char* key) {
        FieldValue v;
        if (!find(key, v)) return fail(key, "is required"), std::string_view{};
        if (!v.is_string()) return fail(key, "must be a string"), std::string_view{};
        return v.string;
    }
    std::optional<std::string_view> optional_string(const char* key) {
        FieldValue v;
        if (!find(key, v) || v.is_null()) return std::nullopt;
        if (!v.is_string()) return fail(key, "must be a string"), std::nullopt;
        return v.string;
    }
    std::optional<std::uint64_t> optional_count(const char* key) {
        FieldValue v;
        if (!find(key, v) || v.is_null()) return std::nullopt;
        if (!v.is_uint64()) return fail(key, "must be a non-negative integer"), std::nullopt;
        return v.unsigned_value;
    }
    std::uint64_t required_count(const char* key) {
        FieldValue v;
        if (!find(key, v)) return fail(key, "is required"), 0;
        return optional_count(key).value_or(0);
    }
    bool required_bool(const char* key) {
        FieldValue v;
        if (!find(key, v)) return fail(key, "is required"), false;
        if (!v.is_bool()) return fail(key, "must be true or false"), false;
        return v.boolean;
    }

    /// `value`, a string this request's accessors returned, as an owned string.
    /// A flat request whose text is mostly `value` gives its text up for it
    /// (moved to the front, no allocation or second copy); then every view
    /// into this request is invalid, `type()` included. `ref()` stays valid.
    std::string take_string(std::string_view value) {
        // std::less_equal: a total order even for pointers into different objects.
        const std::less_equal<const char*> before_or_at;
        const bool inside = flat_ok_ && before_or_at(text_.data(), value.data()) &&
                            before_or_at(value.data() + value.size(), text_.data() + text_.size());
        // Mostly: the string kept is at most about twice what it holds.
        if (!inside || text_.size() > 2 * value.size() + 64) return std::string(value);
        const auto at = static_cast<std::size_t>(value.data() - text_.data());
        std::string out = std::move(text_);
        text_.clear();
        flat_ok_ = false;  // nothing to read any more
        if (at != 0) std::memmove(out.data(), out.data() + at, value.size());
        out.resize(value.size());
        return out;
    }

    /// Records a problem found by the caller's own validation (first one wins).
    void fail(ErrorCode code, std::string message) {
        if (!problem_) problem_ = RequestProblem{code, std::move(message)};
    }

private:
    /// `ref` and `type`, the fields every request is answered by.
    std::optional<RequestProblem> check_envelope(const Limits& limits) {
        FieldValue v;
        // A null ref is no ref, as null is "absent" for every optional field.
        if (find("ref", v) && !v.is_null()) {
            if (v.is_string() && v.string.size() <= limits.max_ref_bytes) {
                ref_.kind = Ref::Kind::text;
                ref_.text.assign(v.string.data(), v.string.size());
            } else if (v.is_int64()) {
                ref_.kind = Ref::Kind::integer;
                ref_.integer = v.int64();
            } else {
                return RequestProblem{ErrorCode::bad_request,
                                      "\"ref\" must be an integer or a string of at most " +
                                          std::to_string(limits.max_ref_bytes) + " bytes"};
            }
        }
        if (!find("type", v) || !v.is_string())
            return RequestProblem{ErrorCode::bad_request, "\"type\" must be a string"};
        type_ = v.string;
        // A flat reading's views point into text_, which moving a short
        // (in-object) string relocates: type() goes by the offset.
        if (flat_ok_) type_at_ = static_cast<std::size_t>(v.string.data() - text_.data());
        return std::nullopt;
    }

    bool find(std::string_view key, FieldValue& out) const {
        if (flat_ok_) return flat_.find(text_, key, out);
        if (!dom_) return false;
        const auto* v = find_member(dom_->doc, key);
        if (!v) return false;
        out = FieldValue::of(*v);
        return true;
    }
    void fail(const char* key, const char* what) {
        fail(ErrorCode::bad_request, "\"" + std::string(key) + "\" " + what);
    }

    /// RapidJSON's reading of a request that is not flat, and the text its
    /// strings point into; on the heap, so it stays put when the request moves.
    struct Dom {
        // A request's values live in fixed buffers here: a chat request is a
        // handful of fields, so parsing allocates nothing more (RapidJSON's
        // default document allocates its pool, a 64 KiB chunk and its parse
        // stack). Bigger requests spill into 4 KiB chunks.
        using Pool = rapidjson::MemoryPoolAllocator<>;
        static constexpr std::size_t pool_bytes = 768;
        static constexpr std::size_t stack_bytes = 512;
        static constexpr std::size_t spill_chunk_bytes = 4096;
        alignas(8) char value_buffer[pool_bytes];
        alignas(8) char stack_buffer[stack_bytes];
        Pool values{value_buffer, sizeof value_buffer, spill_chunk_bytes};
        Pool stack{stack_buffer, sizeof stack_buffer, spill_chunk_bytes};
        rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool> doc{&values, stack_bytes / 2, &stack};
        std::string text;  ///< the frame, parsed in place: doc's strings point into it
    };

    std::string text_;  ///< the frame, when read flat (flat_ holds offsets into it)
    FlatFields flat_;
    bool flat_ok_ = false;
    std::unique_ptr<Dom> dom_;
    std::string_view type_;
    std::size_t type_at_ = 0;  ///< type_'s offset in text_ when read flat
    Ref ref_;
    std::optional<RequestProblem> problem_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
