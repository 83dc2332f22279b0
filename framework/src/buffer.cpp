// The read buffer and its per-thread chunk pool (see aio/detail/buffer.hpp).
#include <aio/detail/buffer.hpp>

#include <algorithm>
#include <vector>

namespace aio::detail {
namespace {

constexpr std::size_t max_cached = 64;        // small chunks: 1 MiB per loop at most
constexpr std::size_t max_cached_large = 16;  // large chunks: 1 MiB per loop at most

struct ChunkPool {
  std::vector<char*> free;
  std::vector<char*> free_large;
  ChunkPool() {
    free.reserve(max_cached);
    free_large.reserve(max_cached_large);
  }
  ~ChunkPool() {
    for (char* c : free) delete[] c;
    for (char* c : free_large) delete[] c;
  }
};

ChunkPool& pool() {
  thread_local ChunkPool p;
  return p;
}

}  // namespace

char* take_read_chunk(bool large) {
  auto& list = large ? pool().free_large : pool().free;
  if (list.empty()) return new char[large ? large_read_chunk_size : read_chunk_size];
  char* c = list.back();
  list.pop_back();
  return c;
}

void give_read_chunk(char* chunk, bool large) noexcept {
  auto& list = large ? pool().free_large : pool().free;
  if (list.size() < (large ? max_cached_large : max_cached)) {
    list.push_back(chunk);  // capacity reserved: never allocates
  } else {
    delete[] chunk;
  }
}

std::size_t cached_read_chunks() noexcept { return pool().free.size() + pool().free_large.size(); }

std::span<char> ReadBuffer::prepare(std::size_t min_free) {
  if (!data_) {
    const std::size_t chunk = large_ ? large_read_chunk_size : read_chunk_size;
    if (min_free <= chunk) {
      data_ = take_read_chunk(large_);
      cap_ = chunk;
    } else {
      data_ = new char[min_free];
      cap_ = min_free;
    }
    head_ = tail_ = 0;
  }
  if (cap_ - tail_ >= min_free) return {data_ + tail_, cap_ - tail_};
  const std::size_t used = tail_ - head_;
  if (cap_ - used >= min_free && head_ > 0) {
    std::memmove(data_, data_ + head_, used);
    head_ = 0;
    tail_ = used;
    return {data_ + tail_, cap_ - tail_};
  }
  const std::size_t cap = std::max(cap_ * 2, used + min_free);
  char* grown = new char[cap];
  std::memcpy(grown, data_ + head_, used);
  release();
  data_ = grown;
  cap_ = cap;
  head_ = 0;
  tail_ = used;
  return {data_ + tail_, cap_ - tail_};
}

void ReadBuffer::adopt_chunk(char* chunk, std::size_t cap, std::size_t n) {
  if (data_ == nullptr && n > 0) {
    data_ = chunk;
    cap_ = cap;
    head_ = 0;
    tail_ = n;
    return;
  }
  if (n > 0) append({chunk, n});
  give_read_chunk(chunk, cap == large_read_chunk_size);
}

void ReadBuffer::release() noexcept {
  if (!data_) return;
  if (cap_ == read_chunk_size || cap_ == large_read_chunk_size) {
    give_read_chunk(data_, cap_ == large_read_chunk_size);
  } else {
    delete[] data_;
  }
  data_ = nullptr;
  cap_ = head_ = tail_ = 0;
}

}  // namespace aio::detail
