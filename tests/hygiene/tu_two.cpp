// Hygiene: the second translation unit; see tu_one.cpp.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

int parley_hygiene_tu_two() {
    const parley::Limits limits;
    return limits.history_window > 0 ? 0 : 1;
}
