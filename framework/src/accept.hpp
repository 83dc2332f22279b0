// Taking connections off a listening socket with accept4(2).
//
// Asio's async_accept accepts with accept(2), then makes the socket
// non-blocking with an ioctl on its first operation, and marks it as possibly
// dup()ed, so that its close first removes it from epoll. A descriptor that
// accept4 returns is ours alone and non-blocking from birth: adopt_accepted
// tells Asio so, which saves two system calls per connection.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>

#include <system_error>

namespace aio::detail {

// The next connection queued on `listener`, non-blocking and close-on-exec;
// -1 with errno set when there is none (EAGAIN) or accept4 failed.
int accept_nonblocking(int listener) noexcept;

// A socket of `protocol` that owns `fd` (a descriptor accept_nonblocking
// returned), registered with the executor's reactor. On failure `fd` is
// closed and `ec` says why.
asio::ip::tcp::socket adopt_accepted(const asio::any_io_executor& ex, const asio::ip::tcp& protocol, int fd,
                                     std::error_code& ec);
asio::local::stream_protocol::socket adopt_accepted(const asio::any_io_executor& ex,
                                                    const asio::local::stream_protocol& protocol, int fd,
                                                    std::error_code& ec);

}  // namespace aio::detail
