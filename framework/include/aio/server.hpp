// aio/server.hpp — public. start_server, start_unix_server and Server, as asyncio's base_events.Server.
//
//   auto handle = [](aio::StreamReader r, aio::StreamWriter w) -> aio::Task<> {
//     while (true) {
//       auto data = co_await r.read_some();
//       if (data.empty()) break;
//       w.write(data);
//       co_await w.drain();
//     }
//   };
//   auto server = co_await aio::start_server(handle, "127.0.0.1", 0);
//   co_await server.serve_forever();
//
// One acceptor task per listening socket and one task per connection running
// the handler. As asyncio, a server binds one socket per address its hosts
// resolve to (getaddrinfo with AI_PASSIVE), so host "" listens on every
// IPv4 and IPv6 interface; an IPv6 socket is IPV6_V6ONLY, its IPv4
// sibling takes the IPv4 connections. With port 0, the first socket's port
// is used for the others (asyncio gives each its own). A server may also
// take a socket bound elsewhere, as asyncio's sock= (systemd socket
// activation: aio/socket_activation.hpp). A handler that throws is logged
// and counted, and the server goes on. A failed accept (EMFILE...) backs off 100 ms instead of spinning.
// Dropping every copy of a Server handle closes its listening sockets; the
// connections it accepted go on until they end.
//
// Concurrency: loop-local; N loops on N threads may each listen on the same
// port with reuse_port.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <aio/streams.hpp>
#include <aio/tasks.hpp>

namespace asio::ssl {
class context;
}
namespace aio::metrics {
class Registry;
}

namespace aio {

using ClientConnected = std::function<Task<void>(StreamReader, StreamWriter)>;

struct ServerOptions {
  std::size_t limit = StreamReader::default_limit;
  int backlog = 511;        // listen()'s; a socket that start_server(fd) finds listening keeps its own
  bool reuse_port = false;  // SO_REUSEPORT (TCP only)
  // SO_KEEPALIVE on every accepted TCP connection, as asyncio's keep_alive:
  // set on the listening sockets, from which Linux's accepted sockets
  // inherit it (nothing is done per connection).
  bool keep_alive = false;
  // false: the sockets are bound but not listening (connects are refused)
  // until Server::start_serving() or serve_forever(), as asyncio.
  bool start_serving = true;
  std::shared_ptr<asio::ssl::context> ssl;
  std::chrono::steady_clock::duration ssl_handshake_timeout = std::chrono::seconds(60);
  std::size_t max_connections = 0;                              // 0: unlimited
  std::chrono::steady_clock::duration idle_timeout{};          // 0: none
  std::string name;                                             // the `server` metrics label
  metrics::Registry* metrics = nullptr;                         // instrument when set
};

namespace detail {
class ServerCore;
struct ServerLink;
}  // namespace detail

class Server {
 public:
  Server() = default;

  // Stops listening (closes the listening sockets); connections go on.
  void close();
  // True from start_serving() (or start_server without start_serving =
  // false) until close().
  bool is_serving() const;
  // Listens and accepts, for a server made with start_serving = false; does
  // nothing when it already serves. A listening socket handed to
  // start_server(fd) is not listen()ed again.
  // Cancellation: none to speak of: the server is serving once this has
  // been entered, whether or not the waiter is cancelled afterwards.
  // Throws: RuntimeError when the server is closed; std::system_error when
  // listen() fails.
  [[nodiscard]] Task<void> start_serving();
  // Returns once the server is closed AND no connection is left, in either order.
  // Cancellation: stops waiting; nothing else changes.
  [[nodiscard]] Task<void> wait_closed();
  // Closes every connection gracefully (after its buffered bytes).
  void close_clients();
  // Closes every connection at once, dropping buffered bytes.
  void abort_clients();
  // Serves until cancelled (starting to serve first, when start_serving was
  // false); cancelling it closes the server and waits for wait_closed().
  // When close() is called meanwhile, it returns normally once wait_closed()
  // would (asyncio raises CancelledError there; returning lets
  // `co_await server.serve_forever()` end a main() without a try block).
  // Throws: RuntimeError if already serving forever or closed;
  // std::system_error when listen() fails.
  [[nodiscard]] Task<void> serve_forever();

  // "HOST:PORT" (or the path) of each listening socket.
  std::vector<std::string> sockets() const;
  // The bound port of the first listening socket (0 for Unix servers).
  std::uint16_t port() const;
  std::size_t active_connections() const;

  // Internal.
  explicit Server(std::shared_ptr<detail::ServerCore> core);

 private:
  std::shared_ptr<detail::ServerLink> link_;
};

// Listens on every address `host` resolves to with AI_PASSIVE: "" is every
// interface, IPv4 and IPv6 (asyncio's host None or ""); "0.0.0.0" every
// IPv4 one, "::" every IPv6 one. An address literal is not looked up.
// Addresses that come back twice are bound once; an address whose family
// the machine lacks (EADDRNOTAVAIL, or no socket of that family) is
// skipped, as asyncio does.
// Cancellation: the lookup is abandoned, nothing is bound.
// Throws: std::system_error: the lookup's error, "error while attempting to
// bind on address ...", or EADDRNOTAVAIL when no address could be bound;
// listen()'s error.
// (Options by const& plus option-less overloads: see connection.hpp on g++ 12.)
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port,
                                        const ServerOptions& options);
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port);

// Listens on every address of every host in `hosts` (asyncio's host
// sequence), each bound once, all on the same port. Pass a named vector:
// a braced list of two strings would also convert to one std::string.
// Cancellation and Throws: as above.
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, std::vector<std::string> hosts,
                                        std::uint16_t port, const ServerOptions& options);

// Serves on a socket bound elsewhere (asyncio's start_server(sock=...)): a
// native descriptor of an AF_INET, AF_INET6 or AF_UNIX stream socket,
// listening or only bound, e.g. one from listen_fds() (systemd socket
// activation). Takes ownership of `fd` at the call, whatever happens: it is
// closed on every error and when the server closes. A listening socket
// keeps its backlog; reuse_port does not apply (the socket is bound
// already); keep_alive is set on it; an AF_UNIX socket's file is left in
// place (whoever bound it owns it).
// Cancellation: the descriptor is closed.
// Throws: std::system_error for a descriptor that is invalid (EBADF) or not
// a socket (ENOTSOCK); ValueError for a socket that is not SOCK_STREAM ("A
// Stream Socket was expected") or of another family; listen()'s error.
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, int fd, const ServerOptions& options);
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, int fd);

// Listens on a Unix domain socket at `path` (a stale socket file is replaced);
// the file is removed when the server closes. With options.ssl, TLS over
// it, as asyncio allows.
// Cancellation: binding does not wait; nothing is lost.
// Throws: std::system_error when the socket cannot be bound or listen.
[[nodiscard]] Task<Server> start_unix_server(ClientConnected client_connected, std::string path,
                                             const ServerOptions& options);
[[nodiscard]] Task<Server> start_unix_server(ClientConnected client_connected, std::string path);

}  // namespace aio
