// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/events.hpp>
#include <parley/detail/request.hpp>
#include <parley/error_code.hpp>
#include <parley/frame.hpp>
#include <parley/metrics.hpp>
#include <parley/version.hpp>

#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace protocol {

/// Answers a request with `{"type":"error","ref":...,"code":...,"message":...}`:
/// the one path every error takes (Client, Hub and Lobby alike), so each is
/// counted once under its code in `metrics` and has the same shape on the wire.
/// `deliver(SharedFrame)` hands the frame to the requester's connection (the
/// caller's way there, which keeps its outbound budget and slow-consumer rule).
template <class Deliver>
void send_error(Metrics& metrics, Deliver&& deliver, const detail::Ref& ref, ErrorCode code,
                std::string_view message) {
    metrics.count_error(code);
    std::forward<Deliver>(deliver)(make_frame(detail::encode_error(ref, code, message)));
}

}  // namespace protocol
PARLEY_NAMESPACE_END
