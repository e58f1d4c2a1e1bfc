// Shared helpers of the tests/protocol_*.cpp files: one Lobby on a MockTransport,
// scripted peers, and precise checks of the frames they read.
//
// Only the umbrella headers of parley are included, so the same tests build
// against include/ and against the generated single header.
#pragma once

#include <catch2/catch.hpp>
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#ifndef PARLEY_TEST_DATA_DIR
#define PARLEY_TEST_DATA_DIR "tests/data"
#endif

namespace protocol_test {

using parley::ErrorCode;
using parley::Limits;
using parley::LobbyOptions;
using parley::testing::MockPeer;
using parley::testing::MockTransport;
using Doc = rapidjson::Document;
using Value = rapidjson::Value;

// ---- reading parsed frames ---------------------------------------------------------

/// The member `key` of an object, or null (index-based: RapidJSON's iterator
/// comparisons are ambiguous under C++20).
inline const Value* find(const Value& object, std::string_view key) {
    if (!object.IsObject()) return nullptr;
    for (rapidjson::SizeType i = 0; i < object.MemberCount(); ++i) {
        const auto& member = object.MemberBegin()[i];
        if (std::string_view(member.name.GetString(), member.name.GetStringLength()) == key)
            return &member.value;
    }
    return nullptr;
}

inline bool has(const Value& object, std::string_view key) { return find(object, key) != nullptr; }

inline const Value& field(const Value& object, std::string_view key) {
    INFO("field \"" << key << "\"");
    const Value* value = find(object, key);
    REQUIRE(value != nullptr);
    return *value;
}

inline std::string str(const Value& object, std::string_view key) {
    const Value& value = field(object, key);
    INFO("field \"" << key << "\" must be a string");
    REQUIRE(value.IsString());
    return std::string(value.GetString(), value.GetStringLength());
}

inline std::uint64_t u64(const Value& object, std::string_view key) {
    const Value& value = field(object, key);
    INFO("field \"" << key << "\" must be a non-negative integer");
    REQUIRE(value.IsUint64());
    return value.GetUint64();
}

inline std::int64_t i64(const Value& object, std::string_view key) {
    const Value& value = field(object, key);
    INFO("field \"" << key << "\" must be an integer");
    REQUIRE(value.IsInt64());
    return value.GetInt64();
}

inline bool boolean(const Value& object, std::string_view key) {
    const Value& value = field(object, key);
    INFO("field \"" << key << "\" must be a boolean");
    REQUIRE(value.IsBool());
    return value.GetBool();
}

inline const Value& array(const Value& object, std::string_view key) {
    const Value& value = field(object, key);
    INFO("field \"" << key << "\" must be an array");
    REQUIRE(value.IsArray());
    return value;
}

inline std::string type_of(const Value& frame) { return str(frame, "type"); }

/// The member names of an object, in order.
inline std::vector<std::string> keys(const Value& object) {
    REQUIRE(object.IsObject());
    std::vector<std::string> out;
    for (rapidjson::SizeType i = 0; i < object.MemberCount(); ++i)
        out.emplace_back(object.MemberBegin()[i].name.GetString());
    return out;
}

/// An array of strings as a vector.
inline std::vector<std::string> strings(const Value& values) {
    REQUIRE(values.IsArray());
    std::vector<std::string> out;
    for (rapidjson::SizeType i = 0; i < values.Size(); ++i) {
        REQUIRE(values[i].IsString());
        out.emplace_back(values[i].GetString(), values[i].GetStringLength());
    }
    return out;
}

/// The `seq` of every message object in `messages`.
inline std::vector<std::uint64_t> seqs(const Value& messages) {
    REQUIRE(messages.IsArray());
    std::vector<std::uint64_t> out;
    for (rapidjson::SizeType i = 0; i < messages.Size(); ++i) out.push_back(u64(messages[i], "seq"));
    return out;
}

/// `value` written back as compact JSON (compare frames this way: RapidJSON's
/// operator== is ambiguous under C++20).
inline std::string json(const Value& value) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    return std::string(buffer.GetString(), buffer.GetSize());
}

inline Doc parse(std::string_view text) {
    Doc doc = parley::testing::parse_frame(text);
    INFO("frame: " << text);
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    return doc;
}

/// A JSON string literal for `text`, escaped as needed.
inline std::string quote(std::string_view text) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return std::string(buffer.GetString(), buffer.GetSize());
}

/// `count` copies of `piece`.
inline std::string repeat(std::string_view piece, std::size_t count) {
    std::string out;
    out.reserve(piece.size() * count);
    for (std::size_t i = 0; i < count; ++i) out.append(piece);
    return out;
}

