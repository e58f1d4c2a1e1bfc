// parley-server: the REST API under /api/ (except the SSE feed, sse.hpp).
//
//   GET  /api/rooms                                  {rooms:[{id,name,members}]}
//   POST /api/rooms {name}                           201 {room} | 400 | 409 | 413 | 415 | 503
//   GET  /api/rooms/{id}                             {room} | 404
//   GET  /api/rooms/{id}/messages?before=&limit=     {room, messages:[..], complete}
//   GET  /api/rooms/{id}/messages?q=&limit=&offset=  {room, q, offset, messages:[..], more}
//   GET  /api/nicknames/{nick}                       {nick, available} | 400 | 503 (cluster down)
//
// Every request that needs the Lobby defers its response; the Lobby answers on
// its own lane and `respond_later` completes it on the connection's strand.
// Errors are {"error":{"code","message"}}.
#pragma once

#include "http_util.hpp"

#include <parley/detail/events.hpp>
#include <parley/detail/json.hpp>
#include <parley/detail/utf8.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley_server {

class HttpApi {
public:
    /// Largest JSON body accepted (a room name is at most 64 characters).
    static constexpr std::size_t max_body_bytes = 4 * 1024;
    /// Deepest search page offset: no one reads a billion results.
    static constexpr std::uint64_t max_search_offset = 1000000000;

    HttpApi(Lobby& lobby, const OriginPolicy& origins) : lobby_(lobby), origins_(origins) {}

    /// Handles `path` (under /api/) on `con`, inside websocketpp's http handler.
    void handle(const ConnectionPtr& con, std::string_view method, std::string_view path,
                std::string_view query) {
        if (path.size() <= 5) return respond_now(con, api_error(404, "not_found", "no API endpoint /api/"));
        const auto segments = split(path.substr(5));  // after "/api/"
        if (!segments) return respond_now(con, api_error(400, "bad_request", "malformed path"));
        const auto& s = *segments;
        if (s.size() == 1 && s[0] == "rooms") {
            if (method == "GET") return list_rooms(con);
            if (method == "POST") return create_room(con);
            return respond_now(con, not_allowed("GET, POST"));
        }
        if (s.size() == 2 && s[0] == "rooms") {
            if (method != "GET") return respond_now(con, not_allowed("GET"));
            return get_room(con, s[1]);
        }
        if (s.size() == 3 && s[0] == "rooms" && s[2] == "messages") {
            if (method != "GET") return respond_now(con, not_allowed("GET"));
            return room_messages(con, s[1], query);
        }
        if (s.size() == 2 && s[0] == "nicknames") {
            if (method != "GET") return respond_now(con, not_allowed("GET"));
            return nickname(con, s[1]);
        }
        respond_now(con, api_error(404, "not_found", "no API endpoint " + std::string(path)));
    }

    static Response not_allowed(std::string allow) {
        auto r = api_error(405, "method_not_allowed", "allowed: " + allow);
        r.header("Allow", std::move(allow));
        return r;
    }

private:
    /// Percent-decoded path segments; nullopt for a malformed escape, an empty
    /// segment or one that is not UTF-8.
    static std::optional<std::vector<std::string>> split(std::string_view rest) {
        std::vector<std::string> out;
        while (true) {
            const auto slash = rest.find('/');
            auto decoded = percent_decode(rest.substr(0, slash));
            if (!decoded || decoded->empty() || !parley::detail::is_valid_utf8(*decoded))
                return std::nullopt;
            out.push_back(std::move(*decoded));
            if (slash == std::string_view::npos) break;
            rest = rest.substr(slash + 1);
        }
        return out;
    }

    static int status_for(parley::ErrorCode code) {
        using parley::ErrorCode;
        switch (code) {
            case ErrorCode::room_not_found:
            case ErrorCode::not_found:
                return 404;
            case ErrorCode::room_exists:
            case ErrorCode::too_many_rooms:
            case ErrorCode::nick_taken:
                return 409;
            case ErrorCode::server_busy:
            case ErrorCode::unavailable:
                return 503;
            case ErrorCode::not_supported:
                return 501;
            case ErrorCode::forbidden:
                return 403;
            default:
                return 400;
        }
    }

