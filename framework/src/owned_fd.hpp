// framework/src/owned_fd.hpp — private. A descriptor closed when dropped, unless released.
//
// So that an error, a cancellation or a Task dropped unawaited cannot leak
// what open_connection(fd) or start_server(fd) took ownership of, a file
// sendfile opened, or the pipe ends and pidfd of a child being started.
#pragma once

#include <unistd.h>

#include <utility>

namespace aio::detail {

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~OwnedFd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace aio::detail
