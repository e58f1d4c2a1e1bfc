// Protocol v1, the lobby: watch_lobby's snapshot and updates, removal of empty
// rooms, and the embedder API (rooms, create_room, room, room_history,
// nick_available, watch).

#include "protocol_fixture.hpp"

#include <optional>

using namespace protocol_test;

namespace {

using Failure = parley::Lobby<MockTransport>::Failure;

/// Checks a `room_update` frame's room.
void check_update(const Value& frame, const std::string& id, const std::string& name,
                  std::uint64_t members) {
    CHECK(type_of(frame) == "room_update");
    CHECK(keys(frame) == std::vector<std::string>{"type", "room"});
    const Value& room = field(frame, "room");
    CHECK(keys(room) == std::vector<std::string>{"id", "name", "members"});
    CHECK(str(room, "id") == id);
    CHECK(str(room, "name") == name);
    CHECK(u64(room, "members") == members);
}

std::vector<std::string> room_names(Server& s) {
    std::vector<std::string> names;
    s.lobby.rooms([&](std::vector<parley::RoomInfo> rooms) {
        for (const auto& r : rooms) names.push_back(r.name);
    });
    s.run();
    return names;
}

Limits short_ttl() {
    Limits limits = test_limits();
    limits.empty_room_ttl = std::chrono::seconds(60);
    return limits;
}

}  // namespace

TEST_CASE("watch_lobby answers with a rooms snapshot, then a room_update for a new room",
          "[protocol][lobby]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.user("bob");

    Doc snapshot = s.one(alice, R"({"type":"watch_lobby","ref":"w"})", "rooms");
    CHECK(keys(snapshot) == std::vector<std::string>{"type", "ref", "rooms"});
    CHECK(str(snapshot, "ref") == "w");
    const Value& rooms = array(snapshot, "rooms");
    REQUIRE(rooms.Size() == 1);
    CHECK(str(rooms[0], "id") == "general");
    CHECK(u64(rooms[0], "members") == 1);

    auto created = s.exchange(bob, R"({"type":"create_room","name":"Games"})");
    REQUIRE(created.size() == 1);  // the creator is not a watcher: only its reply
    CHECK(type_of(created[0]) == "room_created");
    const std::string id = str(field(created[0], "room"), "id");

    auto updates = Server::fresh(alice);
    REQUIRE(updates.size() == 1);
    check_update(updates[0], id, "Games", 0);
}

TEST_CASE("member count changes reach watchers as room_update, one per burst", "[protocol][lobby]") {
    Server s;
    MockPeer& watcher = s.user("watcher");
    s.one(watcher, R"({"type":"watch_lobby"})", "rooms");
    MockPeer& a = s.user("a");
    MockPeer& b = s.user("b");
    MockPeer& c = s.user("c");
    CHECK(watcher.take().empty());  // hello is not a lobby change

    // Three joins in one pass of the lobby: one update with the final count.
    for (auto* peer : {&a, &b, &c}) peer->send(R"({"type":"join","room":"general"})");
    s.run();
    auto updates = Server::fresh(watcher);
    REQUIRE(updates.size() == 1);
    check_update(updates[0], "general", "general", 3);

    s.one(b, R"({"type":"leave","room":"general"})", "left");
    updates = Server::fresh(watcher);
    REQUIRE(updates.size() == 1);
    check_update(updates[0], "general", "general", 2);

    c.disconnect();
    s.run();
    updates = Server::fresh(watcher);
    REQUIRE(updates.size() == 1);
    check_update(updates[0], "general", "general", 1);

    // A rejoin changes nothing, so it is not announced.
    s.join(a, "general");
    CHECK(watcher.take().empty());
}

TEST_CASE("an empty user room is removed after empty_room_ttl and watchers get room_removed",
          "[protocol][lobby]") {
    Server s(test_options(short_ttl()));
    MockPeer& watcher = s.user("watcher");
    s.one(watcher, R"({"type":"watch_lobby"})", "rooms");
    MockPeer& bob = s.user("bob");
    const std::string id = s.create_room(bob, "Games");
    watcher.take();

    s.transport.advance(std::chrono::seconds(59));
    CHECK(watcher.take().empty());
    CHECK(room_names(s) == std::vector<std::string>{"Games", "general"});

    s.transport.advance(std::chrono::seconds(1));
    auto frames = Server::fresh(watcher);
    REQUIRE(frames.size() == 1);
    CHECK(keys(frames[0]) == std::vector<std::string>{"type", "id"});
    CHECK(type_of(frames[0]) == "room_removed");
    CHECK(str(frames[0], "id") == id);
    CHECK(s.metrics().rooms_removed == 1);
    CHECK(s.metrics().rooms == 1);
    CHECK(room_names(s) == std::vector<std::string>{"general"});

    s.expect_error(bob, R"({"type":"join","room":)" + quote(id) + "}", ErrorCode::room_not_found);
    // The name is free again; the new room has a new id.
    CHECK(s.create_room(bob, "games") != id);
}

