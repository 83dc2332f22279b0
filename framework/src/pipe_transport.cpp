// The pipe transport behind a subprocess's stdin, stdout and stderr.
#include "pipe_transport.hpp"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>
#include <utility>

namespace aio::detail {
namespace {

using asio::experimental::as_tuple;

// write(2) that reports a reader gone as EPIPE without raising SIGPIPE,
// whose default action would kill the whole program. Sockets have
// MSG_NOSIGNAL; pipes have nothing alike, and asyncio relies on Python
// ignoring SIGPIPE process-wide, a choice a library must not make for its
// program. SIGPIPE from write() is sent to the writing thread, so blocking
// it in this thread around the call and taking the pending one back
// (unless one was pending already) leaves no trace.
ssize_t write_without_sigpipe(int fd, const char* src, std::size_t n) noexcept {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t before;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &before);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  const ssize_t r = ::write(fd, src, std::min<std::size_t>(n, SSIZE_MAX));
  const int err = errno;
  if (r < 0 && err == EPIPE && !was_pending) {
    const timespec no_wait{};
    while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  if (sigismember(&before, SIGPIPE) != 1) pthread_sigmask(SIG_SETMASK, &before, nullptr);
  errno = err;
  return r;
}

class PipeTransport final : public Transport {
 public:
  explicit PipeTransport(asio::posix::stream_descriptor pipe) : pipe_(std::move(pipe)) {
    std::error_code ec;
    pipe_.non_blocking(true, ec);
  }

  asio::any_io_executor get_executor() noexcept override { return pipe_.get_executor(); }
  bool speculative() const noexcept override { return false; }

  asio::awaitable<ReadResult> receive(ReadTarget target) override {
    char* dst = target.dst;
    std::size_t cap = target.cap;
    if (dst == nullptr) {
      const auto space = target.buf->prepare(1);
      dst = space.data();
      cap = space.size();
    }
    auto [ec, n] = co_await pipe_.async_read_some(asio::buffer(dst, cap), as_tuple(asio::use_awaitable));
    if (target.dst == nullptr) {
      target.buf->commit(n);
      target.buf->release_if_empty();
    }
    co_return ReadResult{ec, n};
  }

  // Not speculative: StreamState writes through async_write_all only.
  std::size_t try_write(const asio::const_buffer*, std::size_t, std::error_code& ec) override {
    ec = asio::error::operation_not_supported;
    return 0;
  }
  asio::awaitable<std::error_code> wait_writable() override { co_return asio::error::operation_not_supported; }

  // The flusher that awaits this has no cancellation slot: close() ends
  // the readiness wait (operation_aborted).
  asio::awaitable<std::error_code> async_write_all(const char* src, std::size_t n) override {
    while (n != 0) {
      if (!pipe_.is_open()) co_return asio::error::bad_descriptor;
      const ssize_t r = write_without_sigpipe(pipe_.native_handle(), src, n);
      if (r >= 0) {
        src += r;
        n -= static_cast<std::size_t>(r);
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err != EAGAIN && err != EWOULDBLOCK) co_return std::error_code(err, asio::error::get_system_category());
      auto [ec] = co_await pipe_.async_wait(asio::posix::stream_descriptor::wait_write,
                                            as_tuple(asio::use_awaitable));
      if (ec) co_return ec;
    }
    co_return std::error_code();
  }

  bool can_write_eof() const noexcept override { return true; }
  // A pipe has no half-close: the write end is closed, and the child reads EOF.
  void shutdown_send(std::error_code& ec) override { pipe_.close(ec); }
  void close() noexcept override {
    std::error_code ec;
    pipe_.close(ec);
  }
  std::string peername() const override { return std::string(); }
  std::string sockname() const override { return std::string(); }
  int native_handle() noexcept override { return pipe_.is_open() ? pipe_.native_handle() : -1; }

 private:
  asio::posix::stream_descriptor pipe_;
};

}  // namespace

std::unique_ptr<Transport> make_pipe_transport(asio::posix::stream_descriptor pipe) {
  return std::make_unique<PipeTransport>(std::move(pipe));
}

}  // namespace aio::detail
