// Protocol v1, rooms: listing, creating, joining, leaving, presence and room limits.

#include "protocol_fixture.hpp"

using namespace protocol_test;

namespace {

struct Listed {
    std::string id;
    std::string name;
    std::uint64_t members;
    bool operator==(const Listed& o) const { return id == o.id && name == o.name && members == o.members; }
};

std::ostream& operator<<(std::ostream& os, const Listed& r) {
    return os << "{" << r.id << ", " << r.name << ", " << r.members << "}";
}

std::vector<Listed> listed(const Value& frame) {
    std::vector<Listed> out;
    const Value& rooms = array(frame, "rooms");
    for (rapidjson::SizeType i = 0; i < rooms.Size(); ++i) {
        CHECK(keys(rooms[i]) == std::vector<std::string>{"id", "name", "members"});
        out.push_back(Listed{str(rooms[i], "id"), str(rooms[i], "name"), u64(rooms[i], "members")});
    }
    return out;
}

}  // namespace

TEST_CASE("rooms lists every room with its member count, sorted by name ignoring ASCII case",
          "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    const std::string beta = s.create_room(alice, "beta");
    const std::string alpha = s.create_room(alice, "Alpha");
    const std::string gamma = s.create_room(alice, "gamma");
    const std::string delta = s.create_room(alice, "Delta");
    s.join(alice, beta);
    s.member("bob", beta);
    s.member("carol");

    Doc rooms = s.one(alice, R"({"type":"rooms","ref":"list"})", "rooms");
    CHECK(str(rooms, "ref") == "list");
    CHECK(listed(rooms) == std::vector<Listed>{{alpha, "Alpha", 0},
                                               {beta, "beta", 2},
                                               {delta, "Delta", 0},
                                               {gamma, "gamma", 0},
                                               {"general", "general", 2}});
}

TEST_CASE("create_room answers room_created with the new, empty room", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.user("alice");
    Doc created = s.one(alice, R"({"type":"create_room","name":"Game night","ref":3})", "room_created");
    CHECK(keys(created) == std::vector<std::string>{"type", "ref", "room"});
    CHECK(i64(created, "ref") == 3);
    const Value& room = field(created, "room");
    CHECK(keys(room) == std::vector<std::string>{"id", "name", "members"});
    const std::string id = str(room, "id");
    CHECK_FALSE(id.empty());
    CHECK(id != "general");
    CHECK(str(room, "name") == "Game night");
    CHECK(u64(room, "members") == 0);
    CHECK(s.metrics().rooms_created == 1);
    CHECK(s.metrics().rooms == 2);

    Doc korean = s.one(alice, R"({"type":"create_room","name":"수다방"})", "room_created");
    const std::string korean_id = str(field(korean, "room"), "id");
    CHECK(korean_id != id);
    CHECK(str(field(korean, "room"), "name") == "수다방");

    // The creator is not made a member; the room is joined by id.
    Doc joined = s.join(alice, id);
    CHECK(str(field(joined, "room"), "id") == id);
    CHECK(str(field(joined, "room"), "name") == "Game night");
    CHECK(strings(array(joined, "members")) == std::vector<std::string>{"alice"});
}

TEST_CASE("room names are unique regardless of ASCII case: room_exists", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.user("alice");
    s.create_room(alice, "Game night");
    Doc error = s.expect_error(alice, R"({"type":"create_room","name":"game NIGHT","ref":"c"})",
                               ErrorCode::room_exists);
    CHECK(str(error, "ref") == "c");
    s.expect_error(alice, R"({"type":"create_room","name":"Game night"})", ErrorCode::room_exists);
    s.expect_error(alice, R"({"type":"create_room","name":"General"})", ErrorCode::room_exists);
    CHECK(s.errors(ErrorCode::room_exists) == 3);
    CHECK(s.metrics().rooms == 2);
}

TEST_CASE("invalid room names are refused with room_name_invalid", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.user("alice");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"only spaces", "   "},
        {"a leading space", " Games"},
        {"a trailing space", "Games "},
        {"65 characters", std::string(65, 'r')},
        {"65 Hangul syllables", repeat("\xEB\xB0\xA9", 65)},
        {"a tab", "Game\tnight"},
        {"a newline", "Game\nnight"},
        {"a C0 control", "Game\x01night"},
        {"a no-break space", "Game\xC2\xA0night"},
        {"a zero-width space", "Game\xE2\x80\x8Bnight"},
        {"a right-to-left override", "Game\xE2\x80\xAEnight"},
    };
    for (const auto& [what, name] : cases) {
        INFO("room name with " << what);
        s.expect_error(alice, R"({"type":"create_room","name":)" + quote(name) + "}",
                       ErrorCode::room_name_invalid);
    }
    CHECK(s.errors(ErrorCode::room_name_invalid) == cases.size());
    CHECK(s.metrics().rooms_created == 0);
    s.expect_error(alice, R"({"type":"create_room"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"create_room","name":["Games"]})", ErrorCode::bad_request);

    // At the limit, in characters not bytes.
    s.create_room(alice, std::string(64, 'r'));
    s.create_room(alice, repeat("\xEB\xB0\xA9", 64));
}

