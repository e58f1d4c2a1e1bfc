// Protocol v1: reactions on messages.

#include "protocol_fixture.hpp"

using namespace protocol_test;

namespace {

std::string react(std::uint64_t seq, const std::string& emoji, bool on = true) {
    return R"({"type":"react","room":"general","seq":)" + std::to_string(seq) + R"(,"emoji":)" + quote(emoji) +
           R"(,"on":)" + (on ? "true" : "false") + R"(,"ref":"r"})";
}

/// The reactions of message `index` of a history or joined frame, as "emoji:count[:mine]".
std::vector<std::string> reactions_of(const Doc& frame, rapidjson::SizeType index) {
    std::vector<std::string> out;
    const Value& message = array(frame, "messages")[index];
    if (!has(message, "reactions")) return out;
    for (const auto& r : message["reactions"].GetArray()) {
        std::string line = str(r, "emoji") + ":" + std::to_string(u64(r, "count"));
        if (has(r, "mine")) line += boolean(r, "mine") ? ":mine" : ":not-mine";
        out.push_back(line);
    }
    return out;
}

}  // namespace

TEST_CASE("a reaction is told to every member with its total; history shows totals and mine",
          "[protocol][reactions]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    s.exchange(alice, R"({"type":"send","room":"general","text":"lunch?"})");
    bob.take();

    auto mine = s.exchange(bob, react(1, "👍"));
    REQUIRE(mine.size() == 1);
    CHECK(keys(mine[0]) == std::vector<std::string>{"type", "room", "seq", "emoji", "nick", "on", "count"});
    CHECK(type_of(mine[0]) == "reaction");
    CHECK(str(mine[0], "emoji") == "👍");
    CHECK(str(mine[0], "nick") == "bob");
    CHECK(boolean(mine[0], "on"));
    CHECK(u64(mine[0], "count") == 1);
    auto theirs = Server::fresh(alice);
    REQUIRE(theirs.size() == 1);
    CHECK(json(theirs[0]) == json(mine[0]));

    CHECK(u64(s.exchange(alice, react(1, "👍"))[0], "count") == 2);
    s.exchange(alice, react(1, "🎉"));
    bob.take();

    Doc for_bob = s.one(bob, R"({"type":"history","room":"general"})", "history");
    CHECK(reactions_of(for_bob, 0) == std::vector<std::string>{"👍:2:mine", "🎉:1"});
    Doc for_alice = s.one(alice, R"({"type":"history","room":"general"})", "history");
    CHECK(reactions_of(for_alice, 0) == std::vector<std::string>{"👍:2:mine", "🎉:1:mine"});
    MockPeer& carol = s.user("carol");
    Doc joined = s.join(carol, "general");
    CHECK(reactions_of(joined, 0) == std::vector<std::string>{"👍:2", "🎉:1"});

    // Taken back: the total falls, an emoji nobody keeps disappears.
    auto off = s.exchange(alice, react(1, "🎉", false));
    REQUIRE(off.size() == 1);
    CHECK_FALSE(boolean(off[0], "on"));
    CHECK(u64(off[0], "count") == 0);
    Doc after = s.one(carol, R"({"type":"history","room":"general"})", "history");
    CHECK(reactions_of(after, 0) == std::vector<std::string>{"👍:2"});
}

TEST_CASE("one reaction per member and emoji: a repeat or an absent removal tells nobody",
          "[protocol][reactions]") {
    Server s;
    MockPeer& alice = s.member("alice");
    MockPeer& bob = s.member("bob");
    s.exchange(alice, R"({"type":"send","room":"general","text":"hi"})");
    s.exchange(bob, react(1, "👍"));
    alice.take();
    CHECK(s.exchange(bob, react(1, "👍")).empty());
    CHECK(s.exchange(bob, react(1, "❤️", false)).empty());
    CHECK(alice.take().empty());
    Doc history = s.one(alice, R"({"type":"history","room":"general"})", "history");
    CHECK(reactions_of(history, 0) == std::vector<std::string>{"👍:1"});
}

TEST_CASE("reactions are bounded and need a message that exists", "[protocol][reactions]") {
    Limits limits = test_limits();
    limits.max_reactions_per_message = 3;
    Server s(test_options(limits));
    MockPeer& alice = s.member("alice");
    s.exchange(alice, R"({"type":"send","room":"general","text":"vote"})");
    s.exchange(alice, R"({"type":"send","room":"general","text":"gone"})");
    s.exchange(alice, R"({"type":"delete","room":"general","seq":2})");
    for (const char* e : {"1️⃣", "2️⃣", "3️⃣"}) s.exchange(alice, react(1, e));
    MockPeer& bob = s.member("bob");
    Doc full = s.expect_error(bob, react(1, "4️⃣"), ErrorCode::too_many_reactions);
    CHECK(str(full, "ref") == "r");
    CHECK(u64(s.exchange(bob, react(1, "1️⃣"))[0], "count") == 2);  // an existing one still counts up

    s.expect_error(bob, react(2, "👍"), ErrorCode::not_found);
    s.expect_error(bob, react(9, "👍"), ErrorCode::not_found);
    s.expect_error(bob, react(1, ""), ErrorCode::bad_request);
    s.expect_error(bob, react(1, "a b"), ErrorCode::bad_request);
    s.expect_error(bob, react(1, "\u200d"), ErrorCode::bad_request);
    s.expect_error(bob, react(1, std::string(33, 'x')), ErrorCode::bad_request);
    s.expect_error(bob, R"({"type":"react","room":"general","seq":1,"emoji":"👍"})", ErrorCode::bad_request);
    s.expect_error(bob, R"({"type":"react","room":"elsewhere","seq":1,"emoji":"👍","on":true})",
                   ErrorCode::not_in_room);
    // A family emoji with joiners is one emoji.
    s.exchange(alice, R"({"type":"send","room":"general","text":"family"})");
    auto family = s.exchange(bob, react(3, "\U0001F468\u200D\U0001F469\u200D\U0001F467"));
    REQUIRE(family.size() == 1);
    CHECK(type_of(family[0]) == "reaction");
    CHECK(u64(family[0], "count") == 1);
}

TEST_CASE("a deleted message loses its reactions", "[protocol][reactions]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.exchange(alice, R"({"type":"send","room":"general","text":"soon gone"})");
    s.exchange(alice, react(1, "👍"));
    s.exchange(alice, R"({"type":"delete","room":"general","seq":1})");
    Doc history = s.one(alice, R"({"type":"history","room":"general"})", "history");
    CHECK(reactions_of(history, 0).empty());
    CHECK(boolean(array(history, "messages")[0], "deleted"));
}
