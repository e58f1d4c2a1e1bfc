// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN

/// One encoded outbound text frame: immutable once built and shared by every
/// recipient of a broadcast, so an event is encoded exactly once per room.
///
/// A transport may attach its own wire form (for example the WebSocket header
/// and payload in one buffer) with `prepared()`; it is built by the first
/// recipient and reused by all the others.
class Frame {
public:
    explicit Frame(std::string text) : text_(std::move(text)) {}

    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    /// The JSON text of the frame.
    std::string_view text() const noexcept { return text_; }
    std::size_t size() const noexcept { return text_.size(); }

    /// Returns the transport-specific encoding of this frame, building it with
    /// `make(text)` on first use. `Wire` must be the same type for every call on
    /// one frame (one transport per process is the normal case).
    template <class Wire, class Make>
    const Wire& prepared(Make&& make) const {
        std::call_once(prepared_once_, [&] {
            prepared_ = std::make_shared<Wire>(make(std::string_view(text_)));
        });
        return *static_cast<const Wire*>(prepared_.get());
    }

private:
    std::string text_;
    mutable std::once_flag prepared_once_;
    mutable std::shared_ptr<void> prepared_;
};

/// The shared handle every transport `send` receives.
using SharedFrame = std::shared_ptr<const Frame>;

inline SharedFrame make_frame(std::string text) {
    return std::make_shared<const Frame>(std::move(text));
}

PARLEY_NAMESPACE_END
