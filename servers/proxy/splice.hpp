// servers/proxy/splice.hpp — moving bytes socket to socket in the kernel (Linux splice through a pipe).
//
// With `--splice on` a relay between two plain TCP sockets moves a large
// transfer with splice(2) (socket → pipe → socket) instead of recv into the
// proxy's memory and send out of it, as HAProxy's `option splice-auto`
// does: it splices only after a read came back large (more is likely
// waiting), so ping-pong traffic keeps the one-recv-one-send path, and it
// falls back to that path whenever the kernel has nothing to give or the
// destination takes nothing. Pipes come from a per-loop pool and go back
// to it once empty, so an idle relay holds no pipe (two descriptors each).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace proxy {

// Pipes for splice(), per loop. Not thread-safe.
class PipePool {
 public:
  explicit PipePool(std::size_t keep = 64) : keep_(keep) {}
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  ~PipePool();

  // An empty pipe {read end, write end}; {-1, -1} when none can be made (EMFILE).
  std::pair<int, int> take();
  // Gives back an empty pipe (kept while fewer than `keep` are idle, else closed).
  void give(std::pair<int, int> pipe);
  std::size_t idle() const noexcept { return free_.size(); }

 private:
  std::size_t keep_;
  std::vector<std::pair<int, int>> free_;
};

enum class SpliceResult { moved, would_block, eof, destination_full, failed };

// One splice of up to `max` bytes from socket `from` to socket `to`
// through `pipe`, both sockets non-blocking. `moved` is how many bytes
// reached `to`. On destination_full, `pending` holds the bytes that are
// still in the pipe (read back out of it, so the pipe is empty again) for
// the caller to write the ordinary way. On failed, errno tells why.
SpliceResult splice_once(int from, int to, std::pair<int, int> pipe, std::size_t max, std::size_t& moved,
                         std::string& pending);

}  // namespace proxy
