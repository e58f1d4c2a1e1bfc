// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Internal to <parley/transport/websocketpp.hpp>: one non-blocking write to a
// connected socket, for WebsocketppTransport's direct writes.
#pragma once

#include <parley/version.hpp>

#include <cstddef>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/socket.h>
#include <sys/types.h>
#endif

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Whether this system can write to a socket without blocking and without
/// SIGPIPE in one call (MSG_DONTWAIT | MSG_NOSIGNAL); where it cannot, the
/// transport leaves every write to websocketpp.
#if defined(MSG_DONTWAIT) && defined(MSG_NOSIGNAL)
inline constexpr bool can_write_directly = true;
#else
inline constexpr bool can_write_directly = false;
#endif

/// Writes what the socket takes now of `size` bytes: the count written, or -1
/// when nothing was (would block, interrupted, or the connection is broken:
/// the caller then leaves the bytes to websocketpp, which reports the error).
/// MSG_DONTWAIT makes this one call non-blocking whatever mode the socket is in.
inline std::ptrdiff_t write_nonblocking(int fd, const char* data, std::size_t size) {
#if defined(MSG_DONTWAIT) && defined(MSG_NOSIGNAL)
    if (fd < 0) return -1;
    return static_cast<std::ptrdiff_t>(::send(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL));
#else
    (void)fd;
    (void)data;
    (void)size;
    return -1;
#endif
}

}  // namespace detail
PARLEY_NAMESPACE_END
