// The three transports behind StreamState: TCP, Unix socket (speculative
// non-blocking I/O) and TLS (asio::ssl's async operations).
#include <aio/detail/transport.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/detail/reactive_wait_op.hpp>
#include <asio/execution/context.hpp>
#include <asio/post.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/query.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>

#include <cerrno>

#include <span>
#include <utility>

#include <aio/detail/socket_events.hpp>
#include <aio/detail/syscalls.hpp>
#include <aio/exceptions.hpp>
#include <aio/use_task.hpp>

#include "tls_handshake.hpp"

namespace aio::detail {
namespace {

using asio::experimental::as_tuple;

std::string format_endpoint_of(const asio::local::stream_protocol::endpoint& ep) { return ep.path(); }

// A socket whose reactor state read operations can reach (basic_socket keeps
// it in a protected member).
template <class Socket>
class ReactorSocket : public Socket {
 public:
  explicit ReactorSocket(Socket s) : Socket(std::move(s)) {}

  // The socket's current descriptor (-1 and no reactor data once closed or
  // moved from: the reactor then completes reads with bad_descriptor).
  ReactorSocketRef reactor_ref(asio::detail::reactor& reactor, SocketEvents* events) {
    auto& impl = this->impl_.get_implementation();
    return ReactorSocketRef{&reactor, &impl.reactor_data_, impl.socket_, events};
  }

  // The executor the socket stores (get_executor() returns a copy; a read
  // operation refers to this one for its whole life).
  const typename Socket::executor_type& executor_ref() noexcept { return this->impl_.get_executor(); }
};

// The words a message reads (the vtable pointer, reactor_, events_, the
// socket's descriptor and reactor data) come first, in 48 bytes: one cache
// line per connection per message when the object starts in a line's first
// half, where they spanned two lines before. (Aligning the object to a line
// would make it one line always, for 57 bytes per idle connection.)
template <class Socket>
class SocketTransport final : public Transport {
 public:
  explicit SocketTransport(Socket s) : socket_(std::move(s)) {
    std::error_code ec;
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);  // accepted sockets are already
    reactor_ = &asio::use_service<asio::detail::reactor>(asio::query(socket_.executor_ref(), asio::execution::context));
    const auto ref = socket_.reactor_ref(*reactor_, nullptr);
    events_ = SocketEvents::attach(*reactor_, *ref.data);
  }
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;
  ~SocketTransport() override { detach_events(false); }

  asio::any_io_executor get_executor() noexcept override { return socket_.executor_ref(); }
  bool speculative() const noexcept override { return true; }

  void reactor_socket(ReactorSocketRef& sock) noexcept override { sock = socket_.reactor_ref(*reactor_, events_); }

  std::size_t try_write(const asio::const_buffer* bufs, std::size_t count, std::error_code& ec) override {
    // One buffer goes out with send(): sendmsg() costs the kernel a msghdr
    // and iovec import per call, measurable at one call per echoed message;
    // and without glibc's cancellation wrapper (syscalls.hpp).
    std::size_t n = 0;
    if (count == 1 && bufs[0].size() != 0 && socket_.is_open()) {
      const ssize_t r = send_once(socket_.native_handle(), bufs[0].data(), bufs[0].size());
      if (r >= 0) {
        n = static_cast<std::size_t>(r);
      } else {
        ec = std::error_code(errno, asio::error::get_system_category());
      }
    } else {
      n = socket_.write_some(std::span<const asio::const_buffer>(bufs, count), ec);
    }
    if (ec && ec == asio::error::would_block && events_ != nullptr) events_->write_blocked();
    return n;
  }

  asio::awaitable<std::error_code> wait_writable() override {
    auto token = as_tuple(asio::use_awaitable);
    auto [ec] = co_await asio::async_initiate<decltype(token), void(std::error_code)>(
        [this](auto handler) { this->start_wait_writable(std::move(handler)); }, token);
    co_return ec;
  }

