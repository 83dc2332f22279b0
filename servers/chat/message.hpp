// servers/chat/message.hpp — internal to aio-chat. Lines formatted once and shared by every receiver.
//
// A Chunk is a buffer of fixed capacity that lines are appended to and never
// moved; a Line is one line ("\n" included) in a chunk, holding a reference
// to it. A room formats every line it broadcasts into its current chunk
// (LineBuffer), so the lines one receiver gets between two writes mostly sit
// side by side: its outbox merges them into one span (Line::extend), its
// writer hands the kernel one iovec for the lot instead of one per line, and
// the reference is counted once per span instead of once per line. At half
// the chat benchmark's peak that was a tenth of the server's time (the
// per-line atomic counts of shared_ptr and the kernel's per-iovec copy loop).
//
// One loop owns a service, so the count is a plain integer: a Line must not
// cross threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>

namespace chat {

class Chunk {
 public:
  explicit Chunk(std::size_t capacity) : bytes_(new char[capacity]), capacity_(capacity) {}
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  std::size_t size() const { return size_; }
  std::size_t space() const { return capacity_ - size_; }
  const char* data() const { return bytes_.get(); }

  // Appends the parts and "\n"; returns where the line starts. Needs
  // space() >= their size + 1.
  template <class... Parts>
  std::size_t append_line(const Parts&... parts) {
    const std::size_t begin = size_;
    (put(std::string_view(parts)), ...);
    bytes_[size_++] = '\n';
    return begin;
  }

  // Reuses the bytes; only when nothing else refers to them.
  void rewind() { size_ = 0; }

 private:
  friend class ChunkRef;
  void put(std::string_view s) {
    s.copy(bytes_.get() + size_, s.size());
    size_ += s.size();
  }

  std::unique_ptr<char[]> bytes_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  std::size_t refs_ = 0;
};

// A counted reference to a Chunk (an intrusive pointer, single-threaded).
class ChunkRef {
 public:
  ChunkRef() = default;
  explicit ChunkRef(Chunk* c) : p_(c) { ++p_->refs_; }
  ChunkRef(const ChunkRef& o) : p_(o.p_) {
    if (p_) ++p_->refs_;
  }
  ChunkRef(ChunkRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ChunkRef& operator=(ChunkRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ChunkRef() {
    if (p_ && --p_->refs_ == 0) destroy(p_);
  }

  Chunk* get() const { return p_; }
  Chunk* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  bool unique() const { return p_ && p_->refs_ == 1; }

 private:
  // Out of line: g++ 12 at -O3 follows an inlined delete into a caller's
  // later unique() on another reference to the same chunk and reports a
  // use after free (-Wuse-after-free) that the count rules out.
  [[gnu::noinline]] static void destroy(Chunk* c) noexcept { delete c; }

  Chunk* p_ = nullptr;
};

// One or more whole lines, back to back in one chunk.
struct Line {
  ChunkRef chunk;
  std::size_t begin = 0;
  std::size_t end = 0;

  std::size_t size() const { return end - begin; }
  std::string_view text() const { return {chunk->data() + begin, size()}; }

  // Takes `next` in when it follows this span directly in the same chunk.
  bool extend(const Line& next) {
    if (chunk.get() != next.chunk.get() || end != next.begin) return false;
    end = next.end;
    return true;
  }
};

template <class... Parts>
std::size_t line_size(const Parts&... parts) {
  return (std::string_view(parts).size() + ... + 1);
}

// A line in a chunk of its own: replies and notices for one client.
template <class... Parts>
Line format_line(const Parts&... parts) {
  ChunkRef c(new Chunk(line_size(parts...)));
  const std::size_t begin = c->append_line(parts...);
  const std::size_t end = c->size();
  return Line{std::move(c), begin, end};
}

// Where a room formats its broadcasts: one chunk filled line after line,
// replaced by a fresh one when full, rewound when every line in it has been
// written (then the next turn's lines land in memory that is still in cache).
class LineBuffer {
 public:
  static constexpr std::size_t chunk_capacity = 64 * 1024;

  template <class... Parts>
  Line format(const Parts&... parts) {
    const std::size_t n = line_size(parts...);
    if (open_.unique()) open_->rewind();
    if (!open_ || open_->space() < n) open_ = ChunkRef(new Chunk(std::max(chunk_capacity, n)));
    const std::size_t begin = open_->append_line(parts...);
    return Line{open_, begin, open_->size()};
  }

 private:
  ChunkRef open_;
};

}  // namespace chat
