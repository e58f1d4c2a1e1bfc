// wspp-baseline: the broadcast server a websocketpp user writes from its docs
// (examples/broadcast_server): one thread runs the endpoint, the room is a set of
// connection handles, and a broadcast is a loop of `send(hdl, payload, text)`, so
// every recipient gets its own message object, payload copy and frame header.
// TCP_NODELAY is set in the tcp_post_init handler (without it Nagle caps small
// broadcasts at a few thousand deliveries/s).
//
// `--prepared` is the well-known improvement: encode the frame (header and payload
// in one buffer) once per broadcast and hand the same prepared message to every
// connection. It shows how far websocketpp itself can go.
//
// It speaks the subset of parley protocol v1 the load generator uses: hello ->
// welcome, join -> joined, leave -> left, create_room -> room_created, rooms,
// send -> message {room, seq, ts, from, text, client_id} to every member, ping.
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

using Server = websocketpp::server<websocketpp::config::asio>;
using websocketpp::connection_hdl;
using Handles = std::set<connection_hdl, std::owner_less<connection_hdl>>;

namespace {

struct Session {
    std::uint64_t id = 0;
    std::string nick;
    std::set<std::string> rooms;
};

struct Room {
    std::string id;
    std::uint64_t seq = 0;
    Handles members;
};

class Writer {
public:
    Writer() : w_(buf_) { w_.StartObject(); }
    Writer& key(const char* k) { return w_.Key(k), *this; }
    Writer& str(const std::string& v) { return w_.String(v.data(), static_cast<rapidjson::SizeType>(v.size())), *this; }
    Writer& kv(const char* k, const std::string& v) { return key(k).str(v); }
    Writer& kv(const char* k, std::uint64_t v) { return key(k), w_.Uint64(v), *this; }
    Writer& kv(const char* k, bool v) { return key(k), w_.Bool(v), *this; }
    rapidjson::Writer<rapidjson::StringBuffer>& raw() { return w_; }
    std::string finish() {
        w_.EndObject();
        return std::string(buf_.GetString(), buf_.GetSize());
    }

private:
    rapidjson::StringBuffer buf_;
    rapidjson::Writer<rapidjson::StringBuffer> w_;
};

class Baseline {
public:
    explicit Baseline(bool prepared) : prepared_(prepared) {
        server_.clear_access_channels(websocketpp::log::alevel::all);
        server_.clear_error_channels(websocketpp::log::elevel::all);
        server_.init_asio();
        server_.set_reuse_addr(true);
        server_.set_listen_backlog(4096);
        server_.set_tcp_post_init_handler([this](connection_hdl hdl) {
            auto con = server_.get_con_from_hdl(hdl);
            con->get_socket().set_option(asio::ip::tcp::no_delay(true));
        });
        server_.set_open_handler([this](connection_hdl hdl) { sessions_[hdl].id = ++next_session_; });
        server_.set_close_handler([this](connection_hdl hdl) { on_close(hdl); });
        server_.set_message_handler([this](connection_hdl hdl, Server::message_ptr msg) {
            on_message(hdl, msg->get_payload());
        });
    }

    void run(const std::string& host, unsigned short port) {
        asio::error_code ec;
        server_.listen(asio::ip::tcp::endpoint(asio::ip::make_address(host), port), ec);
        if (ec) {
            std::fprintf(stderr, "wspp-baseline: listen: %s\n", ec.message().c_str());
            std::exit(1);
        }
        server_.start_accept();
        auto ep = server_.get_local_endpoint(ec);
        std::printf("wspp-baseline%s listening on http://%s:%u\n", prepared_ ? " (prepared)" : "", host.c_str(),
                    static_cast<unsigned>(ep.port()));
        std::fflush(stdout);
        server_.run();
    }

private:
    void send(connection_hdl hdl, const std::string& text) {
        websocketpp::lib::error_code ec;
        server_.send(hdl, text, websocketpp::frame::opcode::text, ec);
    }
    void error(connection_hdl hdl, const char* code, const std::string& message) {
        Writer w;
        send(hdl, w.kv("type", std::string("error")).kv("code", std::string(code)).kv("message", message).finish());
    }

    void on_close(connection_hdl hdl) {
        auto it = sessions_.find(hdl);
        if (it == sessions_.end()) return;
        for (const auto& r : it->second.rooms) {
            auto room = rooms_.find(r);
            if (room != rooms_.end()) room->second.members.erase(hdl);
        }
        if (!it->second.nick.empty()) nicks_.erase(it->second.nick);
        sessions_.erase(it);
    }

    static std::string get(const rapidjson::Document& d, const char* key) {
        auto it = d.FindMember(key);
        if (it == d.MemberEnd() || !it->value.IsString()) return {};
        return std::string(it->value.GetString(), it->value.GetStringLength());
    }