TEST_CASE("a room with members is kept; its ttl starts when the last member leaves",
          "[protocol][lobby]") {
    Server s(test_options(short_ttl()));
    MockPeer& watcher = s.user("watcher");
    s.one(watcher, R"({"type":"watch_lobby"})", "rooms");
    MockPeer& bob = s.user("bob");
    const std::string id = s.create_room(bob, "Games");
    s.join(bob, id);

    s.transport.advance(std::chrono::minutes(5));
    CHECK(room_names(s) == std::vector<std::string>{"Games", "general"});

    s.one(bob, R"({"type":"leave","room":)" + quote(id) + "}", "left");
    watcher.take();
    s.transport.advance(std::chrono::milliseconds(59999));
    CHECK(watcher.take().empty());
    CHECK(room_names(s) == std::vector<std::string>{"Games", "general"});
    s.transport.advance(std::chrono::milliseconds(1));
    auto frames = Server::fresh(watcher);
    REQUIRE(frames.size() == 1);
    CHECK(type_of(frames[0]) == "room_removed");
    CHECK(str(frames[0], "id") == id);
}

TEST_CASE("the permanent general room is never removed", "[protocol][lobby]") {
    Server s(test_options(short_ttl()));
    MockPeer& watcher = s.user("watcher");
    s.one(watcher, R"({"type":"watch_lobby"})", "rooms");
    MockPeer& bob = s.member("bob");
    s.one(bob, R"({"type":"leave","room":"general"})", "left");
    s.transport.advance(std::chrono::minutes(30));
    for (const auto& frame : Server::fresh(watcher)) CHECK(type_of(frame) != "room_removed");
    CHECK(s.metrics().rooms_removed == 0);
    CHECK(room_names(s) == std::vector<std::string>{"general"});
    Doc joined = s.join(bob, "general");
    CHECK(str(field(joined, "room"), "id") == "general");
}

TEST_CASE("lobby.rooms lists every room with its member count, sorted by name", "[protocol][lobby][api]") {
    Server s;
    MockPeer& alice = s.member("alice");
    const std::string zoo = s.create_room(alice, "Zoo");
    s.create_room(alice, "art");
    s.join(alice, zoo);
    s.member("bob", zoo);

    std::optional<std::vector<parley::RoomInfo>> rooms;
    s.lobby.rooms([&](std::vector<parley::RoomInfo> list) { rooms = std::move(list); });
    CHECK_FALSE(rooms.has_value());  // answered on the lobby's lane, not inline
    s.run();
    REQUIRE(rooms.has_value());
    REQUIRE(rooms->size() == 3);
    CHECK((*rooms)[0].name == "art");
    CHECK((*rooms)[0].members == 0);
    CHECK((*rooms)[1].name == "general");
    CHECK((*rooms)[1].id == "general");
    CHECK((*rooms)[1].members == 1);
    CHECK((*rooms)[2].name == "Zoo");
    CHECK((*rooms)[2].id == zoo);
    CHECK((*rooms)[2].members == 2);
}

TEST_CASE("lobby.create_room creates a room as a user would, with the same rules",
          "[protocol][lobby][api]") {
    Limits limits = test_limits();
    limits.max_rooms = 2;
    Server s(test_options(limits));
    MockPeer& watcher = s.user("watcher");
    s.one(watcher, R"({"type":"watch_lobby"})", "rooms");

    std::optional<std::pair<Failure, parley::RoomInfo>> result;
    auto create = [&](std::string name) {
        result.reset();
        s.lobby.create_room(std::move(name), [&](Failure failure, parley::RoomInfo room) {
            result.emplace(failure, std::move(room));
        });
        s.run();
        REQUIRE(result.has_value());
        return *result;
    };

    auto [invalid, none] = create(" padded");
    CHECK(invalid == ErrorCode::room_name_invalid);
    CHECK(none.id.empty());
    CHECK(create("GENERAL").first == ErrorCode::room_exists);
    CHECK(watcher.take().empty());

    auto [ok, room] = create("Book club");
    CHECK_FALSE(ok.has_value());
    CHECK(room.name == "Book club");
    CHECK(room.members == 0);
    CHECK_FALSE(room.id.empty());
    auto updates = Server::fresh(watcher);
    REQUIRE(updates.size() == 1);
    check_update(updates[0], room.id, "Book club", 0);

    CHECK(create("One too many").first == ErrorCode::too_many_rooms);
    // Users see it like any other room.
    MockPeer& alice = s.user("alice");
    Doc joined = s.join(alice, room.id);
    CHECK(str(field(joined, "room"), "name") == "Book club");
}

TEST_CASE("lobby.room finds one room by id", "[protocol][lobby][api]") {
    Server s;
    MockPeer& alice = s.member("alice");
    const std::string id = s.create_room(alice, "Games");

    std::optional<std::optional<parley::RoomInfo>> found;
    s.lobby.room("general", [&](std::optional<parley::RoomInfo> room) { found.emplace(std::move(room)); });
    s.run();
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->id == "general");
    CHECK((*found)->members == 1);

    found.reset();
    s.lobby.room(id, [&](std::optional<parley::RoomInfo> room) { found.emplace(std::move(room)); });
    s.run();
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->name == "Games");

    found.reset();
    s.lobby.room("Games", [&](std::optional<parley::RoomInfo> room) { found.emplace(std::move(room)); });
    s.run();
    REQUIRE(found.has_value());
    CHECK_FALSE(found->has_value());
}

