// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/client.hpp>
#include <parley/detail/json.hpp>  // RapidJSON, behind the core's warning guards
#include <parley/lobby.hpp>
#include <parley/testing/mock_transport.hpp>
#include <parley/transport.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace testing {

/// Parses one frame's JSON text; check `HasParseError()` on the result.
inline rapidjson::Document parse_frame(std::string_view text) {
    rapidjson::Document document;
    document.Parse(text.data(), text.size());
    return document;
}

/// The `type` member of a parsed frame, or an empty view when it has none.
/// The view points into `document`.
inline std::string_view frame_type(const rapidjson::Value& document) {
    if (!document.IsObject()) {
        return {};
    }
    const auto type = document.FindMember("type");
    if (type == document.MemberEnd() || !type->value.IsString()) {
        return {};
    }
    return {type->value.GetString(), type->value.GetStringLength()};
}

/// A scripted browser tab: one connection to a Lobby over a MockTransport.
///
/// It plays the embedder's part as well: it opens the connection, connects it
/// to the lobby and forwards the transport's close and pong reports to the
/// Client. What the server sent is read back as text or as parsed JSON:
///
///     MockPeer alice(t, lobby);
///     alice.send(R"({"type":"hello","nick":"alice"})");
///     t.run_until_idle();
///     REQUIRE(alice.last("welcome"));
///
/// Movable, so tests can keep many in a vector. Destroying a peer does not
/// close its connection; call `disconnect()` for that.
class MockPeer {
public:
    using ClientPtr = std::shared_ptr<Client<MockTransport>>;

    MockPeer(MockTransport& transport, Lobby<MockTransport>& lobby, PeerInfo peer = {})
        : transport_(&transport), handle_(transport.open_connection()) {
        client_ = lobby.connect(handle_, std::move(peer));
        // The callbacks own the session until the close is reported, like an
        // embedder that keeps it in the connection's user data.
        const ClientPtr client = client_;
        transport.set_callbacks(
            handle_, [client](std::uint16_t code) { client->closed(code); },
            [client] { client->pong(); });
    }

    /// Delivers one inbound text frame to the Client. Dropped once the
    /// connection is closed, as a real socket would.
    void send(std::string_view json_text) {
        if (is_open()) {
            client_->receive(std::string(json_text));
        }
    }

    MockTransport::handle_type handle() const { return handle_; }
    const ClientPtr& client() const { return client_; }

    /// The transport's record of this connection (pings, close reason, ...).
    const MockTransport::Connection& connection() const { return transport_->connection(handle_); }

    /// Every frame read so far, as text.
    std::vector<std::string> texts() const { return texts_from(0); }

    /// The frames read since the previous `take()`.
    std::vector<std::string> take() {
        std::vector<std::string> fresh = texts_from(taken_);
        taken_ = received().size();
        return fresh;
    }

    /// How many frames read so far have this `type`.
    std::size_t count(std::string_view type) const {
        std::size_t matches = 0;
        for (const SharedFrame& frame : received()) {
            if (frame_type(parse_frame(frame->text())) == type) {
                ++matches;
            }
        }
        return matches;
    }

    /// The most recent frame of this `type`, parsed.
    std::optional<rapidjson::Document> last(std::string_view type) const {
        const std::vector<SharedFrame>& frames = received();
        for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
            rapidjson::Document document = parse_frame((*it)->text());
            if (frame_type(document) == type) {
                return document;
            }
        }
        return std::nullopt;
    }

    /// Every frame of this `type` read so far, parsed, oldest first.
    std::vector<rapidjson::Document> all(std::string_view type) const {
        std::vector<rapidjson::Document> matches;
        for (const SharedFrame& frame : received()) {
            rapidjson::Document document = parse_frame(frame->text());
            if (frame_type(document) == type) {
                matches.push_back(std::move(document));
            }
        }
        return matches;
    }

    /// Stops reading: the server's frames pile up (a slow consumer).
    void stall() { transport_->stall(handle_); }
    /// Reads the backlog and goes on reading.
    void resume() { transport_->resume(handle_); }
    /// Vanishes without a close: frames are lost and pings unanswered.
    void fail() { transport_->fail(handle_); }
    /// Drops the connection abruptly; the library hears 1006.
    void disconnect() { transport_->disconnect(handle_); }

    /// The code the server closed with; empty while open or after a drop.
    std::optional<std::uint16_t> close_code() const { return connection().close_code; }
    bool is_open() const { return connection().open; }

private:
    const std::vector<SharedFrame>& received() const { return connection().received; }

    std::vector<std::string> texts_from(std::size_t first) const {
        const std::vector<SharedFrame>& frames = received();
        std::vector<std::string> out;
        for (std::size_t i = first; i < frames.size(); ++i) {
            out.emplace_back(frames[i]->text());
        }
        return out;
    }

    MockTransport* transport_;  ///< a pointer, not a reference, to stay movable
    MockTransport::handle_type handle_;
    ClientPtr client_;
    std::size_t taken_ = 0;
};

}  // namespace testing
PARLEY_NAMESPACE_END
