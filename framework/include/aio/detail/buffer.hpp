// aio/detail/buffer.hpp — internal. The lazily allocated read buffer and its per-loop chunk pool.
//
// An idle connection holds no buffer: storage is taken from a thread-local
// (so per-loop) pool of fixed chunks when bytes arrive and handed back when
// the buffer is drained. A buffer that must hold more than a chunk (a long
// line, readexactly(n) with a large n) grows on the heap and is freed when
// drained.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

namespace aio::detail {

inline constexpr std::size_t read_chunk_size = 16 * 1024;
// A stream whose reads fill their whole chunk reads into chunks of this size
// until a read comes back small: bulk transfers then cost a quarter of the
// recv calls (a plain epoll server reads with a 64 KiB buffer).
inline constexpr std::size_t large_read_chunk_size = 64 * 1024;

// Chunks of read_chunk_size (or large_read_chunk_size) bytes, kept per
// thread (a bounded number of each).
char* take_read_chunk(bool large = false);
void give_read_chunk(char* chunk, bool large = false) noexcept;
std::size_t cached_read_chunks() noexcept;

class ReadBuffer {
 public:
  ReadBuffer() = default;
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer() { release(); }

  std::size_t size() const noexcept { return tail_ - head_; }
  bool empty() const noexcept { return tail_ == head_; }
  bool has_storage() const noexcept { return data_ != nullptr; }
  std::string_view view() const noexcept { return {data_ + head_, tail_ - head_}; }

  // Free space at the tail, at least `min_free` bytes (compacts or grows).
  std::span<char> prepare(std::size_t min_free = 1);
  void commit(std::size_t n) noexcept { tail_ += n; }
  void consume(std::size_t n) noexcept {
    head_ += n;
    if (head_ == tail_) head_ = tail_ = 0;
  }
  void clear() noexcept { head_ = tail_ = 0; }
  void append(std::string_view bytes) {
    auto space = prepare(bytes.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    commit(bytes.size());
  }
  // The size of the pool chunk prepare() would take now: 0 when the buffer
  // holds storage already. A reader that must not touch the buffer before
  // its recv (socket_read_op.hpp) takes such a chunk itself, reads into it,
  // then hands it over with adopt_chunk.
  std::size_t fresh_chunk_size() const noexcept {
    if (data_) return 0;
    return large_ ? large_read_chunk_size : read_chunk_size;
  }
  // Appends the `n` bytes read into `chunk`, a pool chunk of `cap` bytes
  // (fresh_chunk_size()), and keeps the chunk when the buffer holds no
  // storage; else the bytes are copied and the chunk goes back.
  void adopt_chunk(char* chunk, std::size_t cap, std::size_t n);
  // Gives the storage back (to the pool for a chunk) when nothing is buffered.
  void release_if_empty() noexcept {
    if (empty()) release();
  }
  // After a read of `n` bytes into `space` free bytes: a full read asks for
  // large chunks next time, a small one (half a chunk or less) for small.
  void note_read(std::size_t n, std::size_t space) noexcept {
    if (n == space) {
      large_ = true;
    } else if (n <= read_chunk_size / 2) {
      large_ = false;
    }
  }

 private:
  void release() noexcept;

  char* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  bool large_ = false;
};

}  // namespace aio::detail