/// A golden frame from tests/data/, without the file's trailing newline.
inline std::string golden(const std::string& name) {
    const std::string path = std::string(PARLEY_TEST_DATA_DIR) + "/" + name;
    std::ifstream in(path, std::ios::binary);
    INFO("golden file " << path);
    REQUIRE(in.good());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

// ---- a lobby with peers ---------------------------------------------------------------

/// Options every protocol test starts from: a fixed seed (ids, tokens and epochs
/// replay exactly) and a rate limit generous enough never to get in the way.
inline LobbyOptions test_options() {
    LobbyOptions options;
    options.seed = 42;
    options.limits.rate_burst = 100000;
    options.limits.rate_per_second = 100000;
    options.limits.abuse_strikes = 100000;
    return options;
}

inline LobbyOptions test_options(const Limits& limits) {
    LobbyOptions options = test_options();
    options.limits = limits;
    return options;
}

/// Generous default limits with a few changed by the caller.
inline Limits test_limits() { return test_options().limits; }

struct Server {
    explicit Server(LobbyOptions options = test_options()) : lobby(transport, std::move(options)) {}

    ~Server() {
        // Ends every session, so no Client/Hub reference cycle outlives the test.
        lobby.shutdown("test over");
        transport.run_until_idle();
    }

    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void run() { transport.run_until_idle(); }

    /// A connected, not yet identified peer.
    MockPeer& connect() {
        peers.emplace_back(transport, lobby);
        run();
        return peers.back();
    }

    /// A peer that said hello as `nick`; the welcome is already taken.
    MockPeer& user(const std::string& nick) {
        MockPeer& peer = connect();
        peer.send(R"({"type":"hello","nick":)" + quote(nick) + "}");
        run();
        const auto frames = peer.take();
        INFO("hello as " << nick);
        REQUIRE(frames.size() == 1);
        REQUIRE(type_of(parse(frames[0])) == "welcome");
        return peer;
    }

    /// `user(nick)` that joined `room`; the joined frame is taken.
    MockPeer& member(const std::string& nick, const std::string& room = "general") {
        MockPeer& peer = user(nick);
        join(peer, room);
        return peer;
    }

    /// Joins and returns the `joined` frame; others' presence frames are left unread.
    Doc join(MockPeer& peer, const std::string& room) {
        return one(peer, R"({"type":"join","room":)" + quote(room) + "}", "joined");
    }

    /// Sends `request`, runs, and returns every frame the peer read since its last take.
    std::vector<Doc> exchange(MockPeer& peer, std::string_view request) {
        peer.take();
        peer.send(request);
        run();
        return fresh(peer);
    }

    /// Sends `request` and returns its one reply, which must be of `type`.
    Doc one(MockPeer& peer, std::string_view request, const std::string& type) {
        auto frames = exchange(peer, request);
        INFO("request: " << request);
        REQUIRE(frames.size() == 1);
        REQUIRE(type_of(frames[0]) == type);
        return std::move(frames[0]);
    }

    /// Frames the peer read since its last take, parsed.
    static std::vector<Doc> fresh(MockPeer& peer) {
        std::vector<Doc> out;
        for (const auto& text : peer.take()) out.push_back(parse(text));
        return out;
    }

    /// Creates a room as `peer` and returns its id.
    std::string create_room(MockPeer& peer, const std::string& name) {
        Doc created = one(peer, R"({"type":"create_room","name":)" + quote(name) + "}", "room_created");
        return str(field(created, "room"), "id");
    }

    parley::MetricsSnapshot metrics() const { return lobby.metrics().snapshot(); }
    std::uint64_t errors(ErrorCode code) const { return metrics().error_count(code); }

    /// Checks that `peer` still answers: a ping with a fresh ref gets its pong.
    void expect_usable(MockPeer& peer) {
        const std::string ref = "alive-" + std::to_string(++pings_);
        INFO("the connection must stay open and usable");
        REQUIRE(peer.is_open());
        Doc pong = one(peer, R"({"type":"ping","ref":)" + quote(ref) + "}", "pong");
        CHECK(str(pong, "ref") == ref);
    }

    /// Sends `request`; its one reply must be an error `code`, counted once in the
    /// metrics under that code and no other, and the connection must stay usable.
    Doc expect_error(MockPeer& peer, std::string_view request, ErrorCode code) {
        const auto before = metrics();
        auto frames = exchange(peer, request);
        INFO("request: " << request << "\nexpected error: " << parley::to_string(code));
        REQUIRE(frames.size() == 1);
        Doc& reply = frames[0];
        CHECK(type_of(reply) == "error");
        CHECK(str(reply, "code") == parley::to_string(code));
        CHECK_FALSE(str(reply, "message").empty());
        const auto after = metrics();
        CHECK(after.error_count(code) == before.error_count(code) + 1);
        CHECK(after.errors_total() == before.errors_total() + 1);
        expect_usable(peer);
        return std::move(reply);
    }

    MockTransport transport;
    parley::Lobby<MockTransport> lobby;
    std::deque<MockPeer> peers;  // a deque: references stay valid as peers are added

private:
    int pings_ = 0;
};

/// Milliseconds since the Unix epoch of the virtual wall clock now.
inline std::int64_t wall_ms(MockTransport& transport) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               transport.wall_now().time_since_epoch())
        .count();
}

}  // namespace protocol_test