    void on_message(connection_hdl hdl, const std::string& payload) {
        rapidjson::Document d;
        d.Parse(payload.data(), payload.size());
        if (d.HasParseError() || !d.IsObject()) return error(hdl, "bad_json", "not a JSON object");
        auto& session = sessions_[hdl];
        const std::string type = get(d, "type");
        if (type == "ping") {
            Writer w;
            return send(hdl, w.kv("type", std::string("pong")).finish());
        }
        if (type == "hello") {
            const std::string nick = get(d, "nick");
            if (!session.nick.empty()) return error(hdl, "already_identified", "already identified");
            if (nick.empty() || nick.size() > 96) return error(hdl, "nick_invalid", "bad nickname");
            if (!nicks_.insert(nick).second) return error(hdl, "nick_taken", "nickname is taken");
            session.nick = nick;
            Writer w;
            return send(hdl, w.kv("type", std::string("welcome"))
                                 .kv("session", "w-" + std::to_string(session.id))
                                 .kv("nick", nick)
                                 .kv("token", "t" + std::to_string(session.id))
                                 .kv("protocol", std::uint64_t{1})
                                 .finish());
        }
        if (session.nick.empty()) return error(hdl, "not_identified", "send hello first");
        if (type == "send") return on_send(hdl, session, d);
        if (type == "join") {
            const std::string id = get(d, "room");
            if (id.empty()) return error(hdl, "bad_request", "\"room\" is required");
            auto& room = rooms_[id];
            room.id = id;
            room.members.insert(hdl);
            session.rooms.insert(id);
            Writer w;
            w.kv("type", std::string("joined")).key("room");
            w.raw().StartObject();
            w.kv("id", id).kv("name", id);
            w.raw().EndObject();
            w.key("members");
            w.raw().StartArray();
            w.raw().EndArray();
            w.key("messages");
            w.raw().StartArray();
            w.raw().EndArray();
            return send(hdl, w.kv("epoch", std::string("wspp")).kv("complete", true).finish());
        }
        if (type == "leave") {
            const std::string id = get(d, "room");
            auto it = rooms_.find(id);
            if (it == rooms_.end() || !session.rooms.count(id)) return error(hdl, "not_in_room", "not in room " + id);
            it->second.members.erase(hdl);
            session.rooms.erase(id);
            Writer w;
            return send(hdl, w.kv("type", std::string("left")).kv("room", id).finish());
        }
        if (type == "create_room") {
            const std::string name = get(d, "name");
            if (name.empty()) return error(hdl, "room_name_invalid", "bad room name");
            if (rooms_.count(name)) return error(hdl, "room_exists", "a room named " + name + " exists");
            rooms_[name].id = name;
            Writer w;
            w.kv("type", std::string("room_created")).key("room");
            w.raw().StartObject();
            w.kv("id", name).kv("name", name).kv("members", std::uint64_t{0});
            w.raw().EndObject();
            return send(hdl, w.finish());
        }
        if (type == "rooms") {
            Writer w;
            w.kv("type", std::string("rooms")).key("rooms");
            w.raw().StartArray();
            for (const auto& [id, room] : rooms_) {
                w.raw().StartObject();
                w.kv("id", id).kv("name", id).kv("members", std::uint64_t{room.members.size()});
                w.raw().EndObject();
            }
            w.raw().EndArray();
            return send(hdl, w.finish());
        }
        return error(hdl, "unknown_type", "unknown request type");
    }

    void on_send(connection_hdl hdl, Session& session, const rapidjson::Document& d) {
        const std::string id = get(d, "room");
        auto it = rooms_.find(id);
        if (it == rooms_.end() || !session.rooms.count(id)) return error(hdl, "not_in_room", "not in room " + id);
        const std::string text = get(d, "text");
        if (text.empty()) return error(hdl, "text_empty", "text is empty");
        auto& room = it->second;
        const auto ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        Writer w;
        w.kv("type", std::string("message")).kv("room", id).kv("seq", ++room.seq);
        w.key("ts");
        w.raw().Int64(ts);
        w.kv("from", session.nick).kv("text", text);
        const std::string client_id = get(d, "client_id");
        if (!client_id.empty()) w.kv("client_id", client_id);
        const std::string frame = w.finish();

        if (!prepared_) {
            // The documented pattern: one send per member.
            for (const auto& member : room.members) send(member, frame);
            return;
        }
        // Prepared: the whole wire frame built once, one buffer, shared by everyone.
        auto msg = std::make_shared<websocketpp::message_buffer::message<websocketpp::message_buffer::alloc::con_msg_manager>>(
            nullptr, websocketpp::frame::opcode::text, frame.size() + 10);
        std::string wire;
        wire.reserve(frame.size() + 10);
        wire.push_back(static_cast<char>(0x81));
        if (frame.size() < 126) {
            wire.push_back(static_cast<char>(frame.size()));
        } else if (frame.size() <= 0xFFFF) {
            wire.push_back(126);
            wire.push_back(static_cast<char>(frame.size() >> 8));
            wire.push_back(static_cast<char>(frame.size() & 0xFF));
        } else {
            wire.push_back(127);
            for (int b = 7; b >= 0; --b) wire.push_back(static_cast<char>((static_cast<std::uint64_t>(frame.size()) >> (8 * b)) & 0xFF));
        }
        wire += frame;
        msg->set_payload(wire);
        msg->set_prepared(true);
        for (const auto& member : room.members) {
            websocketpp::lib::error_code ec;
            auto con = server_.get_con_from_hdl(member, ec);
            if (!ec) con->send(msg);
        }
    }

    Server server_;
    const bool prepared_;
    std::map<connection_hdl, Session, std::owner_less<connection_hdl>> sessions_;
    std::unordered_map<std::string, Room> rooms_;
    std::unordered_set<std::string> nicks_;
    std::uint64_t next_session_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    bool prepared = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::atoi(argv[++i]));
        else if (a == "--host" && i + 1 < argc) host = argv[++i];
        else if (a == "--prepared") prepared = true;
        else {
            std::fprintf(stderr, "usage: wspp-baseline [--host 127.0.0.1] [--port 0] [--prepared]\n");
            return 2;
        }
    }
    Baseline server(prepared);
    server.run(host, port);
}
