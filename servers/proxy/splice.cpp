// servers/proxy/splice.cpp — splice(2) through pooled pipes.
#include "splice.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace proxy {

PipePool::~PipePool() {
  for (auto [r, w] : free_) {
    ::close(r);
    ::close(w);
  }
}

std::pair<int, int> PipePool::take() {
  if (!free_.empty()) {
    auto p = free_.back();
    free_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {-1, -1};
  return {fds[0], fds[1]};
}

void PipePool::give(std::pair<int, int> pipe) {
  if (pipe.first < 0) return;
  if (free_.size() < keep_) {
    free_.push_back(pipe);
    return;
  }
  ::close(pipe.first);
  ::close(pipe.second);
}

SpliceResult splice_once(int from, int to, std::pair<int, int> pipe, std::size_t max, std::size_t& moved,
                         std::string& pending) {
  moved = 0;
  const ssize_t in = ::splice(from, nullptr, pipe.second, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (in == 0) return SpliceResult::eof;
  if (in < 0) return errno == EAGAIN ? SpliceResult::would_block : SpliceResult::failed;
  std::size_t left = static_cast<std::size_t>(in);
  while (left > 0) {
    const ssize_t out = ::splice(pipe.first, nullptr, to, nullptr, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (out > 0) {
      left -= static_cast<std::size_t>(out);
      moved += static_cast<std::size_t>(out);
      continue;
    }
    if (out < 0 && errno != EAGAIN) return SpliceResult::failed;
    // The destination takes nothing now: empty the pipe into `pending`.
    pending.resize(left);
    std::size_t got = 0;
    while (got < left) {
      const ssize_t r = ::read(pipe.first, pending.data() + got, left - got);
      if (r <= 0) return SpliceResult::failed;
      got += static_cast<std::size_t>(r);
    }
    return SpliceResult::destination_full;
  }
  return SpliceResult::moved;
}

}  // namespace proxy
