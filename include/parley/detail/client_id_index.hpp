// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// The seqs of a room's recent messages by a 64-bit hash of their client_id, so
/// a repeated `send` is found without scanning the history window. An
/// open-addressing table of (hash, seq) pairs: nothing is allocated per
/// message, and it grows (doubling) only while the window fills. A hit is a
/// candidate only; the caller confirms it against the message (the client_id
/// itself and the author).
class ClientIdIndex {
public:
    void insert(std::string_view client_id, std::uint64_t seq) {
        if ((size_ + 1) * 2 > slots_.size()) grow();
        place(Slot{hash(client_id), seq});
        ++size_;
    }

    /// Forgets `seq`, which was inserted with `client_id`; nothing if it was not.
    void erase(std::string_view client_id, std::uint64_t seq) {
        if (slots_.empty()) return;
        const auto h = hash(client_id);
        for (std::size_t i = h & mask(); slots_[i].seq != 0; i = (i + 1) & mask()) {
            if (slots_[i].seq == seq && slots_[i].hash == h) return remove_at(i);
        }
    }

    /// Calls `visit(seq)` for each entry whose client_id hashes like `client_id`.
    template <class Visit>
    void candidates(std::string_view client_id, Visit&& visit) const {
        if (size_ == 0) return;
        const auto h = hash(client_id);
        for (std::size_t i = h & mask(); slots_[i].seq != 0; i = (i + 1) & mask())
            if (slots_[i].hash == h) visit(slots_[i].seq);
    }

    void clear() {
        slots_.clear();
        size_ = 0;
    }

    std::size_t size() const noexcept { return size_; }

private:
    struct Slot {
        std::uint64_t hash = 0;
        std::uint64_t seq = 0;  // 0: empty (seqs start at 1)
    };

    // FNV-1a, then a final mix so nearby ids ("c1", "c2") spread over the table.
    static std::uint64_t hash(std::string_view s) noexcept {
        std::uint64_t h = 0xcbf29ce484222325ull;
        for (const unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        return h ^ (h >> 33);
    }

    std::size_t mask() const noexcept { return slots_.size() - 1; }

    void place(Slot slot) {
        std::size_t i = slot.hash & mask();
        while (slots_[i].seq != 0) i = (i + 1) & mask();
        slots_[i] = slot;
    }

    void grow() {
        std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() * 2);
        old.swap(slots_);
        for (const auto& slot : old)
            if (slot.seq != 0) place(slot);
    }

    // Backward-shift deletion: later entries of the probe run move up, so a
    // lookup never stops early at a hole and no tombstones accumulate.
    void remove_at(std::size_t hole) {
        --size_;
        for (std::size_t i = (hole + 1) & mask(); slots_[i].seq != 0; i = (i + 1) & mask()) {
            const std::size_t home = slots_[i].hash & mask();
            // Move it into the hole unless its home lies cyclically in (hole, i].
            const bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
            if (stays) continue;
            slots_[hole] = slots_[i];
            hole = i;
        }
        slots_[hole] = Slot{};
    }

    std::vector<Slot> slots_;  // a power of two in size, at most half full
    std::size_t size_ = 0;
};

}  // namespace detail
PARLEY_NAMESPACE_END
