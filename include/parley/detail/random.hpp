// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <cstdint>
#include <mutex>
#include <random>
#include <string>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Source of ids and resume tokens. Unseeded it draws from the operating
/// system (std::random_device, getrandom on Linux) so tokens cannot be guessed;
/// seeded it is a fixed splitmix64 stream so tests replay exactly.
class RandomSource {
public:
    explicit RandomSource(std::uint64_t seed) : seeded_(seed != 0), state_(seed) {}

    std::uint64_t next() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!seeded_) {
            return (static_cast<std::uint64_t>(device_()) << 32) ^ device_();
        }
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    /// `words` 64-bit draws as lower-case hex.
    std::string hex(unsigned words) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        out.reserve(words * 16u);
        for (unsigned i = 0; i < words; ++i) {
            auto v = next();
            for (int shift = 60; shift >= 0; shift -= 4) out.push_back(digits[(v >> shift) & 0xF]);
        }
        return out;
    }

private:
    bool seeded_;
    std::uint64_t state_;
    std::mutex mutex_;
    std::random_device device_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