TEST_CASE("creating a room beyond max_rooms is refused with too_many_rooms", "[protocol][rooms]") {
    Limits limits = test_limits();
    limits.max_rooms = 3;  // general and two more
    Server s(test_options(limits));
    MockPeer& alice = s.user("alice");
    s.create_room(alice, "one");
    s.create_room(alice, "two");
    Doc error = s.expect_error(alice, R"({"type":"create_room","name":"three","ref":4})",
                               ErrorCode::too_many_rooms);
    CHECK(i64(error, "ref") == 4);
    Doc rooms = s.one(alice, R"({"type":"rooms"})", "rooms");
    CHECK(array(rooms, "rooms").Size() == 3);
}

TEST_CASE("join answers joined with room, members, messages, epoch and complete", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.exchange(alice, R"({"type":"send","room":"general","text":"first"})");
    MockPeer& bob = s.user("bob");

    Doc joined = s.one(bob, R"({"type":"join","room":"general","ref":"j"})", "joined");
    CHECK(keys(joined) ==
          std::vector<std::string>{"type", "ref", "room", "members", "messages", "epoch", "complete"});
    CHECK(str(joined, "ref") == "j");
    const Value& room = field(joined, "room");
    CHECK(keys(room) == std::vector<std::string>{"id", "name"});
    CHECK(str(room, "id") == "general");
    CHECK(str(room, "name") == "general");
    CHECK(strings(array(joined, "members")) == std::vector<std::string>{"alice", "bob"});
    const Value& messages = array(joined, "messages");
    REQUIRE(messages.Size() == 1);
    CHECK(u64(messages[0], "seq") == 1);
    CHECK(str(messages[0], "from") == "alice");
    CHECK(str(messages[0], "text") == "first");
    const std::string epoch = str(joined, "epoch");
    CHECK(epoch.size() == 16);
    CHECK(boolean(joined, "complete"));

    // The epoch names the room's lineage: the same on every join, other rooms have their own.
    MockPeer& carol = s.user("carol");
    CHECK(str(s.join(carol, "general"), "epoch") == epoch);
    const std::string games = s.create_room(carol, "Games");
    CHECK(str(s.join(carol, games), "epoch") != epoch);
}

TEST_CASE("the joined frame matches its golden copy", "[protocol][rooms][golden]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.exchange(alice, R"({"type":"send","room":"general","text":"안녕하세요 \"world\"","client_id":"c-1"})");
    s.transport.advance(std::chrono::seconds(90));
    s.exchange(alice, R"({"type":"send","room":"general","text":"bye"})");
    s.exchange(alice, R"({"type":"delete","room":"general","seq":2})");
    MockPeer& bob = s.user("bob");
    bob.send(R"({"type":"join","room":"general","ref":"g"})");
    s.run();
    const auto frames = bob.take();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0] == golden("protocol_joined.json"));
}

TEST_CASE("a join is announced with presence to the other members, not to the joiner",
          "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& carol = s.user("carol");  // not in the room
    alice.take();
    MockPeer& bob = s.user("bob");
    auto bob_frames = s.exchange(bob, R"({"type":"join","room":"general"})");
    REQUIRE(bob_frames.size() == 1);
    CHECK(type_of(bob_frames[0]) == "joined");

    auto alice_frames = Server::fresh(alice);
    REQUIRE(alice_frames.size() == 1);
    const Doc& presence = alice_frames[0];
    CHECK(keys(presence) == std::vector<std::string>{"type", "room", "event", "nick"});
    CHECK(type_of(presence) == "presence");
    CHECK(str(presence, "room") == "general");
    CHECK(str(presence, "event") == "join");
    CHECK(str(presence, "nick") == "bob");
    CHECK(carol.take().empty());
}

TEST_CASE("leave answers left and is announced with presence to the others", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();

    Doc left = s.one(bob, R"({"type":"leave","room":"general","ref":12})", "left");
    CHECK(keys(left) == std::vector<std::string>{"type", "ref", "room"});
    CHECK(i64(left, "ref") == 12);
    CHECK(str(left, "room") == "general");

    auto alice_frames = Server::fresh(alice);
    REQUIRE(alice_frames.size() == 1);
    CHECK(type_of(alice_frames[0]) == "presence");
    CHECK(str(alice_frames[0], "event") == "leave");
    CHECK(str(alice_frames[0], "nick") == "bob");

    // Bob is out: he no longer hears the room and may not speak in it.
    s.exchange(alice, R"({"type":"send","room":"general","text":"gone?"})");
    CHECK(bob.take().empty());
    s.expect_error(bob, R"({"type":"send","room":"general","text":"hello?"})", ErrorCode::not_in_room);
    Doc rooms = s.one(alice, R"({"type":"rooms"})", "rooms");
    CHECK(u64(array(rooms, "rooms")[0], "members") == 1);
}

