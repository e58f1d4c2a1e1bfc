// Full-text search of the SQLite store: ranking, paging, tombstones, hostile words.

#include "store_sqlite_support.hpp"

using namespace store_test;

namespace {

/// A store with room "general" holding `texts` as seq 1, 2, ... (committed).
void fill(SqliteStore& store, const std::vector<std::string>& texts, const std::string& id = "general") {
    store.save_room(room(id));
    std::uint64_t seq = 0;
    for (const auto& text : texts) store.append(id, message(++seq, text));
    REQUIRE(store.flush());
}

}  // namespace

TEST_CASE("fts5_query turns words into quoted strings and keeps a trailing star as a prefix",
          "[sqlite][search]") {
    using parley::detail::fts5_query;
    CHECK(fts5_query({"hello", "world"}) == R"("hello" "world")");
    CHECK(fts5_query({R"(say"hi)"}) == R"("say""hi")");
    CHECK(fts5_query({"hel*"}) == R"("hel"*)");
    CHECK(fts5_query({"***", "ok"}) == R"("ok")");
    CHECK(fts5_query({"NEAR(a", "OR", "b)"}) == R"q("NEAR(a" "OR" "b)")q");
    CHECK(fts5_query({}).empty());
}

TEST_CASE("search ranks by relevance and matches every word, in one room only", "[sqlite][search]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    fill(store, {
                    "pizza tonight?",                                  // 1
                    "I had pizza pizza pizza for lunch, more pizza",   // 2
                    "nothing to see here",                             // 3
                    "Pizza and beer at eight",                         // 4
                    "beer only",                                       // 5
                });
    fill(store, {"pizza in the other room"}, "other");

    const auto pizza = search(store, "general", "pizza");
    REQUIRE(pizza.messages.size() == 3);
    CHECK(pizza.messages.front()->message.seq == 2);  // bm25: most occurrences first
    CHECK_FALSE(pizza.more);
    CHECK_FALSE(pizza.failed);
    for (const auto& m : pizza.messages) CHECK(m->message.text.find("other room") == std::string::npos);

    CHECK(seqs(search(store, "general", "pizza beer").messages) == std::vector<std::uint64_t>{4});
    CHECK(seqs(search(store, "general", "BEER   Pizza").messages) == std::vector<std::uint64_t>{4});
    CHECK(seqs(search(store, "general", "piz*").messages).size() == 3);
    CHECK(search(store, "general", "piz").messages.empty());  // words, not substrings
    CHECK(search(store, "general", "pasta").messages.empty());
    CHECK(seqs(search(store, "other", "pizza").messages) == std::vector<std::uint64_t>{1});
    CHECK(search(store, "nowhere", "pizza").messages.empty());
}

TEST_CASE("search pages with limit and offset and says when there is more", "[sqlite][search]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    std::vector<std::string> texts;
    for (int i = 0; i < 25; ++i) texts.push_back("ping number " + std::to_string(i));
    fill(store, texts);

    std::vector<std::uint64_t> seen;
    std::uint64_t offset = 0;
    for (int page = 0; page < 3; ++page) {
        const auto results = search(store, "general", "ping", 10, offset);
        CHECK(results.more == (page < 2));
        for (const auto& m : results.messages) seen.push_back(m->message.seq);
        offset += results.messages.size();
    }
    CHECK(seen.size() == 25);
    // Equal scores come newest first, and no message appears twice.
    CHECK(seen.front() == 25);
    std::sort(seen.begin(), seen.end());
    CHECK(seen == range(1, 25));
    CHECK(search(store, "general", "ping", 10, 25).messages.empty());
}

TEST_CASE("deleted messages are never found, whether the tombstone is committed or not", "[sqlite][search]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    fill(store, {"secret plan", "secret recipe", "secret handshake"});

    change(store, "general", parley::make_tombstone(message(1, "secret plan")->message));
    REQUIRE(store.flush());
    CHECK(seqs(search(store, "general", "secret").messages).size() == 2);
    CHECK(search(store, "general", "plan").messages.empty());

    // Tombstone still queued (the disk refuses it): search must not show the message.
    store.set_max_file_bytes(1);
    for (std::uint64_t s = 4; s <= 60; ++s) store.append("general", message(s, std::string(5000, 'y')));
    change(store, "general", parley::make_tombstone(message(2, "secret recipe")->message));
    REQUIRE_FALSE(store.flush());
    CHECK(seqs(search(store, "general", "secret").messages) == std::vector<std::uint64_t>{3});
    store.set_max_file_bytes(0);
    REQUIRE(store.flush());
    CHECK(seqs(search(store, "general", "secret").messages) == std::vector<std::uint64_t>{3});
}

TEST_CASE("search words can never be FTS5 syntax or SQL", "[sqlite][search]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    fill(store, {R"(he said "hello" (twice) - NEAR the door; OR not)", "a*b c:d {x} ^start", "plain"});

    const std::vector<std::string> hostile = {
        "\"", "\"\"", "\"hello", "hello\"", "'", "*", "**", "(", ")", "()", "NEAR", "NEAR(",
        "NEAR(he door, 3)", "he OR not", "AND", "NOT", "-", "+", "^", "^start", "c:d", "text:hello",
        "{text}:hello", "{x}", "a*b", "'; DROP TABLE messages; --", "\\", "%", "_", "hello\\\"",
        std::string("nul\0byte", 8), "\x01\x02", "\xC3\xA9t\xC3\xA9", "\xF0\x9F\x98\x80", "::", ":",
        "he*llo", "*hello", "hello**", std::string(500, '"'), std::string(300, '(')};
    for (const auto& words : hostile) {
        INFO("search words: " << words);
        const auto results = search(store, "general", words);
        CHECK_FALSE(results.failed);
    }
    CHECK(store.stats().read_errors == 0);
    // Punctuation inside a word is the tokenizer's business: still a plain match.
    CHECK(seqs(search(store, "general", "\"hello\"").messages) == std::vector<std::uint64_t>{1});
    CHECK(seqs(search(store, "general", "NEAR door").messages) == std::vector<std::uint64_t>{1});
    CHECK(seqs(search(store, "general", "^start").messages) == std::vector<std::uint64_t>{2});
    // And the table is still there.
    CHECK(seqs(read_all(store, "general").messages) == range(1, 3));
}

TEST_CASE("search matches without accents and case, and finds words of any script", "[sqlite][search]") {
    TempDir dir;
    SqliteStore store(dir.file("chat.db"), test_store_options());
    fill(store, {"Crème brûlée au café", "안녕하세요 여러분", "日本語のテキスト"});
    CHECK(seqs(search(store, "general", "creme BRULEE").messages) == std::vector<std::uint64_t>{1});
    CHECK(seqs(search(store, "general", "여러분").messages) == std::vector<std::uint64_t>{2});
    // Scripts written without spaces are one word per run: found by prefix.
    CHECK(seqs(search(store, "general", "日本語*").messages) == std::vector<std::uint64_t>{3});
}
