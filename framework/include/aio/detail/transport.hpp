// aio/detail/transport.hpp — internal. The small interface StreamState drives: TCP, TLS or Unix socket.
//
// Reading is one operation for every transport: receive() reads once into a
// ReadTarget. Plain sockets do it as a single reactor operation
// (socket_read_op.hpp: speculative, one recv per message, no epoll_ctl, no
// buffer held while idle); TLS uses asio::ssl's async_read_some. Writing on
// plain sockets is speculative (non-blocking write first, readiness waits
// only when the kernel takes nothing); TLS writes with async_write.
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

#include <aio/detail/socket_read_op.hpp>

namespace aio::detail {

class Transport {
 public:
  virtual ~Transport() = default;

  virtual asio::any_io_executor get_executor() noexcept = 0;

  // True for plain sockets: try_write/wait_writable are available, and reads
  // are done in place (stream_state.hpp's read_in_place: the reader awaits
  // the reactor operation itself, with no frame for receive()).
  virtual bool speculative() const noexcept = 0;

  // The read of transports that do not read in place (TLS): once into
  // `target`, waiting until something is there. Never throws for I/O
  // errors: {ec, 0} (operation_aborted when cancelled or closed), {ok, 0}
  // at EOF. Plain sockets are read in place and do not implement it.
  virtual asio::awaitable<ReadResult> receive(ReadTarget /*target*/) {
    co_return ReadResult{asio::error::operation_not_supported, 0};
  }
  // Plain sockets (speculative()): fills `sock`, for reads in place. Others
  // leave it empty.
  virtual void reactor_socket(ReactorSocketRef& /*sock*/) noexcept {}

  // Non-blocking; would_block when the kernel takes nothing.
  virtual std::size_t try_write(const asio::const_buffer* bufs, std::size_t count, std::error_code& ec) = 0;
  // The flusher's wait; never throws, returns the error.
  virtual asio::awaitable<std::error_code> wait_writable() = 0;

  // The asynchronous write path (TLS).
  virtual asio::awaitable<std::error_code> async_write_all(const char* src, std::size_t n) = 0;

  virtual bool can_write_eof() const noexcept = 0;
  virtual void shutdown_send(std::error_code& ec) = 0;
  virtual void close() noexcept = 0;
  // close() after an orderly end (TLS: close_notify first). Errors and
  // abort() use close().
  virtual void close_gracefully() noexcept { close(); }
  virtual std::string peername() const = 0;
  virtual std::string sockname() const = 0;
  // The plain TCP socket (for start_tls), else nullptr.
  virtual asio::ip::tcp::socket* tcp_socket() noexcept { return nullptr; }
  // The socket's descriptor (-1 once closed).
  virtual int native_handle() noexcept = 0;
  // TLS transports: the OpenSSL connection and the context it was made
  // from (asyncio's "ssl_object" and "sslcontext"); others have neither.
  virtual SSL* ssl_handle() noexcept { return nullptr; }
  virtual std::shared_ptr<asio::ssl::context> ssl_context() const { return nullptr; }
};

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

// Sets TCP_NODELAY unless told the socket has it already (accepted from a
// listener that has it).
std::unique_ptr<Transport> make_tcp_transport(asio::ip::tcp::socket socket, bool set_no_delay = true);
std::unique_ptr<Transport> make_unix_transport(asio::local::stream_protocol::socket socket);
// Keeps `ctx` alive as long as the stream. An orderly close sends
// close_notify and waits up to `shutdown_timeout` for the peer's before it
// closes the socket (asyncio's ssl_shutdown_timeout).
inline constexpr std::chrono::steady_clock::duration default_tls_shutdown_timeout = std::chrono::seconds(5);
std::unique_ptr<Transport> make_tls_transport(
    std::unique_ptr<TlsStream> stream, std::shared_ptr<asio::ssl::context> ctx,
    std::chrono::steady_clock::duration shutdown_timeout = default_tls_shutdown_timeout);

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