TEST_CASE("a dropped connection is announced as a leave", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    alice.take();
    bob.disconnect();
    s.run();
    auto frames = Server::fresh(alice);
    REQUIRE(frames.size() == 1);
    CHECK(type_of(frames[0]) == "presence");
    CHECK(str(frames[0], "event") == "leave");
    CHECK(str(frames[0], "nick") == "bob");
}

TEST_CASE("room requests from a non-member are refused with not_in_room", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.exchange(alice, R"({"type":"send","room":"general","text":"one"})");
    MockPeer& bob = s.user("bob");
    alice.take();

    const std::vector<std::string> requests = {
        R"({"type":"send","room":"general","text":"hi","ref":"a"})",
        R"({"type":"typing","room":"general","active":true,"ref":"a"})",
        R"({"type":"history","room":"general","ref":"a"})",
        R"({"type":"delete","room":"general","seq":1,"ref":"a"})",
        R"({"type":"leave","room":"general","ref":"a"})",
        R"({"type":"send","room":"nowhere","text":"hi","ref":"a"})",
        R"({"type":"leave","room":"nowhere","ref":"a"})",
    };
    for (const auto& request : requests) {
        Doc error = s.expect_error(bob, request, ErrorCode::not_in_room);
        CHECK(str(error, "ref") == "a");
    }
    // Nothing reached the room.
    CHECK(alice.take().empty());
    CHECK(s.metrics().messages_in == 1);

    // The same after leaving.
    s.join(bob, "general");
    s.one(bob, R"({"type":"leave","room":"general"})", "left");
    for (const auto& request : requests) s.expect_error(bob, request, ErrorCode::not_in_room);
    CHECK(s.errors(ErrorCode::not_in_room) == 2 * requests.size());
}

TEST_CASE("joining an unknown room is refused with room_not_found", "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.user("alice");
    Doc error = s.expect_error(alice, R"({"type":"join","room":"nowhere","ref":5})",
                               ErrorCode::room_not_found);
    CHECK(i64(error, "ref") == 5);
    // A user room is joined by its id; its name is not an id.
    s.create_room(alice, "Games");
    s.expect_error(alice, R"({"type":"join","room":"Games"})", ErrorCode::room_not_found);
    s.expect_error(alice, R"({"type":"join","room":"GENERAL"})", ErrorCode::room_not_found);
    s.expect_error(alice, R"({"type":"join"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"join","room":7})", ErrorCode::bad_request);
}

TEST_CASE("joining a room at max_members_per_room is refused with room_full", "[protocol][rooms]") {
    Limits limits = test_limits();
    limits.max_members_per_room = 2;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    MockPeer& carol = s.user("carol");
    alice.take();
    Doc error = s.expect_error(carol, R"({"type":"join","room":"general","ref":"f"})",
                               ErrorCode::room_full);
    CHECK(str(error, "ref") == "f");
    CHECK(alice.take().empty());  // no presence for a refused join

    // A member may rejoin a full room; once someone leaves there is space again.
    Doc rejoined = s.join(alice, "general");
    CHECK(strings(array(rejoined, "members")) == std::vector<std::string>{"alice", "bob"});
    s.one(bob, R"({"type":"leave","room":"general"})", "left");
    Doc joined = s.join(carol, "general");
    CHECK(strings(array(joined, "members")) == std::vector<std::string>{"alice", "carol"});
}

TEST_CASE("joining more than max_rooms_per_client rooms is refused with too_many_rooms",
          "[protocol][rooms]") {
    Limits limits = test_limits();
    limits.max_rooms_per_client = 2;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    const std::string one = s.create_room(alice, "one");
    const std::string two = s.create_room(alice, "two");
    s.join(alice, one);
    Doc error = s.expect_error(alice, R"({"type":"join","room":)" + quote(two) + R"(,"ref":2})",
                               ErrorCode::too_many_rooms);
    CHECK(i64(error, "ref") == 2);

    // Rejoining a room one is in does not count twice; leaving makes space.
    s.join(alice, "general");
    s.one(alice, R"({"type":"leave","room":"general"})", "left");
    Doc joined = s.join(alice, two);
    CHECK(str(field(joined, "room"), "id") == two);
}

