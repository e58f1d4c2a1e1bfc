// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <algorithm>
#include <chrono>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// Classic token bucket on an external clock, so tests drive it with virtual time.
class TokenBucket {
public:
    using time_point = std::chrono::steady_clock::time_point;

    TokenBucket(double capacity, double per_second, time_point now) noexcept
        : capacity_(capacity), per_second_(per_second), tokens_(capacity), last_(now) {}

    /// Takes one token if available.
    bool try_take(time_point now) noexcept {
        refill(now);
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

    double tokens(time_point now) noexcept {
        refill(now);
        return tokens_;
    }

private:
    void refill(time_point now) noexcept {
        if (now > last_) {
            const std::chrono::duration<double> dt = now - last_;
            tokens_ = std::min(capacity_, tokens_ + dt.count() * per_second_);
            last_ = now;
        }
    }

    double capacity_;
    double per_second_;
    double tokens_;
    time_point last_;
};

}  // namespace detail
PARLEY_NAMESPACE_END
