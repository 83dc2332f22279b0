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
//
// open_connection(fd) wraps a socket connected elsewhere (asyncio's
// open_connection(sock=...)): a descriptor from socketpair(), from a plain
// connect(), or released by another library.
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

// Streams over an already connected stream socket, as asyncio's
// open_connection(sock=...). Takes ownership of `fd` at the call, whatever
// happens: the descriptor is closed on every error, on cancellation, and
// when the Task is dropped unawaited; on success the streams own it (the
// last StreamWriter closes it). The family comes from getsockname():
// AF_INET/AF_INET6 (TCP: TCP_NODELAY is set, as open_connection does) or
// AF_UNIX. The descriptor is made non-blocking.
//
// Options: `limit` as for any connection; `ssl` runs the TLS client
// handshake over a TCP socket (server_hostname is then required, as asyncio
// requires it without a host: it names the peer for SNI and verification);
// `timeout` bounds the whole call (the handshake, really).
//
// Cancellation: the attempt is abandoned and the descriptor closed.
// Throws: std::system_error for a descriptor that is invalid (EBADF), not a
// socket (ENOTSOCK) or not connected (ENOTCONN); ValueError for a socket that
// is not SOCK_STREAM ("A Stream Socket was expected"), of another family, or
// for ssl without server_hostname or over AF_UNIX; TimeoutError; the TLS
// handshake's error.
//
// Example:
//   int sv[2];
//   ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
//   auto [reader, writer] = co_await aio::open_connection(sv[0]);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_connection(int fd, const ConnectOptions& options);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_connection(int fd);

// Throws: std::system_error (connect), TimeoutError; ValueError when
// options.ssl is set (TLS is TCP only in aio; asyncio also runs it over Unix
// sockets).
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path,
                                                                               const ConnectOptions& options);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path);

}  // namespace aio