TEST_CASE("rejoining a room is idempotent: no second presence, no second membership",
          "[protocol][rooms]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    s.exchange(alice, R"({"type":"send","room":"general","text":"hello"})");
    bob.take();

    Doc again = s.one(alice, R"({"type":"join","room":"general","ref":"again"})", "joined");
    CHECK(str(again, "ref") == "again");
    CHECK(strings(array(again, "members")) == std::vector<std::string>{"alice", "bob"});
    CHECK(seqs(array(again, "messages")) == std::vector<std::uint64_t>{1});
    CHECK(bob.take().empty());

    Doc rooms = s.one(bob, R"({"type":"rooms"})", "rooms");
    CHECK(u64(array(rooms, "rooms")[0], "members") == 2);

    // One leave is enough to be out, and it is announced once.
    s.one(alice, R"({"type":"leave","room":"general"})", "left");
    auto frames = Server::fresh(bob);
    REQUIRE(frames.size() == 1);
    CHECK(str(frames[0], "event") == "leave");
    s.exchange(bob, R"({"type":"send","room":"general","text":"alone"})");
    CHECK(alice.take().empty());
}

TEST_CASE("join with since and epoch resumes after a seq; another epoch is marked incomplete",
          "[protocol][rooms]") {
    Limits limits = test_limits();
    limits.history_window = 4;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    const std::string epoch = str(s.join(alice, "general"), "epoch");
    for (int i = 1; i <= 3; ++i)
        s.exchange(alice, R"({"type":"send","room":"general","text":"m)" + std::to_string(i) + R"("})");
    MockPeer& bob = s.user("bob");

    SECTION("the same epoch: only the newer messages, complete") {
        Doc joined = s.one(bob, R"({"type":"join","room":"general","since":1,"epoch":)" + quote(epoch) + "}",
                           "joined");
        CHECK(seqs(array(joined, "messages")) == std::vector<std::uint64_t>{2, 3});
        CHECK(boolean(joined, "complete"));
    }
    SECTION("since the newest seq: nothing missed") {
        Doc joined = s.one(bob, R"({"type":"join","room":"general","since":3,"epoch":)" + quote(epoch) + "}",
                           "joined");
        CHECK(array(joined, "messages").Size() == 0);
        CHECK(boolean(joined, "complete"));
    }
    SECTION("another epoch: the recent messages, incomplete") {
        Doc joined = s.one(bob, R"({"type":"join","room":"general","since":1,"epoch":"0000000000000000"})",
                           "joined");
        CHECK(seqs(array(joined, "messages")) == std::vector<std::uint64_t>{1, 2, 3});
        CHECK_FALSE(boolean(joined, "complete"));
        CHECK(str(joined, "epoch") == epoch);
    }
    SECTION("since ahead of the room: the recent messages, incomplete") {
        Doc joined = s.one(bob, R"({"type":"join","room":"general","since":10,"epoch":)" + quote(epoch) + "}",
                           "joined");
        CHECK(seqs(array(joined, "messages")) == std::vector<std::uint64_t>{1, 2, 3});
        CHECK_FALSE(boolean(joined, "complete"));
    }
    SECTION("more missed than the window keeps: the kept ones, incomplete") {
        for (int i = 4; i <= 7; ++i)
            s.exchange(alice, R"({"type":"send","room":"general","text":"m)" + std::to_string(i) + R"("})");
        Doc joined = s.one(bob, R"({"type":"join","room":"general","since":1,"epoch":)" + quote(epoch) + "}",
                           "joined");
        CHECK(seqs(array(joined, "messages")) == std::vector<std::uint64_t>{4, 5, 6, 7});
        CHECK_FALSE(boolean(joined, "complete"));
    }
    SECTION("history 0 replays nothing") {
        Doc joined = s.one(bob, R"({"type":"join","room":"general","history":0})", "joined");
        CHECK(array(joined, "messages").Size() == 0);
        CHECK(boolean(joined, "complete"));
    }
    SECTION("history asks for the newest n") {
        Doc joined = s.one(bob, R"({"type":"join","room":"general","history":2})", "joined");
        CHECK(seqs(array(joined, "messages")) == std::vector<std::uint64_t>{2, 3});
        CHECK(boolean(joined, "complete"));
    }
    SECTION("fields of the wrong type are a bad_request") {
        s.expect_error(bob, R"({"type":"join","room":"general","since":-1})", ErrorCode::bad_request);
        s.expect_error(bob, R"({"type":"join","room":"general","since":"1"})", ErrorCode::bad_request);
        s.expect_error(bob, R"({"type":"join","room":"general","epoch":5})", ErrorCode::bad_request);
        s.expect_error(bob, R"({"type":"join","room":"general","history":1.5})", ErrorCode::bad_request);
        CHECK(alice.take().size() == 0);  // none of them joined
    }
}
