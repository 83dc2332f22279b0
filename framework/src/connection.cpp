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
#include <string_view>
#include <vector>

#include <aio/detail/stream_state.hpp>
#include <aio/exceptions.hpp>
#include <aio/timeouts.hpp>

#include "happy_eyeballs.hpp"
#include "owned_fd.hpp"
#include "resolve.hpp"
#include "unix_tls.hpp"

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

// The deadline of one connect: a timer that ends the lookup or closes the
// sockets being connected. Cheaper than wait_for, which runs the attempt
// as a task of its own, and a proxy pays it on every client.
struct ConnectDeadline {
  bool done = false;
  bool fired = false;
  detail::PendingLookup* lookup = nullptr;
  asio::ip::tcp::socket* socket = nullptr;
  detail::PendingConnect* race = nullptr;
};

std::string host_port(const std::string& host, std::uint16_t port) {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out.push_back(':');
  out.append(std::to_string(port));
  return out;
}

// asyncio's choice among the errors of the addresses tried: the one error,
// or one of several that all say the same, or all of them in one message.
[[noreturn]] void throw_connect_failed(const std::string& host, std::uint16_t port,
                                       const std::vector<std::system_error>& errors) {
  if (errors.empty()) throw std::system_error(asio::error::host_not_found, "connect to " + host_port(host, port));
  bool same = true;
  for (const auto& e : errors) same = same && std::string_view(e.what()) == errors.front().what();
  if (same) throw errors.front();
  std::string all;
  for (const auto& e : errors) {
    if (!all.empty()) all.append(", ");
    all.append(e.what());
  }
  throw std::system_error(errors.front().code(),
                          "connect to " + host_port(host, port) + " (Multiple exceptions: " + all + ")");
}

Task<Pair> connect_tcp(std::string host, std::uint16_t port, ConnectOptions options) {
  auto ex = co_await asio::this_coro::executor;
  const auto timeout = options.timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto guard = std::make_shared<ConnectDeadline>();
  asio::steady_timer timer(ex);
  if (timeout.count() > 0) {
    timer.expires_at(deadline);
    auto on_timeout = [guard](std::error_code ec) {
      if (ec || guard->done) return;
      guard->fired = true;
      std::error_code ignored;
      if (guard->lookup) guard->lookup->abort();
      if (guard->socket) guard->socket->close(ignored);
      if (guard->race) guard->race->abort();
    };
    timer.async_wait(on_timeout);
  }
  struct Disarm {  // on every way out: the timer's handler must not touch this frame
    ConnectDeadline& g;
    asio::steady_timer& t;
    ~Disarm() {
      g.done = true;
      g.lookup = nullptr;
      g.socket = nullptr;
      g.race = nullptr;
      t.cancel();
    }
  } disarm{*guard, timer};
  auto timed_out = [&] { return TimeoutError("connect to " + host_port(host, port) + " timed out"); };

  std::vector<asio::ip::tcp::endpoint> endpoints;
  std::vector<asio::ip::tcp::endpoint> local;
  // An address literal is resolved here, without a coroutine frame: the
  // common case of a proxy, which pays it on every client.
  asio::ip::tcp::endpoint literal;
  try {
    if (detail::literal_endpoint(host, port, options.family, literal)) {
      endpoints.push_back(literal);
    } else {
      auto found = co_await detail::resolve_tcp(host, port, options.family, 0, &guard->lookup);
      endpoints = std::move(found);
    }
    if (options.local_addr) {
      std::string local_host = options.local_addr->first;
      const std::uint16_t local_port = options.local_addr->second;
      auto found = co_await detail::resolve_tcp(std::move(local_host), local_port, options.family, 0, &guard->lookup);
      local = std::move(found);
    }
  } catch (const std::system_error&) {
    if (guard->fired) throw timed_out();
    throw;
  }
  const auto& delay = options.happy_eyeballs_delay;
  const std::size_t interleave = options.interleave.value_or(delay ? 1 : 0);
  if (interleave != 0 && endpoints.size() > 1) endpoints = detail::interleave_families(endpoints, interleave);

  std::vector<std::system_error> errors;
  std::optional<asio::ip::tcp::socket> sock;
  if (delay && endpoints.size() > 1) {
    auto won = co_await detail::staggered_connect(std::move(endpoints), std::move(local), *delay, errors, &guard->race);
    if (guard->fired) throw timed_out();
    sock = std::move(won);
  } else {
    for (const auto& ep : endpoints) {
      asio::ip::tcp::socket s(ex);
      if (!detail::open_and_bind(s, ep, local, errors)) continue;
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
      errors.emplace_back(ec, "connect to " + detail::format_endpoint(ep));
    }
  }
  if (!sock) throw_connect_failed(host, port, errors);
  // g++ 12: no temporaries inside the co_await expression; name them.
  std::string hostname = options.server_hostname.empty() ? host : options.server_hostname;
  auto handshake_timeout = std::chrono::steady_clock::duration(std::chrono::seconds(60));
  if (timeout.count() > 0) {
    handshake_timeout = deadline - std::chrono::steady_clock::now();
    if (handshake_timeout.count() <= 0) throw timed_out();
  }
  auto transport =
      co_await tcp_client_transport(std::move(*sock), std::move(options.ssl), std::move(hostname), handshake_timeout);
  auto result = make_pair_for(options.limit, std::move(transport));
  co_return result;
}

