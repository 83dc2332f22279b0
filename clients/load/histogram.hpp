// clients/load/histogram.hpp — internal to aio-load. A log-bucket latency histogram.
//
// HdrHistogram's layout in miniature: values (nanoseconds) below 256 are
// exact; above, every power of two is split into 128 equal sub-buckets, so a
// bucket is at most 1/128 of its value wide and the reported value (the
// bucket's middle) is within 0.4% of any value recorded in it. Recording is
// a shift and an increment; 7,424 counters cover the whole uint64 range.
//
// Concurrency: not thread-safe; one per thread, merged at the end.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace aio_load {

class LogHistogram {
 public:
  static constexpr int sub_bits = 7;                      // 128 sub-buckets per octave
  static constexpr std::uint64_t exact_below = 256;       // 2^(sub_bits + 1)
  static constexpr std::size_t bucket_count = 256 + (64 - 8) * 128;

  LogHistogram() : counts_(bucket_count, 0) {}

  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    sum_ += v;
    max_ = std::max(max_, v);
  }

  void merge(const LogHistogram& o) {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0; }

  // The value at quantile q in [0, 1] (0 when empty), never above max().
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(middle(i), max_);
    }
    return max_;
  }

  static std::size_t index(std::uint64_t v) {
    if (v < exact_below) return static_cast<std::size_t>(v);
    const int k = std::bit_width(v) - 1;  // 8..63
    const auto sub = static_cast<std::size_t>((v >> (k - sub_bits)) & 127);
    return 256 + static_cast<std::size_t>(k - 8) * 128 + sub;
  }

  // The middle of bucket i: its representative value.
  static std::uint64_t middle(std::size_t i) {
    if (i < exact_below) return i;
    const int k = static_cast<int>((i - 256) / 128) + 8;
    const std::uint64_t sub = (i - 256) % 128;
    const std::uint64_t width = std::uint64_t{1} << (k - sub_bits);
    const std::uint64_t low = (std::uint64_t{1} << k) + sub * width;
    return low + width / 2;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace aio_load
