// The Hub's client_id index (exactly-once sends) against a plain multimap,
// through growth, removals that shift probe runs, and clears.

#include <parley/parley.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<std::uint64_t> found(const parley::detail::ClientIdIndex& index, const std::string& id,
                                 const std::multimap<std::string, std::uint64_t>& model) {
    std::vector<std::uint64_t> seqs;
    index.candidates(id, [&](std::uint64_t seq) {
        // A candidate may be another id's (a hash collision): keep only the true ones.
        auto [b, e] = model.equal_range(id);
        if (std::any_of(b, e, [seq](const auto& kv) { return kv.second == seq; })) seqs.push_back(seq);
    });
    std::sort(seqs.begin(), seqs.end());
    return seqs;
}

}  // namespace

TEST_CASE("the client_id index finds what a multimap finds, through growth and removals", "[core][exactly_once]") {
    parley::detail::ClientIdIndex index;
    std::multimap<std::string, std::uint64_t> model;
    std::mt19937_64 random(7);
    std::uint64_t next_seq = 1;
    std::vector<std::pair<std::string, std::uint64_t>> live;
    for (int step = 0; step < 20000; ++step) {
        const auto roll = random() % 10;
        if (roll < 6 || live.empty()) {
            // Few distinct ids, so several seqs share one.
            const std::string id = "c" + std::to_string(random() % 200);
            index.insert(id, next_seq);
            model.emplace(id, next_seq);
            live.emplace_back(id, next_seq++);
        } else {
            const auto at = random() % live.size();
            const auto [id, seq] = live[at];
            index.erase(id, seq);
            auto [b, e] = model.equal_range(id);
            model.erase(std::find_if(b, e, [seq = seq](const auto& kv) { return kv.second == seq; }));
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(at));
        }
        if (step % 97 == 0) {
            for (int k = 0; k < 200; k += 7) {
                const std::string id = "c" + std::to_string(k);
                std::vector<std::uint64_t> expected;
                auto [b, e] = model.equal_range(id);
                for (auto it = b; it != e; ++it) expected.push_back(it->second);
                std::sort(expected.begin(), expected.end());
                INFO("step " << step << ", id " << id);
                REQUIRE(found(index, id, model) == expected);
            }
            REQUIRE(index.size() == model.size());
        }
    }
    index.erase("never", 12345);  // absent: nothing happens
    CHECK(index.size() == model.size());
    index.clear();
    CHECK(index.size() == 0);
    bool any = false;
    index.candidates("c1", [&](std::uint64_t) { any = true; });
    CHECK_FALSE(any);
}
