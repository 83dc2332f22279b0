// aio/detail/transport.hpp — internal. The small interface StreamState drives: TCP, TLS or Unix socket.
//
// Plain sockets support the speculative path (non-blocking read/write first,
// readiness waits only when the kernel has nothing / takes nothing), so an
// idle reader pins no buffer. TLS uses asio::ssl's async operations.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>

namespace aio::detail {

class Transport {
 public:
  virtual ~Transport() = default;

  virtual asio::any_io_executor get_executor() noexcept = 0;

  // True for plain sockets: try_read/try_write/wait_* are available.
  virtual bool speculative() const noexcept = 0;

  // Non-blocking; would_block when the kernel has nothing / takes nothing.
  virtual std::size_t try_read(char* dst, std::size_t n, std::error_code& ec) = 0;
  virtual std::size_t try_write(const asio::const_buffer* bufs, std::size_t count, std::error_code& ec) = 0;
  // Waits for readiness; cancellable (CancelledError); other errors as std::system_error.
  virtual asio::awaitable<void> wait_readable() = 0;
  // The flusher's wait; never throws, returns the error.
  virtual asio::awaitable<std::error_code> wait_writable() = 0;

  // The asynchronous path (TLS). async_read: 0 with eof at the end.
  virtual asio::awaitable<std::size_t> async_read(char* dst, std::size_t n) = 0;
  virtual asio::awaitable<std::error_code> async_write_all(const char* src, std::size_t n) = 0;

  virtual bool can_write_eof() const noexcept = 0;
  virtual void shutdown_send(std::error_code& ec) = 0;
  virtual void close() noexcept = 0;
  virtual std::string peername() const = 0;
  virtual std::string sockname() const = 0;
  // The plain TCP socket (for start_tls), else nullptr.
  virtual asio::ip::tcp::socket* tcp_socket() noexcept { return nullptr; }
};

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

std::unique_ptr<Transport> make_tcp_transport(asio::ip::tcp::socket socket);
std::unique_ptr<Transport> make_unix_transport(asio::local::stream_protocol::socket socket);
// Keeps `ctx` alive as long as the stream.
std::unique_ptr<Transport> make_tls_transport(std::unique_ptr<TlsStream> stream,
                                              std::shared_ptr<asio::ssl::context> ctx);

// Sets SNI and (when the context verifies peers) host name verification.
void prepare_tls_client(TlsStream& stream, const std::string& server_hostname);

// Handshakes with a deadline (0: none). The timer closes the socket.
// Throws: TimeoutError; std::system_error; CancelledError.
asio::awaitable<void> tls_handshake(TlsStream& stream, asio::ssl::stream_base::handshake_type type,
                                    std::chrono::steady_clock::duration timeout);

std::string format_endpoint(const asio::ip::tcp::endpoint& ep);

// True for the errors that mean "the peer is gone" (reset, broken pipe, ...).
bool is_connection_lost(const std::error_code& ec) noexcept;

}  // namespace aio::detail
