// Protocol v1, search: the request, its validation, paging, and a store that
// cannot search. Runs on the default MemoryStore (the SQLite store's ranking is
// tested in tests/store_sqlite_*.cpp).

#include "protocol_fixture.hpp"

#include <map>
#include <memory>
#include <optional>
#include <utility>

using namespace protocol_test;

namespace {

/// A store without the optional search capability.
class NoSearchStore final : public parley::Store {
public:
    std::vector<parley::RoomRecord> load_rooms() override { return {}; }
    void save_room(const parley::RoomRecord& r) override { inner_.save_room(r); }
    void remove_room(const std::string& id) override { inner_.remove_room(id); }
    void append(const std::string& id, parley::StoredMessagePtr m) override { inner_.append(id, std::move(m)); }
    void update(const std::string& id, const parley::MessagePatch& p, parley::StoredMessagePtr t) override {
        inner_.update(id, p, std::move(t));
    }
    void read(const std::string& id, parley::HistoryQuery q, ReadDone done) override {
        inner_.read(id, q, std::move(done));
    }

private:
    parley::MemoryStore inner_;
};

void say(Server& s, MockPeer& peer, const std::string& text) {
    peer.send(R"({"type":"send","room":"general","text":)" + quote(text) + "}");
    s.run();
}

}  // namespace

TEST_CASE("search returns the matching messages, newest first on the memory store, with paging",
          "[protocol][search]") {
    Server s;
    MockPeer& alice = s.member("alice");
    say(s, alice, "Coffee at ten?");
    say(s, alice, "tea for me");
    say(s, alice, "more coffee please");
    say(s, alice, "COFFEE!!!");

    MockPeer& bob = s.user("bob");  // not in the room: search needs no membership
    Doc page = s.one(bob, R"({"type":"search","room":"general","q":"coffee","limit":2,"ref":7})", "search_results");
    CHECK(keys(page) == std::vector<std::string>{"type", "ref", "room", "q", "offset", "messages", "more"});
    CHECK(i64(page, "ref") == 7);
    CHECK(str(page, "room") == "general");
    CHECK(str(page, "q") == "coffee");
    CHECK(u64(page, "offset") == 0);
    CHECK(seqs(array(page, "messages")) == std::vector<std::uint64_t>{4, 3});
    CHECK(boolean(page, "more"));
    const Value& first = array(page, "messages")[0];
    CHECK(keys(first) == std::vector<std::string>{"seq", "ts", "from", "text"});
    CHECK(str(first, "from") == "alice");

    Doc next = s.one(bob, R"({"type":"search","room":"general","q":"coffee","limit":2,"offset":2})", "search_results");
    CHECK(u64(next, "offset") == 2);
    CHECK(seqs(array(next, "messages")) == std::vector<std::uint64_t>{1});
    CHECK_FALSE(boolean(next, "more"));

    Doc both = s.one(bob, R"({"type":"search","room":"general","q":"  MORE\tcoffee  "})", "search_results");
    CHECK(seqs(array(both, "messages")) == std::vector<std::uint64_t>{3});
    Doc none = s.one(bob, R"({"type":"search","room":"general","q":"cocoa"})", "search_results");
    CHECK(array(none, "messages").Empty());
    CHECK_FALSE(boolean(none, "more"));
}

TEST_CASE("search never returns deleted messages", "[protocol][search]") {
    Server s;
    MockPeer& alice = s.member("alice");
    say(s, alice, "secret one");
    say(s, alice, "secret two");
    s.one(alice, R"({"type":"delete","room":"general","seq":1})", "deleted");
    Doc page = s.one(alice, R"({"type":"search","room":"general","q":"secret"})", "search_results");
    CHECK(seqs(array(page, "messages")) == std::vector<std::uint64_t>{2});
}

TEST_CASE("search requests are validated", "[protocol][search]") {
    Server s;
    MockPeer& alice = s.member("alice");
    s.expect_error(alice, R"({"type":"search","room":"nowhere","q":"x"})", ErrorCode::room_not_found);
    s.expect_error(alice, R"({"type":"search","room":"general"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","q":"x"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":7})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":"   "})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":"\u200b\t"})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":"x","limit":0})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":"x","limit":201})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":"x","offset":-1})", ErrorCode::bad_request);
    s.expect_error(alice, R"({"type":"search","room":"general","q":)" + quote(repeat("a", 201)) + "}",
                   ErrorCode::bad_request);
    s.one(alice, R"({"type":"search","room":"general","q":)" + quote(repeat("é", 200)) + "}", "search_results");

    MockPeer& anonymous = s.connect();
    s.expect_error(anonymous, R"({"type":"search","room":"general","q":"x"})", ErrorCode::not_identified);
}

TEST_CASE("search replies keep request order with the requests around them", "[protocol][search]") {
    Server s;
    MockPeer& alice = s.member("alice");
    alice.take();
    alice.send(R"({"type":"search","room":"general","q":"a","ref":1})");
    alice.send(R"({"type":"ping","ref":2})");
    alice.send(R"({"type":"search","room":"nowhere","q":"a","ref":3})");
    alice.send(R"({"type":"ping","ref":4})");
    s.run();
    std::vector<std::int64_t> refs;
    for (const auto& frame : Server::fresh(alice)) refs.push_back(i64(frame, "ref"));
    CHECK(refs == std::vector<std::int64_t>{1, 2, 3, 4});
}

TEST_CASE("a store that cannot search answers not_supported", "[protocol][search]") {
    LobbyOptions options = test_options();
    options.store = std::make_shared<NoSearchStore>();
    Server s(std::move(options));
    MockPeer& alice = s.member("alice");
    Doc error = s.expect_error(alice, R"({"type":"search","room":"general","q":"x","ref":"q"})",
                               ErrorCode::not_supported);
    CHECK(str(error, "ref") == "q");

    std::optional<parley::ErrorCode> failure;
    s.lobby.search("general", "x", 10, 0,
                   [&](std::optional<parley::ErrorCode> f, parley::SearchPage) { failure = f; });
    s.run();
    CHECK(failure == ErrorCode::not_supported);
}

TEST_CASE("the embedder search API checks the room and the words", "[protocol][search]") {
    Server s;
    MockPeer& alice = s.member("alice");
    say(s, alice, "findable words");
    struct Answer {
        bool answered = false;
        std::optional<parley::ErrorCode> failure;
        std::size_t found = 0;
    };
    std::map<std::string, Answer> answers;
    auto ask = [&](const std::string& label, std::string room, std::string q) {
        s.lobby.search(std::move(room), std::move(q), 0, 0,
                       [&answers, label](std::optional<parley::ErrorCode> f, parley::SearchPage page) {
                           answers[label] = Answer{true, f, page.messages.size()};
                       });
    };
    ask("found", "general", "findable");
    ask("no room", "nowhere", "findable");
    ask("no words", "general", " ");
    ask("not UTF-8", "general", std::string("\xFF\xFE"));
    s.run();
    REQUIRE(answers.size() == 4);
    CHECK_FALSE(answers["found"].failure);
    CHECK(answers["found"].found == 1);
    CHECK(answers["no room"].failure == ErrorCode::room_not_found);
    CHECK(answers["no words"].failure == ErrorCode::bad_request);
    CHECK(answers["not UTF-8"].failure == ErrorCode::bad_request);
}
