// open_connection and open_unix_connection, as asyncio's.
#include <aio/connection.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>

#include <optional>
#include <vector>

#include <aio/detail/stream_state.hpp>
#include <aio/exceptions.hpp>
#include <aio/timeouts.hpp>

namespace aio {
namespace {

using Pair = std::pair<StreamReader, StreamWriter>;

Pair make_pair_for(std::size_t limit, std::unique_ptr<detail::Transport> t) {
  auto st = std::make_shared<detail::StreamState>(limit, std::move(t), false);
  return Pair(StreamReader(st), StreamWriter(st));
}

// The client transport over a connected TCP socket: TLS (handshake done
// within `handshake_timeout`, `hostname` for SNI and verification) when
// `ssl` is set, else plain.
Task<std::unique_ptr<detail::Transport>> tcp_client_transport(asio::ip::tcp::socket sock,
                                                              std::shared_ptr<asio::ssl::context> ssl,
                                                              std::string hostname,
                                                              std::chrono::steady_clock::duration handshake_timeout) {
  if (!ssl) co_return detail::make_tcp_transport(std::move(sock));
  std::error_code ec;
  sock.set_option(asio::ip::tcp::no_delay(true), ec);
  auto stream = std::make_unique<detail::TlsStream>(std::move(sock), *ssl);
  detail::prepare_tls_client(*stream, hostname);
  co_await detail::tls_handshake(*stream, asio::ssl::stream_base::client, handshake_timeout);
  co_return detail::make_tls_transport(std::move(stream), ssl);
}

// The deadline of one connect: a timer that cancels the lookup or closes
// the socket being connected. Cheaper than wait_for, which runs the attempt
// as a task of its own, and a proxy pays it on every client.
struct ConnectDeadline {
  bool done = false;
  bool fired = false;
  asio::ip::tcp::resolver* resolver = nullptr;
  asio::ip::tcp::socket* socket = nullptr;
};

Task<Pair> connect_tcp(std::string host, std::uint16_t port, std::size_t limit,
                       std::shared_ptr<asio::ssl::context> ssl, std::string server_hostname,
                       std::chrono::steady_clock::duration timeout) {
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto guard = std::make_shared<ConnectDeadline>();
  asio::steady_timer timer(ex);
  if (timeout.count() > 0) {
    timer.expires_at(deadline);
    auto on_timeout = [guard](std::error_code ec) {
      if (ec || guard->done) return;
      guard->fired = true;
      std::error_code ignored;
      if (guard->resolver) guard->resolver->cancel();
      if (guard->socket) guard->socket->close(ignored);
    };
    timer.async_wait(on_timeout);
  }
  struct Disarm {  // on every way out: the timer's handler must not touch this frame
    ConnectDeadline& g;
    asio::steady_timer& t;
    ~Disarm() {
      g.done = true;
      g.resolver = nullptr;
      g.socket = nullptr;
      t.cancel();
    }
  } disarm{*guard, timer};
  auto timed_out = [&] { return TimeoutError("connect to " + host + ":" + std::to_string(port) + " timed out"); };

  std::vector<asio::ip::tcp::endpoint> endpoints;
  // An address literal needs no resolver: Asio's asks getaddrinfo on a
  // thread of its own, a round trip between threads on every connect.
  std::error_code literal;
  const auto address = asio::ip::make_address(host, literal);
  if (!literal) {
    endpoints.emplace_back(address, port);
  } else {
    asio::ip::tcp::resolver resolver(ex);
    guard->resolver = &resolver;
    // g++ 12: a temporary inside a co_await expression is destroyed twice; name it.
    const std::string service = std::to_string(port);
    std::optional<asio::ip::tcp::resolver::results_type> results;
    try {
      auto found = co_await resolver.async_resolve(host, service, aio::use_task);
      results.emplace(std::move(found));
    } catch (const std::system_error&) {
      guard->resolver = nullptr;
      if (guard->fired) throw timed_out();
      throw;
    }
    guard->resolver = nullptr;
    for (const auto& entry : *results) endpoints.push_back(entry.endpoint());
  }
  std::error_code last = asio::error::host_not_found;
  std::optional<asio::ip::tcp::socket> sock;
  for (const auto& ep : endpoints) {
    asio::ip::tcp::socket s(ex);
    guard->socket = &s;
    std::error_code ec;
    try {
      co_await s.async_connect(ep, aio::use_task);
    } catch (const std::system_error& e) {
      ec = e.code();
    }
    guard->socket = nullptr;
    if (guard->fired) throw timed_out();
    if (!ec) {
      sock.emplace(std::move(s));
      break;
    }
    last = ec;
  }
  if (!sock) throw std::system_error(last, "connect to " + host + ":" + std::to_string(port));
  // g++ 12: no temporaries inside the co_await expression; name them.
  std::string hostname = server_hostname.empty() ? host : server_hostname;
  auto handshake_timeout = std::chrono::steady_clock::duration(std::chrono::seconds(60));
  if (timeout.count() > 0) {
    handshake_timeout = deadline - std::chrono::steady_clock::now();
    if (handshake_timeout.count() <= 0) throw timed_out();
  }
  auto transport =
      co_await tcp_client_transport(std::move(*sock), std::move(ssl), std::move(hostname), handshake_timeout);
  auto result = make_pair_for(limit, std::move(transport));
  co_return result;
}

Task<Pair> connect_unix(std::string path, std::size_t limit, bool ssl) {
  // asyncio can run TLS over a Unix socket; aio's TLS transport is TCP only.
  // Refused, not ignored: a caller who set ssl expects the bytes encrypted.
  if (ssl) throw ValueError("open_unix_connection: TLS over a Unix socket is not supported");
  auto ex = co_await asio::this_coro::executor;
  asio::local::stream_protocol::socket sock(ex);
  co_await sock.async_connect(asio::local::stream_protocol::endpoint(path), aio::use_task);
  auto result = make_pair_for(limit, detail::make_unix_transport(std::move(sock)));
  co_return result;
}

// A descriptor the caller handed over: closed unless released, so that an
// error, a cancellation or a Task dropped unawaited cannot leak it.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::system_category(), std::string("open_connection(fd): ") + what);
}

// The socket's family after checking that it is a connected stream socket.
int connected_stream_family(int fd) {
  if (fd < 0) throw_errno(EBADF, "invalid descriptor");
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) throw_errno(errno, "getsockopt(SO_TYPE)");
  if (type != SOCK_STREAM) throw ValueError("A Stream Socket was expected, got type " + std::to_string(type));
  sockaddr_storage addr{};
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno(errno, "getsockname");
  const int family = addr.ss_family;
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
    throw ValueError("open_connection(fd): unsupported address family " + std::to_string(family));
  len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno(errno, "getpeername");
  return family;
}

