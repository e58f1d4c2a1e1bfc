// Hygiene: this file and tu_two.cpp both include every header and are linked into
// one program. A function or variable defined in a header without `inline` is then
// defined twice and the link fails.
#include <parley/parley.hpp>
#include <parley/testing.hpp>

int parley_hygiene_tu_two();  // defined in tu_two.cpp

int main() {
    const parley::Limits limits;
    const int here = limits.history_window > 0 ? 0 : 1;
    return here + parley_hygiene_tu_two();
}
