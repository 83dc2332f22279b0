// framework/src/unix_tls.hpp — private. TLS over a Unix domain socket, as asyncio allows.
//
// transport.cpp's TLS transport is typed on asio::ip::tcp::socket (its
// TlsStream); asio::ssl::stream is typed on its socket, so a Unix socket
// needs a stream and a transport of its own. They behave as the TCP ones:
// reads and writes through asio::ssl, close_notify on an orderly close,
// no write_eof.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream_base.hpp>

#include <chrono>
#include <memory>
#include <string>

#include <aio/detail/transport.hpp>

namespace aio::detail {

// A transport over `socket` whose handshake is still to be done: the
// caller runs unix_tls_handshake before any read or write. Keeps `ctx`
// alive as long as the stream.
std::unique_ptr<Transport> make_unix_tls_transport(asio::local::stream_protocol::socket socket,
                                                   std::shared_ptr<asio::ssl::context> ctx);

// The handshake of a transport that make_unix_tls_transport made, within
// `timeout` (0: none; the timer closes the socket). As a client, SNI and
// (when the context verifies peers) host name verification use
// `server_hostname`.
// Cancellation: the handshake is abandoned; CancelledError.
// Throws: TimeoutError; std::system_error.
asio::awaitable<void> unix_tls_handshake(Transport& transport, asio::ssl::stream_base::handshake_type type,
                                         const std::string& server_hostname,
                                         std::chrono::steady_clock::duration timeout);

}  // namespace aio::detail