Task<Pair> adopt_socket(OwnedFd fd, std::size_t limit, std::shared_ptr<asio::ssl::context> ssl,
                        std::string server_hostname) {
  auto ex = co_await asio::this_coro::executor;
  int family = 0;
  try {
    family = connected_stream_family(fd.get());
    if (ssl && family == AF_UNIX) throw ValueError("open_connection(fd): TLS needs a TCP socket, got AF_UNIX");
    if (ssl && server_hostname.empty())
      throw ValueError("open_connection(fd): server_hostname is required with ssl");
  } catch (...) {
    fd.reset();  // the caller handed it over
    throw;
  }
  std::unique_ptr<detail::Transport> transport;
  if (family == AF_UNIX) {
    asio::local::stream_protocol::socket sock(ex);
    std::error_code ec;
    sock.assign(asio::local::stream_protocol(), fd.get(), ec);
    if (ec) {
      fd.reset();
      throw std::system_error(ec, "open_connection(fd): assign");
    }
    fd.release();
    transport = detail::make_unix_transport(std::move(sock));
  } else {
    asio::ip::tcp::socket sock(ex);
    std::error_code ec;
    sock.assign(family == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), fd.get(), ec);
    if (ec) {
      fd.reset();
      throw std::system_error(ec, "open_connection(fd): assign");
    }
    fd.release();
    const auto no_deadline = std::chrono::steady_clock::duration(std::chrono::seconds(60));
    transport = co_await tcp_client_transport(std::move(sock), std::move(ssl), std::move(server_hostname), no_deadline);
  }
  auto result = make_pair_for(limit, std::move(transport));
  co_return result;
}

}  // namespace

// Not coroutines: they only choose how to run the attempt.
Task<Pair> open_connection(std::string host, std::uint16_t port, const ConnectOptions& options) {
  return connect_tcp(std::move(host), port, options.limit, options.ssl, options.server_hostname, options.timeout);
}

Task<Pair> open_connection(std::string host, std::uint16_t port) {
  const ConnectOptions options;
  return open_connection(std::move(host), port, options);
}

Task<Pair> open_connection(int fd, const ConnectOptions& options) {
  auto attempt = adopt_socket(OwnedFd(fd), options.limit, options.ssl, options.server_hostname);
  if (options.timeout.count() > 0) return wait_for(std::move(attempt), options.timeout);
  return attempt;
}

Task<Pair> open_connection(int fd) {
  const ConnectOptions options;
  return open_connection(fd, options);
}

Task<Pair> open_unix_connection(std::string path, const ConnectOptions& options) {
  auto attempt = connect_unix(std::move(path), options.limit, options.ssl != nullptr);
  if (options.timeout.count() > 0) return wait_for(std::move(attempt), options.timeout);
  return attempt;
}

Task<Pair> open_unix_connection(std::string path) {
  const ConnectOptions options;
  return open_unix_connection(std::move(path), options);
}

}  // namespace aio
