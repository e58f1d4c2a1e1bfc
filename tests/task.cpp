// parley::Task, the work a lane runs: it behaves as std::function<void()> does
// (copies, moves, empty state, conversion), keeps small callables in place and
// larger ones on the heap, and destroys each callable exactly once.
#ifdef PARLEY_TEST_SINGLE_HEADER
#include <parley/parley.hpp>
#else
#include <parley/task.hpp>
#endif

#include <catch2/catch.hpp>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace {

/// Counts live copies of itself and calls, through shared counters.
struct Probe {
    std::shared_ptr<int> live = std::make_shared<int>(0);
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    std::string text = "a string long enough to live on the heap";

    Probe() { ++*live; }
    Probe(const Probe& o) : live(o.live), calls(o.calls), text(o.text) { ++*live; }
    Probe(Probe&& o) noexcept : live(o.live), calls(o.calls), text(std::move(o.text)) { ++*live; }
    ~Probe() { --*live; }
    void operator()() { ++*calls; }
};

/// The same, made bigger than Task's inline room.
struct BigProbe : Probe {
    std::array<char, parley::Task::inline_bytes> ballast{};
};

template <class P>
void check_semantics() {
    P probe;
    const auto live = probe.live;
    const auto calls = probe.calls;
    {
        parley::Task a(probe);
        CHECK(*live == 2);
        CHECK(static_cast<bool>(a));
        a();
        CHECK(*calls == 1);

        parley::Task b(a);  // a copy: two callables
        CHECK(*live == 3);
        b();
        CHECK(*calls == 2);

        parley::Task c(std::move(a));  // a move: the callable changes hands
        CHECK_FALSE(static_cast<bool>(a));
        CHECK(*live == 3);
        c();
        CHECK(*calls == 3);

        b = c;  // copy-assigned over a live callable: the old one is destroyed
        CHECK(*live == 3);
        b = std::move(c);
        CHECK(*live == 2);
        CHECK_FALSE(static_cast<bool>(c));
        parley::Task& same = b;
        b = same;  // self-assignment keeps it
        CHECK(*live == 2);
        b();
        CHECK(*calls == 4);

        const parley::Task& as_const = b;  // called through a const reference, as std::function is
        as_const();
        CHECK(*calls == 5);

        std::function<void()> f = b;  // converts, as a copy
        CHECK(*live == 3);
        f();
        CHECK(*calls == 6);

        b = nullptr;
        CHECK(*live == 2);
        CHECK_FALSE(static_cast<bool>(b));
    }
    CHECK(*live == 1);  // only `probe` is left
}

}  // namespace

TEST_CASE("a Task copies, moves, calls and destroys its callable as std::function does", "[task]") {
    SECTION("a callable kept in place") { check_semantics<Probe>(); }
    SECTION("a callable on the heap") { check_semantics<BigProbe>(); }
}

TEST_CASE("an empty Task throws std::bad_function_call when run", "[task]") {
    parley::Task empty;
    CHECK_FALSE(static_cast<bool>(empty));
    CHECK_THROWS_AS(empty(), std::bad_function_call);
    parley::Task null = nullptr;
    CHECK_THROWS_AS(null(), std::bad_function_call);
    // As std::function does: made from an empty std::function or a null pointer, it is empty.
    parley::Task from_empty_function = std::function<void()>();
    CHECK_FALSE(static_cast<bool>(from_empty_function));
    void (*no_function)() = nullptr;
    parley::Task from_null_pointer = no_function;
    CHECK_FALSE(static_cast<bool>(from_null_pointer));
    parley::Task from_function = std::function<void()>([] {});
    CHECK(static_cast<bool>(from_function));
}

TEST_CASE("a Task keeps a mutable lambda's state between runs, in place and on the heap", "[task]") {
    int small_runs = 0, big_runs = 0;
    parley::Task small([n = 0, &small_runs]() mutable { small_runs = ++n; });
    std::array<char, parley::Task::inline_bytes> ballast{};
    parley::Task big([n = 0, &big_runs, ballast]() mutable {
        (void)ballast;
        big_runs = ++n;
    });
    for (int i = 0; i < 3; ++i) small(), big();
    CHECK(small_runs == 3);
    CHECK(big_runs == 3);
    parley::Task moved = std::move(big);  // the state moves with it
    moved();
    CHECK(big_runs == 4);
}

TEST_CASE("a small callable lives inside the Task, a large one on the heap", "[task]") {
    // Where the callable runs from: inside the Task moves with the Task, on the heap does not.
    const void* at = nullptr;
    parley::Task small([&at, text = std::string(100, 'x')]() { at = &text; });
    std::array<char, parley::Task::inline_bytes> ballast{};
    parley::Task big([&at, ballast]() { at = &ballast; });

    small();
    const void* small_before = at;
    parley::Task small_moved = std::move(small);
    small_moved();
    CHECK(at != small_before);

    big();
    const void* big_before = at;
    parley::Task big_moved = std::move(big);
    big_moved();
    CHECK(at == big_before);
}
