// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/frame.hpp>
#include <parley/version.hpp>

#include <functional>
#include <string>

PARLEY_NAMESPACE_BEGIN

/// An event a Hub shares with the same room on other server processes.
struct BusEvent {
    std::string origin_node;  ///< the publishing node; a node ignores its own events
    std::string room_id;
    SharedFrame frame;        ///< the already-encoded broadcast
};

/// Fan-out between server processes. Hubs publish every broadcast once and
/// subscribe to their room while they have local members; a delivered event is
/// sent as is to the local members. Handlers may be called on any thread.
class Bus {
public:
    using Handler = std::function<void(const BusEvent&)>;

    virtual ~Bus() = default;
    virtual void subscribe(const std::string& node, const std::string& room_id, Handler handler) = 0;
    virtual void unsubscribe(const std::string& node, const std::string& room_id) = 0;
    virtual void publish(const BusEvent& event) = 0;
};

PARLEY_NAMESPACE_END
