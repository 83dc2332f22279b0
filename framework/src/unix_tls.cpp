// TLS over a Unix domain socket: the stream, its transport and its handshake.
#include "unix_tls.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>

#include <utility>

#include <aio/exceptions.hpp>
#include <aio/use_task.hpp>

#include "tls_handshake.hpp"

namespace aio::detail {
namespace {

using asio::experimental::as_tuple;
using UnixTlsStream = asio::ssl::stream<asio::local::stream_protocol::socket>;

class UnixTlsTransport final : public Transport {
 public:
  UnixTlsTransport(asio::local::stream_protocol::socket socket, std::shared_ptr<asio::ssl::context> ctx)
      : ctx_(std::move(ctx)), stream_(std::make_shared<UnixTlsStream>(std::move(socket), *ctx_)) {}

  UnixTlsStream& stream() noexcept { return *stream_; }

  asio::any_io_executor get_executor() noexcept override { return stream_->get_executor(); }
  bool speculative() const noexcept override { return false; }

  std::size_t try_write(const asio::const_buffer*, std::size_t, std::error_code& ec) override {
    ec = asio::error::operation_not_supported;
    return 0;
  }
  asio::awaitable<std::error_code> wait_writable() override {
    co_return asio::error::operation_not_supported;
  }

  asio::awaitable<ReadResult> receive(ReadTarget target) override {
    char* dst = target.dst;
    std::size_t cap = target.cap;
    if (dst == nullptr) {
      const auto space = target.buf->prepare(1);
      dst = space.data();
      cap = space.size();
    }
    auto [ec, n] = co_await stream_->async_read_some(asio::buffer(dst, cap), as_tuple(asio::use_awaitable));
    if (target.dst == nullptr) {
      target.buf->commit(n);
      target.buf->release_if_empty();
    }
    co_return ReadResult{ec, n};
  }

  asio::awaitable<std::error_code> async_write_all(const char* src, std::size_t n) override {
    auto [ec, written] =
        co_await asio::async_write(*stream_, asio::buffer(src, n), as_tuple(asio::use_awaitable));
    (void)written;
    co_return ec;
  }

  bool can_write_eof() const noexcept override { return false; }
  void shutdown_send(std::error_code& ec) override { ec = asio::error::operation_not_supported; }
  int native_handle() noexcept override {
    auto& sock = stream_->lowest_layer();
    return sock.is_open() ? sock.native_handle() : -1;
  }
  void close() noexcept override {
    std::error_code ec;
    stream_->lowest_layer().close(ec);
  }

  // close_notify first, as the TCP transport and asyncio do; the socket is
  // closed when the peer answers or after kShutdownTimeout.
  void close_gracefully() noexcept override {
    auto& sock = stream_->lowest_layer();
    if (!sock.is_open()) return;
    std::error_code ec;
    sock.cancel(ec);
    try {
      auto start = [stream = stream_, ctx = ctx_]() mutable {
        auto ex = stream->get_executor();
        auto task = send_close_notify(std::move(stream), std::move(ctx));
        asio::co_spawn(ex, std::move(task), asio::detached);
      };
      asio::post(stream_->get_executor(), std::move(start));
    } catch (...) {
      close();
    }
  }

  SSL* ssl_handle() noexcept override { return stream_->native_handle(); }
  std::shared_ptr<asio::ssl::context> ssl_context() const override { return ctx_; }

  std::string peername() const override {
    std::error_code ec;
    auto ep = stream_->lowest_layer().remote_endpoint(ec);
    return ec ? std::string() : ep.path();
  }
  std::string sockname() const override {
    std::error_code ec;
    auto ep = stream_->lowest_layer().local_endpoint(ec);
    return ec ? std::string() : ep.path();
  }

 private:
  static constexpr auto kShutdownTimeout = std::chrono::seconds(5);

  static asio::awaitable<void> send_close_notify(std::shared_ptr<UnixTlsStream> stream,
                                                 std::shared_ptr<asio::ssl::context> ctx) {
    asio::steady_timer deadline(stream->get_executor(), kShutdownTimeout);
    auto on_deadline = [weak = std::weak_ptr<UnixTlsStream>(stream)](const std::error_code& ec) {
      if (ec) return;
      if (auto s = weak.lock()) {
        std::error_code ignored;
        s->lowest_layer().close(ignored);
      }
    };
    deadline.async_wait(std::move(on_deadline));
    auto [ec] = co_await stream->async_shutdown(as_tuple(asio::use_awaitable));
    (void)ec;  // the peer's answer, a reset or the deadline: closed either way
    deadline.cancel();
    std::error_code ignored;
    stream->lowest_layer().close(ignored);
    stream.reset();
    ctx.reset();  // after the stream
  }

  std::shared_ptr<asio::ssl::context> ctx_;  // outlives the stream
  std::shared_ptr<UnixTlsStream> stream_;    // shared with send_close_notify while it runs
};

}  // namespace

std::unique_ptr<Transport> make_unix_tls_transport(asio::local::stream_protocol::socket socket,
                                                   std::shared_ptr<asio::ssl::context> ctx) {
  return std::make_unique<UnixTlsTransport>(std::move(socket), std::move(ctx));
}

asio::awaitable<void> unix_tls_handshake(Transport& transport, asio::ssl::stream_base::handshake_type type,
                                         const std::string& server_hostname,
                                         std::chrono::steady_clock::duration timeout) {
  auto& stream = static_cast<UnixTlsTransport&>(transport).stream();
  if (type == asio::ssl::stream_base::client) prepare_client(stream, server_hostname);
  co_await handshake_within(stream, type, timeout);
}

}  // namespace aio::detail
