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
// the handler. A handler that throws is logged and counted, and the server
// goes on. A failed accept (EMFILE...) backs off 100 ms instead of spinning.
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
  int backlog = 511;
  bool reuse_port = false;  // SO_REUSEPORT (TCP only)
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
  bool is_serving() const;
  // Returns once the server is closed AND no connection is left, in either order.
  // Cancellation: stops waiting; nothing else changes.
  [[nodiscard]] Task<void> wait_closed();
  // Closes every connection gracefully (after its buffered bytes).
  void close_clients();
  // Closes every connection at once, dropping buffered bytes.
  void abort_clients();
  // Serves until cancelled; cancelling it closes the server and waits for wait_closed().
  // When close() is called meanwhile, it returns normally once wait_closed()
  // would (asyncio raises CancelledError there; returning lets
  // `co_await server.serve_forever()` end a main() without a try block).
  // Throws: RuntimeError if already serving forever or closed.
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

// Listens on every address `host` resolves to ("" or "0.0.0.0": all IPv4).
// Throws: std::system_error when a socket cannot be bound.
// (Options by const& plus option-less overloads: see connection.hpp on g++ 12.)
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port,
                                        const ServerOptions& options);
[[nodiscard]] Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port);

// Listens on a Unix domain socket at `path` (a stale socket file is replaced);
// the file is removed when the server closes.
// Throws: ValueError when options.ssl is set (TLS is TCP only in aio;
// asyncio also runs it over Unix sockets).
[[nodiscard]] Task<Server> start_unix_server(ClientConnected client_connected, std::string path,
                                             const ServerOptions& options);
[[nodiscard]] Task<Server> start_unix_server(ClientConnected client_connected, std::string path);

}  // namespace aio