// The client transport over a connected Unix socket: TLS when `ssl` is set
// (asyncio allows it; server_hostname names the peer), else plain.
Task<std::unique_ptr<detail::Transport>> unix_client_transport(asio::local::stream_protocol::socket sock,
                                                               std::shared_ptr<asio::ssl::context> ssl,
                                                               std::string server_hostname) {
  if (!ssl) co_return detail::make_unix_transport(std::move(sock));
  auto transport = detail::make_unix_tls_transport(std::move(sock), std::move(ssl));
  const auto handshake_timeout = std::chrono::steady_clock::duration(std::chrono::seconds(60));
  co_await detail::unix_tls_handshake(*transport, asio::ssl::stream_base::client, server_hostname,
                                      handshake_timeout);
  co_return transport;
}

Task<Pair> connect_unix(std::string path, std::size_t limit, std::shared_ptr<asio::ssl::context> ssl,
                        std::string server_hostname) {
  if (ssl && server_hostname.empty()) throw ValueError("you have to pass server_hostname when using ssl");
  auto ex = co_await asio::this_coro::executor;
  asio::local::stream_protocol::socket sock(ex);
  const asio::local::stream_protocol::endpoint ep(path);
  co_await sock.async_connect(ep, aio::use_task);
  auto transport = co_await unix_client_transport(std::move(sock), std::move(ssl), std::move(server_hostname));
  auto result = make_pair_for(limit, std::move(transport));
  co_return result;
}

using detail::OwnedFd;

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
    // Refused, not ignored: a caller who set ssl expects the bytes encrypted
    // (open_unix_connection does run TLS over a Unix socket).
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
    auto made = co_await tcp_client_transport(std::move(sock), std::move(ssl), std::move(server_hostname), no_deadline);
    transport = std::move(made);
  }
  auto result = make_pair_for(limit, std::move(transport));
  co_return result;
}

}  // namespace

// Not coroutines: they only choose how to run the attempt.
Task<Pair> open_connection(std::string host, std::uint16_t port, const ConnectOptions& options) {
  return connect_tcp(std::move(host), port, options);
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
  auto attempt = connect_unix(std::move(path), options.limit, options.ssl, options.server_hostname);
  if (options.timeout.count() > 0) return wait_for(std::move(attempt), options.timeout);
  return attempt;
}

Task<Pair> open_unix_connection(std::string path) {
  const ConnectOptions options;
  return open_unix_connection(std::move(path), options);
}

}  // namespace aio
