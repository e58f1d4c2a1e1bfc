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

inline void join(MockPeer& peer, const std::string& room) {
    peer.send(R"({"type":"join","room":")" + room + R"("})");
}

/// A chat message to "general" (`text` must need no JSON escaping).
inline void say(MockPeer& peer, const std::string& text) {
    peer.send(R"({"type":"send","room":"general","text":")" + text + R"("})");
}

/// The `code` of every error frame the peer has read, oldest first.
inline std::vector<std::string> error_codes(const MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& frame : peer.all("error")) out.emplace_back(frame["code"].GetString());
    return out;
}

}  // namespace behaviour_test
