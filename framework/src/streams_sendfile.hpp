// framework/src/streams_sendfile.hpp — private. The writability wait of a native sendfile.
//
// Why not the transport's wait_writable(): that wait goes through aio's
// socket events, which take no cancellation (the flusher needs none: close()
// ends it), and a sendfile must stop when its task is cancelled. So the
// sendfile waits on a duplicate of the socket's descriptor registered with
// Asio's reactor, whose waits honour the task's cancellation slot (epoll
// keeps the duplicate's registration apart from the socket's). The
// duplicate keeps the connection open while it exists: when the connection
// is lost, the stream state stops the wait, closing it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <system_error>

namespace aio::detail {

class SendfileWait {
 public:
  // Throws: std::system_error when the descriptor cannot be duplicated.
  SendfileWait(const asio::any_io_executor& ex, int socket_fd);
  SendfileWait(const SendfileWait&) = delete;
  SendfileWait& operator=(const SendfileWait&) = delete;
  ~SendfileWait();

  // Until the socket has room; operation_aborted when the task is cancelled
  // or the wait stopped.
  asio::awaitable<std::error_code> writable();
  void stop() noexcept;

 private:
  asio::posix::stream_descriptor dup_;
};

}  // namespace aio::detail
