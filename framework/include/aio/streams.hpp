// aio/streams.hpp — public. StreamReader and StreamWriter, as asyncio.streams.
//
// A connection (TCP, TLS or Unix socket) is one shared state; StreamReader and
// StreamWriter are cheap handles onto it (copies share it). The connection is
// closed when the last StreamWriter copy is gone (RAII): a server handler that
// returns without handing its writer to anybody closes its connection, a chat
// room that keeps the writers of its members keeps their connections open.
//
// Semantics are CPython 3.13's streams.py (IncompleteReadError,
// LimitOverrunError, readline discarding an over-long line, read(n) and
// readexactly(n) not capped by the limit, EOF rules, readuntil with several
// separators). What asyncio's writer reaches through its transport or loop
// is a method here: the TLS details of get_extra_info, start_tls with its
// timeouts, loop.sendfile. Beyond asyncio, read_some() and read_into() are
// the zero-copy path for hot loops.
//
// How bytes move: an idle reader holds no buffer; it waits for
// readiness and takes a chunk from a per-loop pool only when bytes arrive,
// giving it back once drained. Reading is pulled by the reader, so nothing is
// read while more than the caller asked for is buffered (asyncio pauses at
// 2 × limit; a pulling reader never gets there). write() never waits: with
// nothing queued it sends at once, what the kernel does not take is queued
// and flushed by one flushing path per connection (one gather write at a
// time); drain() is the backpressure point.
//
// Concurrency: loop-local; one coroutine may wait on a reader at a time
// (RuntimeError otherwise); any number may wait in drain().
//
// Lifetime: a Task returned by a reader's or writer's method refers to the
// connection's state; await it (or drop it) while a handle onto that
// connection is still alive, as with any coroutine that refers to an object.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <aio/generators.hpp>
#include <aio/tasks.hpp>
#include <aio/tls.hpp>

namespace asio::ssl {
class context;
}
struct ssl_st;  // OpenSSL's SSL

namespace aio {

namespace detail {
class StreamState;
struct WriterLink;
}  // namespace detail

class StreamWriter;

// start_tls's keyword arguments, with asyncio's defaults.
struct StartTlsOptions {
  std::string server_hostname;  // a client's SNI and the name its certificate check expects
  std::chrono::steady_clock::duration ssl_handshake_timeout = std::chrono::seconds(60);
  // How long an orderly close waits for the peer's close_notify before it
  // closes the socket anyway (close() and wait_closed() do not wait for it).
  std::chrono::steady_clock::duration ssl_shutdown_timeout = std::chrono::seconds(30);
};

class StreamReader {
 public:
  static constexpr std::size_t default_limit = 64 * 1024;  // as asyncio

  // A standalone reader fed by feed_data()/feed_eof() (tests, custom
  // transports). Throws: ValueError if limit <= 0.
  explicit StreamReader(std::ptrdiff_t limit = static_cast<std::ptrdiff_t>(default_limit));

  // Up to n bytes (at least 1 unless at EOF: then ""). n == 0: "" at once;
  // n < 0: everything up to EOF. Not capped by limit().
  // Cancellation: nothing is lost; buffered bytes stay buffered.
  // Throws: the exception set on the reader (ConnectionResetError, ...).
  [[nodiscard]] Task<std::string> read(std::ptrdiff_t n = -1);

  // Through the next '\n'. At EOF the partial line, or "" when nothing is left.
  // Cancellation: nothing is lost.
  // Throws: LimitOverrunError (a ValueError) when the line is longer than
  // limit(): the line is discarded (through its '\n' if buffered, else the
  // whole buffer), as asyncio does.
  [[nodiscard]] Task<std::string> readline();

  // Through the next `separator` (included in the result).
  // Cancellation: nothing is lost.
  // Throws: ValueError for an empty separator; IncompleteReadError (partial,
  // expected unset) at EOF; LimitOverrunError when no separator is found
  // within limit() — the data stays buffered.
  [[nodiscard]] Task<std::string> readuntil(std::string_view separator = "\n");

