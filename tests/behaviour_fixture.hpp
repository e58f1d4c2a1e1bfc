// Shared helpers of the tests/behaviour_*.cpp files: the requests their scripted
// peers send and the frames they look for. Each file keeps its own World.
#pragma once

#include <catch2/catch.hpp>
#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <string>
#include <vector>

namespace behaviour_test {

using parley::testing::MockPeer;

/// `hello` with `nick`, and with a resume `token` when one is given.
inline void hello(MockPeer& peer, const std::string& nick, const std::string& token = "") {
    peer.send(R"({"type":"hello","nick":")" + nick + "\"" +
              (token.empty() ? "" : R"(,"token":")" + token + "\"") + "}");
}

/// `join`; `extra` is appended inside the object (e.g. `,"since":3`).
inline void join(MockPeer& peer, const std::string& room, const std::string& extra = "") {
    peer.send(R"({"type":"join","room":")" + room + "\"" + extra + "}");
}

/// A chat message (`text` must need no JSON escaping).
inline void say(MockPeer& peer, const std::string& text, const std::string& room = "general") {
    peer.send(R"({"type":"send","room":")" + room + R"(","text":")" + text + R"("})");
}

/// The `code` of every error frame the peer has read, oldest first.
inline std::vector<std::string> error_codes(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& frame : peer.all("error")) out.emplace_back(frame["code"].GetString());
    return out;
}

}  // namespace behaviour_test
