// parley-server: what every HTTP role shares: the server types, responses
// (sent now, or later from another lane), percent-decoding, query strings and
// the Origin policy.
#pragma once

#include "config.hpp"

#include <parley/transport/websocketpp.hpp>

#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley_server {

using Transport = parley::WebsocketppTransport<>;
using Server = Transport::server_type;
using ConnectionPtr = Transport::connection_ptr;
using Lobby = parley::Lobby<Transport>;
namespace asio = websocketpp::lib::asio;

/// One HTTP response, built on any lane.
struct Response {
    int status = 200;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;

    Response& header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

/// Writes `r` into the connection's response (on the connection's strand).
inline void respond_now(const ConnectionPtr& con, const Response& r) {
    con->set_status(static_cast<websocketpp::http::status_code::value>(r.status));
    con->set_body(r.body);  // first: an empty body removes Content-Length (HEAD sets it)
    if (!r.content_type.empty()) con->replace_header("Content-Type", r.content_type);
    con->replace_header("X-Content-Type-Options", "nosniff");
    // websocketpp closes every HTTP connection after its response; saying so keeps
    // clients from reusing a connection that is about to close under them.
    con->replace_header("Connection", "close");
    for (const auto& [name, value] : r.headers) con->replace_header(name, value);
}

/// Completes a deferred response from any lane: the connection's state is only
/// touched on its own strand.
inline void respond_later(const ConnectionPtr& con, Response r) {
    auto send = [con, r = std::move(r)] {
        respond_now(con, r);
        websocketpp::lib::error_code ec;
        con->send_http_response(ec);  // fails only if the peer is gone
    };
    if (auto strand = con->get_strand())
        asio::post(*strand, std::move(send));
    else
        send();
}

inline Response json_response(int status, std::string body) {
    Response r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.body = std::move(body);
    r.header("Cache-Control", "no-store");
    return r;
}

/// `{"error":{"code","message"}}`.
inline Response api_error(int status, std::string_view code, std::string_view message) {
    parley::detail::JsonWriter w;
    w.key("error").begin_object().field("code", code).field("message", message).end_object();
    return json_response(status, w.finish());
}

inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Strict percent-decoding; nullopt for a malformed escape. `plus_is_space`
/// for query strings.
inline std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return std::nullopt;
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

/// The request target split into its path and query.
struct Target {
    std::string path;
    std::string query;
};

inline Target split_target(std::string_view target) {
    Target t;
    const auto q = target.find('?');
    t.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) t.query = std::string(target.substr(q + 1));
    auto hash = t.query.find('#');
    if (hash != std::string::npos) t.query.resize(hash);
    return t;
}

/// `a=1&b=2` decoded; nullopt for a malformed escape. Later keys win.
inline std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
    std::map<std::string, std::string> out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq), true);
        auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
        if (!key || !value) return std::nullopt;
        out[*key] = *value;
    }
    return out;
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// Who may open a WebSocket (and POST to the API) from a browser page.
/// Browsers always send Origin on those requests; a request without one is
/// not from a browser page (a CLI tool, a test), which an Origin check cannot
/// restrict anyway, so it is let through.
class OriginPolicy {
public:
    explicit OriginPolicy(const Config& config)
        : allowed_(config.allowed_origins), any_(config.any_origin) {}

    bool allows(std::string_view origin_header, std::string_view host_header) const {
        if (origin_header.empty() || any_) return true;
        const auto origin = detail::normalize_origin(origin_header);
        if (!allowed_.empty()) {
            for (const auto& a : allowed_)
                if (a == origin) return true;
            return false;
        }
        // Same origin: the Origin's host:port must be the Host the browser asked for.
        const auto sep = origin.find("://");
        if (sep == std::string::npos) return false;  // "null" and other opaque origins
        const auto scheme = origin.substr(0, sep);
        const auto default_port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
        if (!*default_port) return false;
        return with_port(origin.substr(sep + 3), default_port) ==
               with_port(lower(host_header), default_port);
    }

private:
    /// `host` or `host:port` (IPv6 in brackets) with the port made explicit.
    static std::string with_port(std::string hostport, std::string_view default_port) {
        const auto bracket = hostport.rfind(']');
        const auto colon = hostport.rfind(':');
        if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
            hostport += ":" + std::string(default_port);
        return hostport;
    }

    std::vector<std::string> allowed_;
    bool any_;
};

}  // namespace parley_server
