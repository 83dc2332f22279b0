// accept4(2) and sockets Asio knows to be non-blocking and not shared
// (accept.hpp). The socket's state bits are a private member of Asio 1.22's,
// reached as private_access.hpp describes.
#include "accept.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <type_traits>

#include <aio/detail/private_access.hpp>

namespace aio::detail {
namespace {

template <class Protocol>
using Socket = asio::basic_stream_socket<Protocol, asio::any_io_executor>;

template <class Protocol>
using Impl = asio::detail::io_object_impl<asio::detail::reactive_socket_service<Protocol>, asio::any_io_executor>
    asio::basic_socket<Protocol, asio::any_io_executor>::*;

struct TcpImpl {
  using type = Impl<asio::ip::tcp>;
  friend type member_of(TcpImpl);
};
struct LocalImpl {
  using type = Impl<asio::local::stream_protocol>;
  friend type member_of(LocalImpl);
};
template struct Grant<TcpImpl, &asio::basic_socket<asio::ip::tcp, asio::any_io_executor>::impl_>;
template struct Grant<LocalImpl, &asio::basic_socket<asio::local::stream_protocol, asio::any_io_executor>::impl_>;

template <class Protocol>
auto& socket_impl(Socket<Protocol>& socket) {
  if constexpr (std::is_same_v<Protocol, asio::ip::tcp>)
    return (socket.*member_of(TcpImpl{})).get_implementation();
  else
    return (socket.*member_of(LocalImpl{})).get_implementation();
}

template <class Protocol>
Socket<Protocol> adopt(const asio::any_io_executor& ex, const Protocol& protocol, int fd, std::error_code& ec) {
  Socket<Protocol> socket(ex);
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return socket;
  }
  // assign() cannot know what accept4 did: the socket is non-blocking
  // already, as the user asked (non_blocking() is true, so that the
  // transport's direct reads see EAGAIN) and as Asio needs (no ioctl before
  // its first operation), and no other descriptor refers to it (its close
  // need not first take it out of epoll).
  auto& state = socket_impl(socket).state_;
  state = static_cast<asio::detail::socket_ops::state_type>((state | asio::detail::socket_ops::non_blocking) &
                                                             ~asio::detail::socket_ops::possible_dup);
  return socket;
}

}  // namespace

int accept_nonblocking(int listener) noexcept {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    // A connection reset while queued is the peer's business, not an error
    // of the listener's (Asio's accept retries it too).
    if (fd < 0 && (errno == ECONNABORTED || errno == EINTR)) continue;
    return fd;
  }
}

asio::ip::tcp::socket adopt_accepted(const asio::any_io_executor& ex, const asio::ip::tcp& protocol, int fd,
                                     std::error_code& ec) {
  return adopt(ex, protocol, fd, ec);
}

asio::local::stream_protocol::socket adopt_accepted(const asio::any_io_executor& ex,
                                                    const asio::local::stream_protocol& protocol, int fd,
                                                    std::error_code& ec) {
  return adopt(ex, protocol, fd, ec);
}

}  // namespace aio::detail