    static std::string message_for(parley::ErrorCode code, std::string_view subject) {
        using parley::ErrorCode;
        switch (code) {
            case ErrorCode::room_name_invalid:
                return "a room name has 1 to 64 characters, no control characters and no leading "
                       "or trailing space";
            case ErrorCode::room_exists:
                return "a room named " + std::string(subject) + " exists";
            case ErrorCode::too_many_rooms:
                return "the lobby holds as many rooms as it may";
            case ErrorCode::room_not_found:
                return "no room " + std::string(subject);
            case ErrorCode::nick_invalid:
                return "a nickname has 1 to 24 characters and no spaces or control characters";
            case ErrorCode::server_busy:
                return "the server is shutting down";
            case ErrorCode::not_supported:
                return "this server's store cannot search";
            case ErrorCode::unavailable:
                return "the chat cluster (Redis) is unreachable; retry later";
            default:
                return std::string(parley::to_string(code));
        }
    }

    static Response failure(parley::ErrorCode code, std::string_view subject) {
        return api_error(status_for(code), parley::to_string(code), message_for(code, subject));
    }

    static std::string room_json(const parley::RoomInfo& room) {
        parley::detail::JsonWriter w;
        w.key("room");
        parley::detail::write_room(w, room);
        return w.finish();
    }

    void list_rooms(const ConnectionPtr& con) {
        con->defer_http_response();
        lobby_.rooms([con](std::vector<parley::RoomInfo> rooms) {
            parley::detail::JsonWriter w;
            w.key("rooms").begin_array();
            for (const auto& r : rooms) parley::detail::write_room(w, r);
            w.end_array();
            respond_later(con, json_response(200, w.finish()));
        });
    }

    void create_room(const ConnectionPtr& con) {
        // A page on another site could post here; browsers send its Origin.
        if (!origins_.allows(con->get_request_header("Origin"), con->get_request_header("Host")))
            return respond_now(con, api_error(403, "forbidden", "origin not allowed"));
        const auto type = lower(con->get_request_header("Content-Type"));
        const auto media = type.substr(0, type.find(';'));
        if (detail::trim(media) != "application/json")
            return respond_now(con, api_error(415, "unsupported_media_type",
                                        "send the body as application/json"));
        const std::string& body = con->get_request_body();
        if (body.size() > max_body_bytes)
            return respond_now(con, api_error(413, "payload_too_large",
                                        "the body is over " + std::to_string(max_body_bytes) +
                                            " bytes"));
        rapidjson::Document doc;
        std::string problem;
        if (!parley::detail::parse_json(body, doc, problem))
            return respond_now(con, api_error(400, "bad_json", "invalid JSON: " + problem));
        if (!doc.IsObject())
            return respond_now(con, api_error(400, "bad_request", "expected a JSON object {\"name\": ...}"));
        const auto* name = parley::detail::find_member(doc, "name");
        if (!name || !name->IsString())
            return respond_now(con, api_error(400, "bad_request", "\"name\" must be a string"));
        std::string room_name(name->GetString(), name->GetStringLength());
        con->defer_http_response();
        lobby_.create_room(room_name, [con, room_name](Lobby::Failure failure,
                                                       parley::RoomInfo room) {
            if (failure) return respond_later(con, HttpApi::failure(*failure, room_name));
            auto r = json_response(201, room_json(room));
            r.header("Location", "/api/rooms/" + room.id);
            respond_later(con, std::move(r));
        });
    }

    void get_room(const ConnectionPtr& con, const std::string& id) {
        con->defer_http_response();
        lobby_.room(id, [con, id](std::optional<parley::RoomInfo> room) {
            if (!room) return respond_later(con, failure(parley::ErrorCode::room_not_found, id));
            respond_later(con, json_response(200, room_json(*room)));
        });
    }

