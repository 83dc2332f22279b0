// aio/connection.hpp — public. open_connection and open_unix_connection, as asyncio.
//
//   auto [reader, writer] = co_await aio::open_connection("localhost", 7000);
//   writer.write("ping\n");
//   auto line = co_await reader.readline();
//
// Every address the host resolves to is tried in turn. TCP_NODELAY is set,
// as asyncio does. With `ssl` set, the client verifies the peer's
// certificate and host name (server_hostname, else host) unless the context
// says otherwise (tls::client_context(ca, false)).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <aio/streams.hpp>
#include <aio/tasks.hpp>

namespace asio::ssl {
class context;
}

namespace aio {

struct ConnectOptions {
  std::size_t limit = StreamReader::default_limit;
  std::shared_ptr<asio::ssl::context> ssl;
  std::string server_hostname;                     // for SNI and verification; default: host
  std::chrono::steady_clock::duration timeout{};  // 0: the OS's; TimeoutError when exceeded
};

// Cancellation: the attempt is abandoned and its socket closed.
// Throws: std::system_error (the last address's error), TimeoutError, or the
// TLS handshake's error.
//
// Options are taken by const& with option-less overloads, not `= {}`: g++ 12
// relocates a braced default argument built inside a co_await expression
// bitwise, corrupting its strings (seen here under ASan).
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port,
                                                                          const ConnectOptions& options);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port);

[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path,
                                                                               const ConnectOptions& options);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path);

}  // namespace aio
