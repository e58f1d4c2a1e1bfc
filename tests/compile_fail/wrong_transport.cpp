// Compile-fail test: a type that is not a transport must be rejected by parley's own
// static_assert, with a message that names what is missing, not by a wall of template
// errors. tests/CMakeLists.txt builds this file and expects the failure to contain
// "parley: Transport must".
#include <parley/parley.hpp>

struct NotATransport {};

int main() {
    NotATransport transport;
    parley::Lobby<NotATransport> lobby(transport);
    (void)lobby;
    return 0;
}