    void room_messages(const ConnectionPtr& con, const std::string& id, std::string_view query) {
        const auto params = parse_query(query);
        if (!params) return respond_now(con, api_error(400, "bad_request", "malformed query string"));
        if (params->count("q")) return search_messages(con, id, *params);
        const auto max_page = lobby_.limits().max_history_page;
        std::optional<std::uint64_t> before;
        std::size_t limit = lobby_.limits().join_history_default;
        if (auto it = params->find("before"); it != params->end() && !it->second.empty()) {
            auto n = parse_count(it->second);
            if (!n || *n == 0)
                return respond_now(con, api_error(400, "bad_request", "\"before\" must be a positive integer"));
            before = *n;
        }
        if (auto it = params->find("limit"); it != params->end() && !it->second.empty()) {
            auto n = parse_count(it->second);
            if (!n || *n == 0 || *n > max_page)
                return respond_now(con, api_error(400, "bad_request",
                                            "\"limit\" must be 1 to " + std::to_string(max_page)));
            limit = static_cast<std::size_t>(*n);
        }
        con->defer_http_response();
        lobby_.room_history(
            id, before, limit,
            [con, id](Lobby::Failure failure, std::vector<parley::StoredMessagePtr> messages,
                      bool complete) {
                if (failure) return respond_later(con, HttpApi::failure(*failure, id));
                parley::detail::JsonWriter w;
                w.field("room", id);
                parley::detail::write_messages(w, messages);
                w.field("complete", complete);
                respond_later(con, json_response(200, w.finish()));
            });
    }

    /// Full-text search: ranked best first, `limit` per page after `offset`.
    template <class Params>
    void search_messages(const ConnectionPtr& con, const std::string& id, const Params& params) {
        const auto& q = params.at("q");
        const auto& limits = lobby_.limits();
        if (params.count("before"))
            return respond_now(con, api_error(400, "bad_request",
                                        "\"before\" pages history; a search pages with \"offset\""));
        if (!parley::detail::is_valid_utf8(q))
            return respond_now(con, api_error(400, "bad_request", "\"q\" is not UTF-8"));
        std::size_t limit = limits.search_page_default;
        std::uint64_t offset = 0;
        if (auto it = params.find("limit"); it != params.end() && !it->second.empty()) {
            auto n = parse_count(it->second);
            if (!n || *n == 0 || *n > limits.max_history_page)
                return respond_now(con, api_error(400, "bad_request",
                                            "\"limit\" must be 1 to " +
                                                std::to_string(limits.max_history_page)));
            limit = static_cast<std::size_t>(*n);
        }
        if (auto it = params.find("offset"); it != params.end() && !it->second.empty()) {
            auto n = parse_count(it->second);
            if (!n || *n > max_search_offset)
                return respond_now(con, api_error(400, "bad_request",
                                            "\"offset\" must be 0 to " +
                                                std::to_string(max_search_offset)));
            offset = *n;
        }
        con->defer_http_response();
        lobby_.search(id, q, limit, offset,
                      [con, id, q, offset, limits](Lobby::Failure failure, parley::SearchPage page) {
                          if (failure) {
                              if (*failure == parley::ErrorCode::bad_request)
                                  return respond_later(
                                      con, api_error(400, "bad_request",
                                                     "\"q\" must hold at least one word and at most " +
                                                         std::to_string(limits.max_search_chars) +
                                                         " characters"));
                              if (*failure == parley::ErrorCode::server_busy)
                                  return respond_later(con, api_error(503, "server_busy",
                                                                      "search is unavailable right now"));
                              return respond_later(con, HttpApi::failure(*failure, id));
                          }
                          parley::detail::JsonWriter w;
                          w.field("room", id).field("q", q).field("offset", offset);
                          parley::detail::write_messages(w, page.messages);
                          w.field("more", page.more);
                          respond_later(con, json_response(200, w.finish()));
                      });
    }

    void nickname(const ConnectionPtr& con, const std::string& nick) {
        con->defer_http_response();
        lobby_.nick_available(nick, [con, nick](Lobby::Failure failure) {
            if (failure && *failure != parley::ErrorCode::nick_taken)
                return respond_later(con, HttpApi::failure(*failure, nick));
            parley::detail::JsonWriter w;
            w.field("nick", nick).field("available", !failure);
            respond_later(con, json_response(200, w.finish()));
        });
    }

    static std::optional<std::uint64_t> parse_count(std::string_view text) {
        if (text.empty() || text.size() > 19) return std::nullopt;
        std::uint64_t n = 0;
        for (char c : text) {
            if (c < '0' || c > '9') return std::nullopt;
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return n;
    }

    Lobby& lobby_;
    const OriginPolicy& origins_;
};

}  // namespace parley_server
