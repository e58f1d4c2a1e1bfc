// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <hiredis/hiredis.h>

#include <string>
#include <vector>

PARLEY_NAMESPACE_BEGIN

/// A Redis reply copied out of hiredis (whose replies die with the callback).
struct RedisReply {
    enum class Kind { nil, integer, string, status, error, array };
    Kind kind = Kind::nil;
    long long integer = 0;
    std::string str;
    std::vector<RedisReply> elements;

    bool is_error() const noexcept { return kind == Kind::error; }
    bool is_string() const noexcept { return kind == Kind::string || kind == Kind::status; }

    static RedisReply from(const redisReply* r) {
        RedisReply out;
        if (!r) return out;
        switch (r->type) {
            case REDIS_REPLY_INTEGER:
                out.kind = Kind::integer;
                out.integer = r->integer;
                break;
            case REDIS_REPLY_STRING: out.kind = Kind::string; break;
            case REDIS_REPLY_STATUS: out.kind = Kind::status; break;
            case REDIS_REPLY_ERROR: out.kind = Kind::error; break;
            case REDIS_REPLY_ARRAY:
                out.kind = Kind::array;
                out.elements.reserve(r->elements);
                for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(from(r->element[i]));
                break;
            default: break;
        }
        if (out.kind == Kind::string || out.kind == Kind::status || out.kind == Kind::error)
            out.str.assign(r->str, r->len);
        return out;
    }
};

PARLEY_NAMESPACE_END