  // Writes and waits through aio's events: asio::async_write would queue
  // its wait on Asio's reactor state, which gets no events while aio has them.
  asio::awaitable<std::error_code> async_write_all(const char* src, std::size_t n) override {
    while (n != 0) {
      const asio::const_buffer b(src, n);
      std::error_code ec;
      const std::size_t k = try_write(&b, 1, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        if (const auto wait_ec = co_await wait_writable()) co_return wait_ec;
        continue;
      }
      if (ec) co_return ec;
      src += k;
      n -= k;
    }
    co_return std::error_code();
  }

  bool can_write_eof() const noexcept override { return true; }
  void shutdown_send(std::error_code& ec) override { socket_.shutdown(Socket::shutdown_send, ec); }
  void close() noexcept override {
    detach_events(false);
    std::error_code ec;
    socket_.close(ec);
  }

  std::string peername() const override {
    std::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    return ec ? std::string() : format(ep);
  }
  std::string sockname() const override {
    std::error_code ec;
    auto ep = socket_.local_endpoint(ec);
    return ec ? std::string() : format(ep);
  }

  int native_handle() noexcept override { return socket_.is_open() ? socket_.native_handle() : -1; }

  // The socket goes to a TLS stream, which waits through Asio: its events
  // go back to Asio's reactor state.
  asio::ip::tcp::socket* tcp_socket() noexcept override {
    if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
      detach_events(true);
      return &socket_;
    } else {
      return nullptr;
    }
  }

 private:
  // Ends aio's hold on the socket's events (before a close, or with
  // `restore` before the socket goes elsewhere); parked waits end with
  // operation_aborted.
  void detach_events(bool restore) noexcept {
    if (events_ != nullptr) std::exchange(events_, nullptr)->detach(restore);
  }

  // A readiness wait, as socket.async_wait(wait_write) but through aio's
  // events while it has them (an Asio wait would re-register the socket).
  // The flusher that waits has no cancellation slot: close() ends the wait.
  template <class Handler>
  void start_wait_writable(Handler handler) {
    if (events_ == nullptr) {
      socket_.async_wait(Socket::wait_write, std::move(handler));
      return;
    }
    using Op = asio::detail::reactive_wait_op<Handler, asio::any_io_executor>;
    typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(std::error_code(), handler, socket_.executor_ref());
    events_->start_write_wait(p.p, false);
    p.v = p.p = nullptr;
  }

  static std::string format(const asio::ip::tcp::endpoint& ep) { return format_endpoint(ep); }
  static std::string format(const asio::local::stream_protocol::endpoint& ep) { return format_endpoint_of(ep); }

  asio::detail::reactor* reactor_ = nullptr;
  SocketEvents* events_ = nullptr;  // null: Asio's reactor has the socket's events
  ReactorSocket<Socket> socket_;
};

class TlsTransport final : public Transport {
 public:
  TlsTransport(std::unique_ptr<TlsStream> s, std::shared_ptr<asio::ssl::context> ctx,
               std::chrono::steady_clock::duration shutdown_timeout)
      : ctx_(std::move(ctx)), stream_(std::move(s)), shutdown_timeout_(shutdown_timeout) {}

  asio::any_io_executor get_executor() noexcept override { return stream_->get_executor(); }
  bool speculative() const noexcept override { return false; }

