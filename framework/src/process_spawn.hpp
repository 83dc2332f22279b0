// framework/src/process_spawn.hpp — private. Starting a child for create_subprocess_exec.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include <aio/subprocess.hpp>

namespace aio::detail {

// A descriptor closed when dropped, unless released.
class ChildFd {
 public:
  ChildFd() = default;
  explicit ChildFd(int fd) noexcept : fd_(fd) {}
  ChildFd(ChildFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ChildFd& operator=(ChildFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~ChildFd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A started child: its pid, its pidfd, and the parent's ends of its pipes
// (-1 where the stream is not piped), all close-on-exec and blocking
// (the pipe transport makes its end non-blocking).
struct SpawnedChild {
  pid_t pid = -1;
  ChildFd pidfd;
  ChildFd stdin_pipe;
  ChildFd stdout_pipe;
  ChildFd stderr_pipe;
};

// Throws: as create_subprocess_exec. Nothing is left behind on error (no
// descriptor, no child).
SpawnedChild spawn_child(const std::vector<std::string>& argv, const SubprocessOptions& options);

}  // namespace aio::detail
