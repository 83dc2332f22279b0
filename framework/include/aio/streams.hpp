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
// readexactly(n) not capped by the limit, EOF rules). Beyond asyncio,
// read_some() and read_into() are the zero-copy path for hot loops.
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
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <aio/generators.hpp>
#include <aio/tasks.hpp>

namespace asio::ssl {
class context;
}

namespace aio {

namespace detail {
class StreamState;
struct WriterLink;
}  // namespace detail

class StreamWriter;

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

  std::string peername() const;
  std::string sockname() const;
  // The connection's socket descriptor, for socket options (asyncio's
  // get_extra_info("socket")); -1 when closed or not a socket. Reading or
  // writing it directly bypasses the stream: do not.
  int native_handle() const;

  // Upgrades a plain TCP connection to TLS: drains first (everything buffered
  // goes out in clear), then handshakes (as the server side for a connection
  // accepted by a server). Bytes already read stay readable.
  // Cancellation: the connection is left unusable (as asyncio's).
  // Throws: std::system_error on a failed handshake; RuntimeError when the
  // connection is not plain TCP.
  [[nodiscard]] Task<void> start_tls(std::shared_ptr<asio::ssl::context> ctx, std::string server_hostname = {});

  // Internal.
  explicit StreamWriter(std::shared_ptr<detail::StreamState> st);
  const std::shared_ptr<detail::StreamState>& state() const noexcept { return st_; }

 private:
  void release() noexcept;
  std::shared_ptr<detail::StreamState> st_;
};

}  // namespace aio
