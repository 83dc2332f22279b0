// framework/src/tls_handshake.hpp — private. A client's SNI and name check, and a handshake with a deadline, for any asio::ssl::stream.
//
// asio::ssl::stream is typed on its socket, so TCP (transport.cpp) and Unix
// sockets (unix_tls.cpp) each have their own stream type; both run these.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <system_error>

#include <aio/exceptions.hpp>
#include <aio/use_task.hpp>

namespace aio::detail {

// SNI, and host name verification when the context verifies peers.
template <class Stream>
void prepare_client(asio::ssl::stream<Stream>& stream, const std::string& server_hostname) {
  if (!server_hostname.empty()) SSL_set_tlsext_host_name(stream.native_handle(), server_hostname.c_str());
  SSL_CTX* ctx = SSL_get_SSL_CTX(stream.native_handle());
  if ((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0) {
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback(asio::ssl::host_name_verification(server_hostname));
  }
}

// The handshake within `timeout` (0 or less: none). The timer closes the
// socket, which ends the handshake at once whatever it waits for.
// Cancellation: the handshake is abandoned; CancelledError.
// Throws: TimeoutError; std::system_error for a failed handshake.
template <class Stream>
asio::awaitable<void> handshake_within(asio::ssl::stream<Stream>& stream, asio::ssl::stream_base::handshake_type type,
                                       std::chrono::steady_clock::duration timeout) {
  struct Guard {
    bool done = false;
    bool fired = false;
  };
  auto guard = std::make_shared<Guard>();
  asio::steady_timer timer(stream.get_executor());
  if (timeout.count() > 0) {
    timer.expires_after(timeout);
    auto* sock = &stream.lowest_layer();
    auto on_timeout = [sock, guard](std::error_code ec) {
      if (ec || guard->done) return;
      guard->fired = true;
      std::error_code ignored;
      sock->close(ignored);
    };
    timer.async_wait(on_timeout);
  }
  std::error_code ec;
  std::exception_ptr cancelled;
  try {
    co_await stream.async_handshake(type, aio::use_task);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    cancelled = std::current_exception();
  }
  guard->done = true;
  timer.cancel();
  if (cancelled) std::rethrow_exception(cancelled);
  if (guard->fired) throw TimeoutError("TLS handshake timed out");
  if (ec) throw std::system_error(ec, "TLS handshake");
}

}  // namespace aio::detail
