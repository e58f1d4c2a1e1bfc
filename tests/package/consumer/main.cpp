// A consumer of the parley package: it must find the headers and RapidJSON through
// parley::parley alone.
#include <parley/parley.hpp>

int main() {
    parley::Limits l;
    return l.history_window > 0 ? 0 : 1;
}
