// clients/load/pattern.hpp — internal to aio-load. The bytes every connection sends.
//
// Byte number `o` of every connection's stream is pattern[o % period]: a
// pseudo-random sequence with a prime period, so a byte echoed at the wrong
// offset, a flipped bit or a lost chunk all show up when what comes back is
// compared with what was sent at the same offset. The buffer is the period
// plus `span` bytes, so any run of up to `span` bytes starting anywhere is
// one contiguous view: sending and checking cost a memcpy/memcmp, no copy.
//
// Concurrency: immutable after construction; shared by all threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace aio_load {

class Pattern {
 public:
  static constexpr std::size_t period = 65521;  // prime

  explicit Pattern(std::size_t span) : span_(span), bytes_(period + span) {
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::size_t i = 0; i < period; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      bytes_[i] = static_cast<char>(x >> 56);
    }
    for (std::size_t i = 0; i < span; ++i) bytes_[period + i] = bytes_[i % period];
  }

  // The n <= span() bytes sent at stream offset `offset`.
  std::string_view at(std::uint64_t offset, std::size_t n) const {
    return {bytes_.data() + offset % period, n};
  }

  std::size_t span() const { return span_; }

  // How many of the n bytes received at stream offset `offset` differ from
  // what was sent there (0 when they all match; n may exceed span()).
  std::size_t mismatches(std::uint64_t offset, const char* p, std::size_t n) const {
    std::size_t bad = 0;
    while (n > 0) {
      const std::size_t k = n < span_ ? n : span_;
      const char* want = bytes_.data() + offset % period;
      if (std::memcmp(want, p, k) != 0)
        for (std::size_t i = 0; i < k; ++i) bad += want[i] != p[i];
      offset += k;
      p += k;
      n -= k;
    }
    return bad;
  }

 private:
  std::size_t span_;
  std::vector<char> bytes_;
};

}  // namespace aio_load
