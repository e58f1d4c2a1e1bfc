// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

PARLEY_NAMESPACE_BEGIN

/// Where a Redis server is: parsed from `redis://[:password@]host[:port][/db]`.
struct RedisEndpoint {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string password;  ///< empty: no AUTH
    unsigned db = 0;       ///< SELECTed when non-zero

    /// The URL again, without the password (for logs and errors).
    std::string describe() const {
        return "redis://" + host + ":" + std::to_string(port) + (db ? "/" + std::to_string(db) : "");
    }
};

/// A REDIS_URL that cannot be used; `what()` says why, for a person.
struct RedisUrlError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

/// Parses `redis://[:password@]host[:port][/db]` (IPv6 hosts in brackets).
inline RedisEndpoint parse_redis_url(std::string_view url) {
    const auto fail = [&url](const std::string& why) {
        return RedisUrlError("REDIS_URL \"" + std::string(url) + "\": " + why +
                             " (expected redis://[:password@]host[:port][/db])");
    };
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, scheme.size()) != scheme) throw fail("must start with redis://");
    auto rest = url.substr(scheme.size());
    RedisEndpoint out;
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        auto auth = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = auth.find(':');
        out.password = std::string(colon == std::string_view::npos ? auth : auth.substr(colon + 1));
    }
    std::string_view hostport = rest, db;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        hostport = rest.substr(0, slash);
        db = rest.substr(slash + 1);
    }
    std::string_view port;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) throw fail("unclosed [ in the host");
        out.host = std::string(hostport.substr(1, close - 1));
        auto after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') throw fail("junk after the host");
            port = after.substr(1);
        }
    } else {
        const auto colon = hostport.rfind(':');
        out.host = std::string(hostport.substr(0, colon));
        if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
    }
    if (out.host.empty()) throw fail("no host");
    const auto number = [&fail](std::string_view text, unsigned long max, const char* what) {
        if (text.empty() || text.size() > 9) throw fail(std::string("bad ") + what);
        unsigned long v = 0;
        for (char c : text) {
            if (c < '0' || c > '9') throw fail(std::string("bad ") + what);
            v = v * 10 + static_cast<unsigned long>(c - '0');
        }
        if (v > max) throw fail(std::string(what) + " out of range");
        return v;
    };
    if (!port.empty() || hostport.back() == ':') {
        const auto p = number(port, 65535, "port");
        if (p == 0) throw fail("port out of range");
        out.port = static_cast<std::uint16_t>(p);
    }
    if (!db.empty()) out.db = static_cast<unsigned>(number(db, 1000000, "database number"));
    return out;
}

PARLEY_NAMESPACE_END