  std::size_t try_write(const asio::const_buffer*, std::size_t, std::error_code& ec) override {
    ec = asio::error::operation_not_supported;
    return 0;
  }
  asio::awaitable<std::error_code> wait_writable() override { co_return asio::error::operation_not_supported; }

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
    auto [ec, written] = co_await asio::async_write(*stream_, asio::buffer(src, n), as_tuple(asio::use_awaitable));
    (void)written;
    co_return ec;
  }

  bool can_write_eof() const noexcept override { return false; }
  int native_handle() noexcept override {
    auto& sock = stream_->lowest_layer();
    return sock.is_open() ? sock.native_handle() : -1;
  }
  SSL* ssl_handle() noexcept override { return stream_->native_handle(); }
  std::shared_ptr<asio::ssl::context> ssl_context() const override { return ctx_; }
  void shutdown_send(std::error_code& ec) override { ec = asio::error::operation_not_supported; }
  void close() noexcept override {
    std::error_code ec;
    stream_->lowest_layer().close(ec);
  }

  // Sends close_notify, as asyncio's SSL transport does on close(), then
  // closes the socket when the peer answers with its own or after
  // `shutdown_timeout_`. The pending read, if any, is cancelled first and
  // completes before the shutdown starts (both are queued, in that order).
  void close_gracefully() noexcept override {
    auto& sock = stream_->lowest_layer();
    if (!sock.is_open()) return;
    std::error_code ec;
    sock.cancel(ec);
    try {
      auto start = [stream = stream_, ctx = ctx_, timeout = shutdown_timeout_]() mutable {
        auto ex = stream->get_executor();
        auto task = send_close_notify(std::move(stream), std::move(ctx), timeout);
        asio::co_spawn(ex, std::move(task), asio::detached);
      };
      asio::post(stream_->get_executor(), std::move(start));
    } catch (...) {
      close();
    }
  }

  std::string peername() const override {
    std::error_code ec;
    auto ep = stream_->lowest_layer().remote_endpoint(ec);
    return ec ? std::string() : format_endpoint(ep);
  }
  std::string sockname() const override {
    std::error_code ec;
    auto ep = stream_->lowest_layer().local_endpoint(ec);
    return ec ? std::string() : format_endpoint(ep);
  }

 private:
  static asio::awaitable<void> send_close_notify(std::shared_ptr<TlsStream> stream,
                                                 std::shared_ptr<asio::ssl::context> ctx,
                                                 std::chrono::steady_clock::duration timeout) {
    asio::steady_timer deadline(stream->get_executor(), timeout);
    auto on_deadline = [weak = std::weak_ptr<TlsStream>(stream)](const std::error_code& ec) {
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
  std::shared_ptr<TlsStream> stream_;       // shared with send_close_notify while it runs
  std::chrono::steady_clock::duration shutdown_timeout_;
};

}  // namespace

std::unique_ptr<Transport> make_tcp_transport(asio::ip::tcp::socket socket, bool set_no_delay) {
  std::error_code ec;
  if (set_no_delay) socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return std::make_unique<SocketTransport<asio::ip::tcp::socket>>(std::move(socket));
}

std::unique_ptr<Transport> make_unix_transport(asio::local::stream_protocol::socket socket) {
  return std::make_unique<SocketTransport<asio::local::stream_protocol::socket>>(std::move(socket));
}

std::unique_ptr<Transport> make_tls_transport(std::unique_ptr<TlsStream> stream,
                                              std::shared_ptr<asio::ssl::context> ctx,
                                              std::chrono::steady_clock::duration shutdown_timeout) {
  return std::make_unique<TlsTransport>(std::move(stream), std::move(ctx), shutdown_timeout);
}

void prepare_tls_client(TlsStream& stream, const std::string& server_hostname) {
  prepare_client(stream, server_hostname);
}

asio::awaitable<void> tls_handshake(TlsStream& stream, asio::ssl::stream_base::handshake_type type,
                                    std::chrono::steady_clock::duration timeout) {
  co_await handshake_within(stream, type, timeout);
}

std::string format_endpoint(const asio::ip::tcp::endpoint& ep) {
  // Appended piecewise: g++ 12 -O3 warns (stringop-overflow) on the chain of
  // operator+ temporaries.
  const auto addr = ep.address();
  std::string out;  // no reserve: "127.0.0.1:54321" fits the small-string buffer
  if (addr.is_v6()) out.push_back('[');
  out.append(addr.to_string());
  if (addr.is_v6()) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(ep.port()));
  return out;
}

bool is_connection_lost(const std::error_code& ec) noexcept {
  return ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::error::not_connected ||
         ec == asio::error::timed_out || ec == asio::error::shut_down;
}

}  // namespace aio::detail
