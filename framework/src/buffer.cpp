// The read buffer and its per-thread chunk pool (see aio/detail/buffer.hpp).
#include <aio/detail/buffer.hpp>

#include <algorithm>
#include <vector>

namespace aio::detail {
namespace {

constexpr std::size_t max_cached = 64;

struct ChunkPool {
  std::vector<char*> free;
  ChunkPool() { free.reserve(max_cached); }
  ~ChunkPool() {
    for (char* c : free) delete[] c;
  }
};

ChunkPool& pool() {
  thread_local ChunkPool p;
  return p;
}

}  // namespace

char* take_read_chunk() {
  auto& p = pool();
  if (p.free.empty()) return new char[read_chunk_size];
  char* c = p.free.back();
  p.free.pop_back();
  return c;
}

void give_read_chunk(char* chunk) noexcept {
  auto& p = pool();
  if (p.free.size() < max_cached) {
    p.free.push_back(chunk);  // capacity reserved: never allocates
  } else {
    delete[] chunk;
  }
}

std::size_t cached_read_chunks() noexcept { return pool().free.size(); }

std::span<char> ReadBuffer::prepare(std::size_t min_free) {
  if (!data_) {
    if (min_free <= read_chunk_size) {
      data_ = take_read_chunk();
      cap_ = read_chunk_size;
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

void ReadBuffer::release() noexcept {
  if (!data_) return;
  if (cap_ == read_chunk_size) {
    give_read_chunk(data_);
  } else {
    delete[] data_;
  }
  data_ = nullptr;
  cap_ = head_ = tail_ = 0;
}

}  // namespace aio::detail