  // Through the earliest end of any of `separators` (asyncio 3.13's tuple
  // form): the shortest result that ends with one of them; when two end at
  // the same byte, the shorter separator is the one that matched (its start
  // is what LimitOverrunError compares with limit()). The separators are
  // copied at the call, so the list may be a temporary.
  // g++ 12 rejects a braced list inside a co_await expression: name it first,
  //   const std::array<std::string_view, 2> eol{"\r\n", "\n"};
  //   auto line = co_await reader.readuntil(eol);
  // Cancellation: nothing is lost.
  // Throws: ValueError for an empty list ("Separator should contain at least
  // one element") or an empty separator; otherwise as readuntil(separator).
  [[nodiscard]] Task<std::string> readuntil(std::span<const std::string_view> separators);
  [[nodiscard]] Task<std::string> readuntil(std::initializer_list<std::string_view> separators);

  // Exactly n bytes. Not capped by limit().
  // Cancellation: nothing is lost.
  // Throws: ValueError if n < 0; IncompleteReadError{partial, n} at EOF.
  [[nodiscard]] Task<std::string> readexactly(std::ptrdiff_t n);

  // The zero-copy path: a view of everything buffered (waits for at least one
  // byte), consumed by this call; "" at EOF. The view stays valid until the
  // next call on this reader.
  // Cancellation: nothing is lost.
  [[nodiscard]] Task<std::string_view> read_some();

  // Like sock_recv_into: copies buffered bytes, or reads straight from the
  // socket into `dst` when nothing is buffered. 0 at EOF (or for an empty dst).
  // Cancellation: nothing is lost.
  [[nodiscard]] Task<std::size_t> read_into(std::span<char> dst);

  // `async for line in reader`: readline() until it returns "".
  Generator<std::string> lines() const;

  bool at_eof() const;
  std::size_t limit() const;
  std::exception_ptr exception() const;

  void feed_data(std::string_view data);
  void feed_eof();
  void set_exception(std::exception_ptr e);

  // Internal.
  explicit StreamReader(std::shared_ptr<detail::StreamState> st) : st_(std::move(st)) {}
  const std::shared_ptr<detail::StreamState>& state() const noexcept { return st_; }

 private:
  std::shared_ptr<detail::StreamState> st_;
};

class StreamWriter {
 public:
  StreamWriter() = default;
  // Copies share the connection; when the last writer goes, the connection
  // is closed (asyncio closes a transport whose writer is collected).
  StreamWriter(const StreamWriter& other) noexcept;
  StreamWriter(StreamWriter&& other) noexcept = default;
  StreamWriter& operator=(const StreamWriter& other) noexcept;
  StreamWriter& operator=(StreamWriter&& other) noexcept;
  ~StreamWriter();

  // Buffers `data` (sends at once when nothing is queued); never waits.
  // Ignored on a closing or lost connection, as asyncio does.
  // Throws: RuntimeError after write_eof().
  void write(std::string_view data);
  // All of `parts`, in one gather write when nothing is queued.
  void writelines(std::span<const std::string_view> parts);

  // Waits while the write buffer is above the high-water mark.
  // Cancellation: stops waiting; the buffered bytes are still sent.
  // Throws: ConnectionResetError once the connection is lost or closed; the
  // exception set on the reader.
  [[nodiscard]] Task<void> drain();

  void set_write_buffer_limits(std::size_t high = 64 * 1024);
  void set_write_buffer_limits(std::size_t high, std::size_t low);
  std::size_t get_write_buffer_size() const;

  bool can_write_eof() const;
  // Half-close: sends FIN after what is buffered. Throws RuntimeError when the
  // transport cannot (TLS).
  void write_eof();

  // Closes after the buffered bytes are sent; reading stops at once.
  void close();
  // Closes at once and drops what is buffered (asyncio's transport.abort()).
  void abort();
  bool is_closing() const;
  // Waits until the connection is closed.
  // Cancellation: stops waiting; the close goes on.
  // Throws: ConnectionResetError if the connection was lost with an error.
  [[nodiscard]] Task<void> wait_closed();

  // "host:port" of the peer and of this end (asyncio's get_extra_info
  // "peername"/"sockname"), asked of the socket on first use and kept; ""
  // when first asked after the connection closed.
  std::string peername() const;
  std::string sockname() const;
  // The connection's socket descriptor, for socket options (asyncio's
  // get_extra_info("socket")); -1 when closed or not a socket. Reading or
  // writing it directly bypasses the stream: do not.
  int native_handle() const;

