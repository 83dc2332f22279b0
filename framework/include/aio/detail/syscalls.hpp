// aio/detail/syscalls.hpp — internal. The hot path's recv and send, without glibc's cancellation wrappers.
//
// Why: in a process with more than one thread, glibc's recv() and send()
// (cancellation points) switch the calling thread to asynchronous
// cancellation around the system call and back: two atomic
// read-modify-writes per call, four full barriers per echoed message, ~60
// instructions. aio never cancels threads with pthread_cancel, so the
// per-message socket calls go through syscall(), which is no cancellation
// point. Same results and errno as recv(fd, buf, n, 0) and
// send(fd, buf, n, MSG_NOSIGNAL).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace aio::detail {

inline ssize_t recv_once(int fd, void* buf, std::size_t n) noexcept {
#if defined(__linux__) && defined(SYS_recvfrom)
  return ::syscall(SYS_recvfrom, fd, buf, n, 0, nullptr, nullptr);
#else
  return ::recv(fd, buf, n, 0);
#endif
}

inline ssize_t send_once(int fd, const void* buf, std::size_t n) noexcept {
#if defined(__linux__) && defined(SYS_sendto)
  return ::syscall(SYS_sendto, fd, buf, n, MSG_NOSIGNAL, nullptr, 0);
#else
  return ::send(fd, buf, n, MSG_NOSIGNAL);
#endif
}

}  // namespace aio::detail
