// StreamState::sendfile: asyncio's loop.sendfile over a stream. sendfile(2)
// on plain sockets, blocks written through the stream otherwise
// (base_events.py's _sendfile_native and _sendfile_fallback).
#include <aio/detail/stream_state.hpp>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <exception>
#include <memory>
#include <string>

#include <aio/exceptions.hpp>

#include "streams_sendfile.hpp"

namespace aio::detail {
namespace {

// One sendfile(2) call moves at most this much (as asyncio caps it); a
// non-blocking socket takes no more than its buffer's room anyway.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
// The fallback's blocks: the default high-water mark, so that each drain()
// lets one block go out while the next is read.
constexpr std::size_t kFallbackBlock = 64 * 1024;

// sendfile(2) without SIGPIPE: it has no MSG_NOSIGNAL, so SIGPIPE is blocked
// in this thread for the call and, when the call raised it, taken back
// before it is unblocked (unless one was already pending: not ours).
ssize_t sendfile_nosignal(int out_fd, int in_fd, off_t* offset, std::size_t n) {
  sigset_t pipe_set;
  sigset_t old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  const ssize_t r = ::sendfile(out_fd, in_fd, offset, n);
  const int err = errno;
  if (r < 0 && err == EPIPE && !was_pending) {
    const timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = err;
  return r;
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// What is left to send, for get_write_buffer_size(): `count`, else the rest
// of a regular file; never 0 while the sendfile runs.
std::size_t left_to_send(int fd, std::uint64_t offset, std::uint64_t count, std::size_t total) {
  std::uint64_t left = 0;
  if (count != 0) {
    left = count - total;
  } else if (struct stat sb{}; ::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
                               static_cast<std::uint64_t>(sb.st_size) > offset + total) {
    left = static_cast<std::uint64_t>(sb.st_size) - offset - total;
  }
  return static_cast<std::size_t>(std::max<std::uint64_t>(left, 1));
}

// Leaves the file's position after what was sent, as asyncio does
// (_sock_sendfile_update_filepos), however the call ends.
struct FilePosition {
  int fd;
  std::uint64_t offset;
  const std::size_t& total;
  ~FilePosition() {
    if (total != 0) ::lseek(fd, static_cast<off_t>(offset + total), SEEK_SET);
  }
};

}  // namespace

SendfileWait::SendfileWait(const asio::any_io_executor& ex, int socket_fd) : dup_(ex) {
  const int fd = ::fcntl(socket_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "sendfile: dup");
  std::error_code ec;
  dup_.assign(fd, ec);
  if (ec) {
    ::close(fd);
    throw std::system_error(ec, "sendfile: register");
  }
}

SendfileWait::~SendfileWait() { stop(); }

asio::awaitable<std::error_code> SendfileWait::writable() {
  if (!dup_.is_open()) co_return asio::error::operation_aborted;
  auto [ec] = co_await dup_.async_wait(asio::posix::stream_descriptor::wait_write,
                                       asio::experimental::as_tuple(asio::use_awaitable));
  co_return ec;
}

void SendfileWait::stop() noexcept {
  std::error_code ignored;
  dup_.close(ignored);  // deregisters first: Asio takes an assigned descriptor for a possible duplicate
}

asio::awaitable<std::size_t> StreamState::sendfile(int fd, std::uint64_t offset, std::uint64_t count) {
  co_await check_cancelled();
  if (!transport) throw RuntimeError("sendfile is not supported for a stream without a transport");
  if (closing || lost) throw RuntimeError("Transport is closing");
  if (eof_pending_ || eof_written_) throw RuntimeError("Cannot call write() after write_eof()");
  if (sendfile_active_) throw RuntimeError("another sendfile is in progress");
  std::size_t total = 0;
  const FilePosition position{fd, offset, total};
  if (transport->speculative()) {
    // asyncio's _make_empty_waiter: the file goes after everything written.
    co_await flushed();
    if (closing || lost) throw RuntimeError("Transport is closing");
    if (sendfile_active_) throw RuntimeError("another sendfile is in progress");
    bool unavailable = false;
    co_await sendfile_native(fd, offset, count, total, unavailable);
    if (!unavailable) co_return total;
  }
  co_await sendfile_fallback(fd, offset, count, total);
  co_return total;
}

// sendfile(2) until done, waiting for room on EAGAIN. `unavailable`: it
// failed before sending anything, as for a file it cannot read (asyncio's
// SendfileNotAvailableError): the caller falls back.
asio::awaitable<void> StreamState::sendfile_native(int fd, std::uint64_t offset, std::uint64_t count,
                                                   std::size_t& total, bool& unavailable) {
  struct Active {
    StreamState& st;
    std::unique_ptr<SendfileWait> wait;
    // Also when the frame is destroyed unresumed (the loop shut down):
    // only the flags, no closing.
    ~Active() {
      if (st.waiters_) st.waiters_->sendfile = nullptr;
      st.sendfile_active_ = false;
      st.flushing_ = false;
      st.inflight_ = 0;
    }
  };
  sendfile_active_ = true;
  flushing_ = true;
  inflight_ = left_to_send(fd, offset, count, total);
  std::exception_ptr failure;
  {
    Active active{*this, nullptr};
    try {
      for (;;) {
        if (lost) throw ConnectionResetError("Connection lost");
        if (count != 0 && total == count) break;
        const int sock = transport->native_handle();
        if (sock < 0) throw ConnectionResetError("Connection lost");
        off_t at = static_cast<off_t>(offset + total);
        const std::size_t chunk = count != 0 ? std::min<std::uint64_t>(count - total, kMaxChunk) : kMaxChunk;
        const ssize_t n = sendfile_nosignal(sock, fd, &at, chunk);
        if (n > 0) {
          total += static_cast<std::size_t>(n);
          sent(static_cast<std::size_t>(n));
          inflight_ = left_to_send(fd, offset, count, total);
          continue;
        }
        if (n == 0) break;  // the file's end
        const int err = errno;
        if (err == EINTR) continue;
        if (would_block(err)) {
          if (!active.wait) {
            active.wait = std::make_unique<SendfileWait>(transport->get_executor(), sock);
            waiters().sendfile = active.wait.get();
          }
          const std::error_code ec = co_await active.wait->writable();
          if (lost) throw ConnectionResetError("Connection lost");
          if (ec == asio::error::operation_aborted) co_await check_cancelled();
          continue;  // writable, or a wake-up with nothing to say: try again
        }
        if (total == 0) {
          unavailable = true;
          break;
        }
        // Asio's category: is_connection_lost compares with Asio's errors.
        const std::error_code ec(err, asio::error::get_system_category());
        if (is_connection_lost(ec)) {
          fatal_write_error(ec);
          throw ConnectionResetError(ec.message());
        }
        throw std::system_error(ec, "sendfile");
      }
    } catch (...) {
      failure = std::current_exception();
    }
  }
  end_native_sendfile();
  if (failure) std::rethrow_exception(failure);
}

// What the flusher does when it stops: wake drain() and flushed() waiters,
// then the write_eof or close() that waited for the file.
void StreamState::end_native_sendfile() noexcept {
  if (lost) return;
  try {
    after_flush_progress();
    if (write_buffer_size() != 0) {
      start_flush();
    } else {
      flush_done();
    }
  } catch (...) {
    // start_flush spawns (it may fail to allocate): the connection cannot flush.
    connection_lost(std::current_exception());
  }
}

// Blocks read here and written through the stream, drain() before each
// (as asyncio's _sendfile_fallback) and after the last, so that a lost
// connection is reported.
asio::awaitable<void> StreamState::sendfile_fallback(int fd, std::uint64_t offset, std::uint64_t count,
                                                     std::size_t& total) {
  std::string block(kFallbackBlock, '\0');
  bool seekable = true;
  for (;;) {
    const std::size_t want =
        count != 0 ? std::min<std::uint64_t>(kFallbackBlock, count - total) : kFallbackBlock;
    if (want == 0) break;
    ssize_t n = seekable ? ::pread(fd, block.data(), want, static_cast<off_t>(offset + total))
                         : ::read(fd, block.data(), want);
    if (n < 0 && errno == ESPIPE && offset == 0 && total == 0) {
      seekable = false;  // a pipe: read it as it comes
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::system_category(), "sendfile: read");
    if (n == 0) break;
    co_await drain();
    write(std::string_view(block.data(), static_cast<std::size_t>(n)));
    // A block the connection failed on is not counted as sent.
    if (lost) {
      raise_if_error();
      throw ConnectionResetError("Connection lost");
    }
    total += static_cast<std::size_t>(n);
  }
  co_await drain();
}

}  // namespace aio::detail
