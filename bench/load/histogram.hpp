// parley-load: a log-linear latency histogram in the style of HdrHistogram.
//
// Values (nanoseconds) below 2^(kSubBits+1) are counted exactly; above that each
// power of two is split into 2^kSubBits equal buckets, so any recorded value is
// known to within 1/2^kSubBits (0.8 % with 7 bits). Recording is one `clz`, a
// shift and an increment; merging two histograms adds their arrays.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace parley_bench {

class Histogram {
public:
    static constexpr int kSubBits = 7;
    static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;  // 128
    static constexpr int kMaxBits = 46;  // ~19.5 hours in ns: anything larger is clamped
    static constexpr std::size_t kBuckets = (kMaxBits - kSubBits + 1) * kSub;

    Histogram() : counts_(kBuckets, 0) {}

    void record(std::uint64_t v) {
        if (v >= (std::uint64_t{1} << kMaxBits)) v = (std::uint64_t{1} << kMaxBits) - 1;
        ++counts_[index(v)];
        ++total_;
        sum_ += v;
        if (v > max_) max_ = v;
        if (v < min_) min_ = v;
    }

    void merge(const Histogram& o) {
        for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        sum_ += o.sum_;
        max_ = std::max(max_, o.max_);
        min_ = std::min(min_, o.min_);
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return total_ ? max_ : 0; }
    std::uint64_t min() const { return total_ ? min_ : 0; }
    double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0; }

    /// The value at quantile `q` (0..1): the highest value equivalent to the bucket
    /// holding the q-th recorded value, never above the true maximum.
    std::uint64_t quantile(double q) const {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
        if (rank < 1) rank = 1;
        if (rank > total_) rank = total_;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(upper(i), max_);
        }
        return max_;
    }

    static std::size_t index(std::uint64_t v) {
        if (v < 2 * kSub) return static_cast<std::size_t>(v);
        const int e = 63 - __builtin_clzll(v);  // floor(log2 v) >= kSubBits + 1
        const int shift = e - kSubBits;
        const std::uint64_t sub = v >> shift;  // in [kSub, 2 kSub)
        return static_cast<std::size_t>(shift) * kSub + static_cast<std::size_t>(sub);
    }
    static std::uint64_t lower(std::size_t i) {
        if (i < 2 * kSub) return i;
        const std::size_t shift = i / kSub - 1;
        const std::uint64_t sub = i % kSub + kSub;
        return sub << shift;
    }
    static std::uint64_t upper(std::size_t i) {
        if (i < 2 * kSub) return i;
        const std::size_t shift = i / kSub - 1;
        return lower(i) + (std::uint64_t{1} << shift) - 1;
    }

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
};

}  // namespace parley_bench
