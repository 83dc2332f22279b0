// aio/connection.hpp — public. open_connection and open_unix_connection, as asyncio.
//
//   auto [reader, writer] = co_await aio::open_connection("localhost", 7000);
//   writer.write("ping\n");
//   auto line = co_await reader.readline();
//
// The addresses the host resolves to (aio/getaddrinfo.hpp; an address
// literal is not looked up) are tried in turn, as asyncio does by default;
// with happy_eyeballs_delay set they are raced instead (RFC 8305, asyncio's
// happy_eyeballs_delay): families interleaved, the next attempt started
// when the previous one fails or the delay has passed, the first connection
// made kept and every other attempt closed. TCP_NODELAY is set, as asyncio
// does. With `ssl` set, the client verifies the peer's certificate and host
// name (server_hostname, else host) unless the context says otherwise
// (tls::client_context(ca, false)).
//
// open_connection(fd) wraps a socket connected elsewhere (asyncio's
// open_connection(sock=...)): a descriptor from socketpair(), from a plain
// connect(), or released by another library.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <aio/streams.hpp>
#include <aio/tasks.hpp>

namespace asio::ssl {
class context;
}

namespace aio {

// RFC 8305's recommended Connection Attempt Delay, for happy_eyeballs_delay.
inline constexpr std::chrono::milliseconds happy_eyeballs_recommended_delay{250};

struct ConnectOptions {
  std::size_t limit = StreamReader::default_limit;
  std::shared_ptr<asio::ssl::context> ssl;
  std::string server_hostname;                     // for SNI and verification; default: host
  // The whole call: lookup, connects and handshake. 0: the OS's connect
  // timeout; TimeoutError when exceeded.
  std::chrono::steady_clock::duration timeout{};

  // Race the addresses, starting the next one this long after the previous
  // (happy_eyeballs_recommended_delay is RFC 8305's value). Unset: one
  // after the other, each until it fails, as asyncio's default (None).
  std::optional<std::chrono::steady_clock::duration> happy_eyeballs_delay;
  // asyncio's interleave: how many addresses of the first family go before
  // the families alternate; 0 keeps the resolver's order. Unset: 1 with
  // happy_eyeballs_delay, else 0.
  std::optional<std::size_t> interleave;
  // AF_UNSPEC (0), AF_INET or AF_INET6: the addresses to resolve and try.
  int family = 0;
  // Bind the client socket to (host, port) first, as asyncio's local_addr:
  // the host is resolved too; each attempt binds to the first of its
  // addresses of the attempt's family.
  std::optional<std::pair<std::string, std::uint16_t>> local_addr;
};

// Cancellation: the lookup is abandoned, every socket being connected is
// closed; CancelledError.
// Throws: std::system_error: the lookup's error; for connects, the error of
// the one address tried, or when several failed the first one's code with
// every message ("Multiple exceptions: ..."; one of them when they all say
// the same), as asyncio; a failed bind to local_addr is one of them.
// TimeoutError; the TLS handshake's error; ValueError for a family other
// than AF_UNSPEC, AF_INET or AF_INET6.
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
// handshake over a TCP socket (server_hostname is then required, as
// asyncio requires it without a host: it names the peer for SNI and
// verification); `timeout` bounds the whole call (the handshake, really).
// The options about addresses (happy_eyeballs_delay, interleave, family,
// local_addr) do not apply.
//
// Cancellation: the attempt is abandoned and the descriptor closed.
// Throws: std::system_error for a descriptor that is invalid (EBADF), not a
// socket (ENOTSOCK) or not connected (ENOTCONN); ValueError for a socket that
// is not SOCK_STREAM ("A Stream Socket was expected"), of another family, or
// for ssl without server_hostname or over AF_UNIX (open_unix_connection
// runs TLS over Unix sockets; this path does not yet); TimeoutError; the TLS
// handshake's error.
//
// Example:
//   int sv[2];
//   ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
//   auto [reader, writer] = co_await aio::open_connection(sv[0]);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_connection(int fd, const ConnectOptions& options);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_connection(int fd);

// Streams over a Unix domain socket at `path`. With options.ssl, TLS over
// it, as asyncio allows: server_hostname is then required (it names the
// peer for SNI and certificate verification; there is no host to default
// to). `timeout` bounds the whole call; the address options do not apply.
// Cancellation: the attempt is abandoned and its socket closed.
// Throws: std::system_error (connect), TimeoutError, the TLS handshake's
// error; ValueError for ssl without server_hostname ("you have to pass
// server_hostname when using ssl", as asyncio).
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path,
                                                                               const ConnectOptions& options);
[[nodiscard]] Task<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path);

}  // namespace aio