  // ---- TLS details: asyncio's get_extra_info("peercert", "cipher",
  // "ssl_object", "sslcontext"). std::nullopt or nullptr on a plain
  // connection, and once a TLS connection is closed. ----

  // The certificate the peer presented: a server's always; a client's only
  // when the server asked for one (tls::verify_client_certificates).
  std::optional<tls::PeerCertificate> peer_certificate() const;
  std::optional<tls::Cipher> cipher() const;
  // The protocol version negotiated: "TLSv1.3", "TLSv1.2".
  std::optional<std::string> tls_version() const;
  // The OpenSSL connection, for what the accessors above do not cover. It
  // belongs to the stream: do not free it, read or write through it, or use
  // it after the connection is closed.
  ssl_st* ssl_object() const noexcept;
  std::shared_ptr<asio::ssl::context> ssl_context() const;

  // Upgrades a plain TCP connection to TLS: drains first (everything buffered
  // goes out in clear), then handshakes (as the server side for a connection
  // accepted by a server) within options.ssl_handshake_timeout. Bytes
  // already read stay readable.
  // options.ssl_handshake_timeout of 0 or less: no limit.
  // Cancellation: while draining, nothing changes; during the handshake,
  // it is abandoned and the connection closed.
  // Throws: TimeoutError when the handshake takes longer than its timeout
  // (asyncio raises ConnectionAbortedError); std::system_error on a failed
  // handshake; in both cases the connection is closed. RuntimeError when
  // the connection is not plain TCP (it is then left as it was).
  [[nodiscard]] Task<void> start_tls(std::shared_ptr<asio::ssl::context> ctx);
  [[nodiscard]] Task<void> start_tls(std::shared_ptr<asio::ssl::context> ctx, std::string server_hostname);
  [[nodiscard]] Task<void> start_tls(std::shared_ptr<asio::ssl::context> ctx, const StartTlsOptions& options);

  // Sends `count` bytes of the file open as `fd` from `offset` on (up to
  // its end when count is nullopt), as asyncio's loop.sendfile(transport,
  // file, offset, count): returns how many were sent. On a plain socket,
  // once what is buffered has gone out, the kernel copies the file with
  // sendfile(2), waiting for room when the socket is full; over TLS (or a
  // file sendfile(2) cannot read) it reads blocks and writes them, with
  // drain() between blocks. The file is read on the loop's thread. Afterwards,
  // however it ends, the file's position is `offset` plus the bytes sent
  // (when any were, and the file can seek), as asyncio leaves it.
  // While sendfile(2) runs, write() and writelines() raise RuntimeError
  // ("unable to write; sendfile is in progress"), as asyncio's do, and
  // get_write_buffer_size() counts what is left of the file; close() waits
  // for the file to be sent, abort() stops it.
  // Over TLS "sent" means handed to the stream: the last blocks may still
  // be buffered, and go out as any write does.
  // Cancellation: stops at once with CancelledError. The bytes already sent
  // stay sent and are counted in the file position; the rest is not sent.
  // The peer so gets a prefix of the range, of a length the stream does not
  // tell it: as with asyncio, the stream's position in any framing is then
  // unspecified, unless the caller reads the file position back.
  // Throws: ValueError for a count of 0; RuntimeError when the connection is
  // closing ("Transport is closing"), after write_eof(), or while another
  // sendfile runs;
  // ConnectionResetError when the peer goes away meanwhile (no SIGPIPE);
  // std::system_error when the file cannot be read.
  [[nodiscard]] Task<std::size_t> sendfile(int fd, std::uint64_t offset = 0,
                                           std::optional<std::uint64_t> count = std::nullopt);
  // The same for the file at `path`, opened read-only for the call (errors
  // opening it are raised when the Task is awaited).
  [[nodiscard]] Task<std::size_t> sendfile(const std::filesystem::path& path, std::uint64_t offset = 0,
                                           std::optional<std::uint64_t> count = std::nullopt);

  // Internal.
  explicit StreamWriter(std::shared_ptr<detail::StreamState> st);
  const std::shared_ptr<detail::StreamState>& state() const noexcept { return st_; }

 private:
  void release() noexcept;
  std::shared_ptr<detail::StreamState> st_;
};

}  // namespace aio
