// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/json.hpp>
#include <parley/error_code.hpp>
#include <parley/limits.hpp>
#include <parley/version.hpp>

#include <cstdint>
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
class Request {
public:
    Request() = default;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;

    /// Parses and checks the envelope: JSON object, unique keys, `ref`, `type`.
    /// `text` must be valid UTF-8 (Client checks every frame first); the request
    /// keeps it and parses in place.
    static std::optional<RequestProblem> parse(std::string text, const Limits& limits,
                                               Request& out) {
        if (json_nesting_depth(text) > limits.max_json_depth)
            return RequestProblem{ErrorCode::bad_json, "JSON nested deeper than " +
                                                           std::to_string(limits.max_json_depth)};
        std::string error;
        out.text_ = std::move(text);
        if (!parse_json_in_place(out.text_, out.doc_, error))
            return RequestProblem{ErrorCode::bad_json, error};
        if (!out.doc_.IsObject())
            return RequestProblem{ErrorCode::bad_request, "a request must be a JSON object"};
        const auto count = out.doc_.MemberCount();
        for (rapidjson::SizeType a = 0; a < count; ++a)
            for (rapidjson::SizeType b = a + 1; b < count; ++b)
                if (out.doc_.MemberBegin()[a].name == out.doc_.MemberBegin()[b].name)
                    return RequestProblem{ErrorCode::bad_request,
                                          "duplicate field \"" +
                                              std::string(out.doc_.MemberBegin()[a].name.GetString()) +
                                              "\""};
        // A null ref is no ref, as null is "absent" for every optional field.
        if (const auto* ref = find_member(out.doc_, "ref"); ref && !ref->IsNull()) {
            const auto& v = *ref;
            if (v.IsString() && v.GetStringLength() <= limits.max_ref_bytes) {
                out.ref_.kind = Ref::Kind::text;
                out.ref_.text.assign(v.GetString(), v.GetStringLength());
            } else if (v.IsInt64()) {
                out.ref_.kind = Ref::Kind::integer;
                out.ref_.integer = v.GetInt64();
            } else {
                return RequestProblem{ErrorCode::bad_request,
                                      "\"ref\" must be an integer or a string of at most " +
                                          std::to_string(limits.max_ref_bytes) + " bytes"};
            }
        }
        const auto* type = find_member(out.doc_, "type");
        if (!type || !type->IsString())
            return RequestProblem{ErrorCode::bad_request, "\"type\" must be a string"};
        out.type_ = std::string_view(type->GetString(), type->GetStringLength());
        return std::nullopt;
    }

    std::string_view type() const noexcept { return type_; }
    const Ref& ref() const noexcept { return ref_; }
    const std::optional<RequestProblem>& problem() const noexcept { return problem_; }

    std::string_view required_string(const char* key) {
        auto v = find(key);
        if (!v) return fail(key, "is required"), std::string_view{};
        if (!v->IsString()) return fail(key, "must be a string"), std::string_view{};
        return {v->GetString(), v->GetStringLength()};
    }
    std::optional<std::string_view> optional_string(const char* key) {
        auto v = find(key);
        if (!v || v->IsNull()) return std::nullopt;
        if (!v->IsString()) return fail(key, "must be a string"), std::nullopt;
        return std::string_view{v->GetString(), v->GetStringLength()};
    }
    std::optional<std::uint64_t> optional_count(const char* key) {
        auto v = find(key);
        if (!v || v->IsNull()) return std::nullopt;
        if (!v->IsUint64()) return fail(key, "must be a non-negative integer"), std::nullopt;
        return v->GetUint64();
    }
    std::uint64_t required_count(const char* key) {
        if (!find(key)) return fail(key, "is required"), 0;
        return optional_count(key).value_or(0);
    }
    bool required_bool(const char* key) {
        auto v = find(key);
        if (!v) return fail(key, "is required"), false;
        if (!v->IsBool()) return fail(key, "must be true or false"), false;
        return v->GetBool();
    }

    /// Records a problem found by the caller's own validation (first one wins).
    void fail(ErrorCode code, std::string message) {
        if (!problem_) problem_ = RequestProblem{code, std::move(message)};
    }

private:
    const rapidjson::Value* find(const char* key) const { return find_member(doc_, key); }
    void fail(const char* key, const char* what) {
        fail(ErrorCode::bad_request, "\"" + std::string(key) + "\" " + what);
    }

    // A request's values live in fixed buffers inside it: a chat request is a
    // handful of fields, so parsing allocates nothing (RapidJSON's default
    // document allocates its pool, a 64 KiB chunk and its parse stack). Bigger
    // requests spill into 4 KiB chunks.
    using Pool = rapidjson::MemoryPoolAllocator<>;
    static constexpr std::size_t pool_bytes = 768;
    static constexpr std::size_t stack_bytes = 512;
    static constexpr std::size_t spill_chunk_bytes = 4096;
    alignas(8) char value_buffer_[pool_bytes];
    alignas(8) char stack_buffer_[stack_bytes];
    Pool values_{value_buffer_, sizeof value_buffer_, spill_chunk_bytes};
    Pool stack_{stack_buffer_, sizeof stack_buffer_, spill_chunk_bytes};
    rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool> doc_{&values_, stack_bytes / 2, &stack_};
    std::string text_;  ///< the frame, parsed in place: doc_'s strings point into it
    std::string_view type_;
    Ref ref_;
    std::optional<RequestProblem> problem_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