TEST_CASE("lobby.room_history returns a page ascending, tombstones included", "[protocol][lobby][api]") {
    Server s;
    MockPeer& alice = s.member("alice");
    for (int i = 1; i <= 5; ++i)
        s.exchange(alice, R"({"type":"send","room":"general","text":"m)" + std::to_string(i) + R"("})");
    s.exchange(alice, R"({"type":"delete","room":"general","seq":4})");

    struct Page {
        Failure failure;
        std::vector<parley::StoredMessagePtr> messages;
        bool complete;
    };
    std::optional<Page> page;
    auto read = [&](std::string id, std::optional<std::uint64_t> before, std::size_t limit) {
        page.reset();
        s.lobby.room_history(std::move(id), before, limit,
                             [&](Failure f, std::vector<parley::StoredMessagePtr> m, bool complete) {
                                 page = Page{f, std::move(m), complete};
                             });
        s.run();
        REQUIRE(page.has_value());
        std::vector<std::uint64_t> seqs;
        for (const auto& m : page->messages) seqs.push_back(m->message.seq);
        return seqs;
    };

    CHECK(read("general", std::nullopt, 3) == std::vector<std::uint64_t>{3, 4, 5});
    CHECK_FALSE(page->failure.has_value());
    CHECK(page->complete);
    CHECK(page->messages[0]->message.text == "m3");
    CHECK(page->messages[1]->message.deleted);
    CHECK(page->messages[1]->json == R"({"seq":4,"ts":)" + std::to_string(wall_ms(s.transport)) +
                                         R"(,"deleted":true})");
    CHECK(read("general", 3, 10) == std::vector<std::uint64_t>{1, 2});
    CHECK(read("nowhere", std::nullopt, 10).empty());
    CHECK(page->failure == ErrorCode::room_not_found);
}

TEST_CASE("lobby.nick_available tells valid, free nicknames apart", "[protocol][lobby][api]") {
    Server s;
    MockPeer& alice = s.user("alice");
    MockPeer& bob = s.user("bob");
    auto check = [&](const std::string& nick) {
        std::optional<Failure> result;
        s.lobby.nick_available(nick, [&](Failure f) { result.emplace(f); });
        s.run();
        REQUIRE(result.has_value());
        return *result;
    };
    CHECK_FALSE(check("carol").has_value());
    CHECK_FALSE(check("민수").has_value());
    CHECK(check("ALICE") == ErrorCode::nick_taken);
    CHECK(check("a b") == ErrorCode::nick_invalid);
    CHECK(check("") == ErrorCode::nick_invalid);
    CHECK(check(std::string(25, 'n')) == ErrorCode::nick_invalid);

    s.one(alice, R"({"type":"nick","nick":"alicia"})", "nick_changed");
    CHECK_FALSE(check("alice").has_value());
    CHECK(check("Alicia") == ErrorCode::nick_taken);

    bob.disconnect();  // reserved for bob's token for a while
    s.run();
    CHECK(check("bob") == ErrorCode::nick_taken);
    s.transport.advance(s.lobby.limits().nick_reclaim_grace);
    CHECK_FALSE(check("bob").has_value());
}

TEST_CASE("lobby.watch delivers the snapshot first, then the same frames clients get, until unwatch",
          "[protocol][lobby][api]") {
    Server s(test_options(short_ttl()));
    MockPeer& client_watcher = s.user("watcher");
    s.one(client_watcher, R"({"type":"watch_lobby"})", "rooms");

    std::vector<std::pair<std::string, parley::SharedFrame>> events;
    const auto id = s.lobby.watch([&](std::string_view event, const parley::SharedFrame& frame) {
        events.emplace_back(std::string(event), frame);
    });
    s.run();
    REQUIRE(events.size() == 1);
    CHECK(events[0].first == "rooms");
    Doc snapshot = parse(events[0].second->text());
    CHECK(type_of(snapshot) == "rooms");
    CHECK_FALSE(has(snapshot, "ref"));
    REQUIRE(array(snapshot, "rooms").Size() == 1);

    MockPeer& bob = s.user("bob");
    const std::string games = s.create_room(bob, "Games");
    REQUIRE(events.size() == 2);
    CHECK(events[1].first == "room_update");
    check_update(parse(events[1].second->text()), games, "Games", 0);
    // Encoded once: the embedder and the watching client share the frame.
    CHECK(events[1].second.get() == client_watcher.connection().sent_pointers.back());

    s.transport.advance(std::chrono::seconds(60));
    REQUIRE(events.size() == 3);
    CHECK(events[2].first == "room_removed");
    CHECK(str(parse(events[2].second->text()), "id") == games);

    s.lobby.unwatch(id);
    s.run();
    s.create_room(bob, "Later");
    CHECK(events.size() == 3);
    CHECK(Server::fresh(client_watcher).size() == 3);  // update, removed, update
}
