// Shared by the tests/behaviour_cluster*.cpp files: two Lobbies ("A" and "B")
// on one manual executor, sharing one in-memory fake of a Redis-like backend
// (each file has its own fake Bus, for the seams it tests), and a fake store
// that reads the fake's streams as RedisStore reads Redis.
#pragma once

#include <parley/parley.hpp>
#include <parley/testing.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cluster_test {

/// History from `Cluster::streams` (room -> stored messages, ascending seq),
/// and the permanent room `general` with one epoch on every node. How a read
/// is answered (at once, later, or failed) is the cluster's:
/// `cluster->answer_read(page, done)`.
template <class Cluster>
class StreamStore final : public parley::Store {
public:
    explicit StreamStore(std::shared_ptr<Cluster> cluster) : cluster_(std::move(cluster)) {}

    std::vector<parley::RoomRecord> load_rooms() override {
        parley::RoomRecord general;
        general.id = general.name = "general";
        general.permanent = true;
        general.epoch = "shared";
        return {general};
    }
    void save_room(const parley::RoomRecord&) override {}
    void remove_room(const std::string&) override {}
    void append(const std::string&, parley::StoredMessagePtr) override {}
    void update(const std::string&, const parley::MessagePatch&, parley::StoredMessagePtr) override {}
    void read(const std::string& room, parley::HistoryQuery q, ReadDone done) override {
        parley::HistoryPage page;
        for (const auto& m : cluster_->streams[room])
            if (m->message.seq > q.after && (q.before == 0 || m->message.seq < q.before))
                page.messages.push_back(m);
        if (page.messages.size() > q.limit)
            page.messages.erase(page.messages.begin(),
                                page.messages.end() - static_cast<std::ptrdiff_t>(q.limit));
        cluster_->answer_read(std::move(page), std::move(done));
    }

private:
    std::shared_ptr<Cluster> cluster_;
};

/// One node's options on `cluster`: with a StreamStore, or, when `WithStore`
/// is false, history in the node's memory (then `Cluster` needs no streams).
template <bool WithStore, class Cluster>
parley::LobbyOptions node(const std::string& id, const std::shared_ptr<Cluster>& cluster,
                          std::uint64_t seed) {
    parley::LobbyOptions o;
    o.node_id = id;
    o.bus = cluster;
    if constexpr (WithStore) o.store = std::make_shared<StreamStore<Cluster>>(cluster);
    o.seed = seed;
    return o;
}

/// Nodes A and B on one fake cluster; shut down (and run dry) at the end.
template <class Cluster, bool WithStore = true>
struct TwoNodes {
    parley::testing::MockTransport t;
    std::shared_ptr<Cluster> cluster = std::make_shared<Cluster>();
    parley::Lobby<parley::testing::MockTransport> a{t, node<WithStore>("A", cluster, 1)};
    parley::Lobby<parley::testing::MockTransport> b{t, node<WithStore>("B", cluster, 2)};

    ~TwoNodes() {
        a.shutdown("test over");
        b.shutdown("test over");
        t.run_until_idle();
    }
};

/// The `message` frames `peer` got, as "seq:text".
inline std::vector<std::string> messages(const parley::testing::MockPeer& peer) {
    std::vector<std::string> out;
    for (const auto& m : peer.all("message"))
        out.push_back(std::to_string(m["seq"].GetUint64()) + ":" + m["text"].GetString());
    return out;
}

/// The code of the last error frame `peer` got, or "".
inline std::string last_error(const parley::testing::MockPeer& peer) {
    const auto e = peer.last("error");
    return e ? (*e)["code"].GetString() : "";
}

}  // namespace cluster_test
