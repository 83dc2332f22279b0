// start_server, start_unix_server and Server: asyncio's base_events.Server.
//
// A ServerCore owns the listening sockets, one acceptor task per socket, and
// the list of live connections (intrusive, through StreamState::srv_*). A
// connection stays on the list until its handler has returned AND it is
// closed, so wait_closed() means "nothing of this server is left running".
#include <aio/server.hpp>

#include <asio/experimental/as_tuple.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/context.hpp>

#include <spdlog/spdlog.h>

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <aio/detail/spawn.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/metrics.hpp>

#include "accept.hpp"
#include "owned_fd.hpp"
#include "resolve.hpp"
#include "unix_tls.hpp"

namespace aio {
namespace detail {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(ClientConnected c, ServerOptions o) : cb(std::move(c)), opts(std::move(o)) {
    if (opts.metrics) metrics = std::make_unique<metrics::ServerMetrics>(*opts.metrics, opts.name);
  }

  ClientConnected cb;
  ServerOptions opts;
  std::unique_ptr<metrics::ServerMetrics> metrics;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> tcp;
  std::unique_ptr<asio::local::stream_protocol::acceptor> local;
  std::string unix_path;  // the socket file to remove at close (empty: not ours)
  ino_t unix_inode = 0;
  std::vector<std::string> names;
  std::vector<TaskHandle<void>> acceptors;
  bool serving = false;
  bool closed = false;
  bool serving_forever = false;
  StreamState* head = nullptr;
  std::size_t active = 0;
  WaitList closed_waiters;
  WaitList forever_waiters;

  void accepted(std::unique_ptr<Transport> transport);
  // Listens (unless the socket already does) and starts the acceptor tasks.
  void start_serving();
  void close();
  void detach(StreamState& st) noexcept;
  void wakeup_if_done() {
    if (closed && active == 0) closed_waiters.wake_all();
  }
  std::vector<std::shared_ptr<StreamState>> connections() const {
    std::vector<std::shared_ptr<StreamState>> out;
    for (auto* s = head; s; s = s->srv_next) out.push_back(s->shared_from_this());
    return out;
  }
};

void server_connection_done(ServerCore& core, StreamState& st) noexcept { core.detach(st); }

void ServerCore::detach(StreamState& st) noexcept {
  if (st.srv_prev) st.srv_prev->srv_next = st.srv_next; else head = st.srv_next;
  if (st.srv_next) st.srv_next->srv_prev = st.srv_prev;
  st.srv_prev = st.srv_next = nullptr;
  --active;
  wakeup_if_done();
}

struct ServerLink {
  std::shared_ptr<ServerCore> core;
  explicit ServerLink(std::shared_ptr<ServerCore> c) : core(std::move(c)) {}
  ServerLink(const ServerLink&) = delete;
  ServerLink& operator=(const ServerLink&) = delete;
  ~ServerLink() { core->close(); }
};

namespace {

bool out_of_resources(const std::error_code& ec) {
  const int v = ec.value();
  return ec.category() == asio::error::get_system_category() &&
         (v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM);
}

// The TLS handshake of an accepted connection; false when it failed (the
// connection is then done). Its own coroutine so that its state is not part
// of run_connection's frame, which stays alive as long as the connection.
Task<bool> tls_accept(ServerCore& core, StreamState& st) {
  const auto& opts = core.opts;
  // A Unix server's connections come with their TLS transport (still to
  // handshake); a TCP connection's plain socket goes into a TLS stream here.
  const bool over_unix = core.local != nullptr;
  std::unique_ptr<TlsStream> stream;
  if (!over_unix) stream = std::make_unique<TlsStream>(std::move(*st.transport->tcp_socket()), *opts.ssl);
  std::exception_ptr failure;
  bool cancelled = false;
  try {
    if (over_unix) {
      const std::string no_hostname;
      co_await unix_tls_handshake(*st.transport, asio::ssl::stream_base::server, no_hostname,
                                  opts.ssl_handshake_timeout);
    } else {
      co_await tls_handshake(*stream, asio::ssl::stream_base::server, opts.ssl_handshake_timeout);
    }
  } catch (const CancelledError&) {
    cancelled = true;
  } catch (...) {
    failure = std::current_exception();
  }
  if (cancelled || failure) {
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        spdlog::debug("TLS handshake with {} failed: {}", st.peer(), e.what());
      }
      if (core.metrics) core.metrics->connection_rejected("tls_handshake");
    }
    stream.reset();
    st.handler_done = true;
    st.connection_lost(nullptr);
    if (cancelled) throw CancelledError();
    co_return false;
  }
  if (!over_unix) st.transport = make_tls_transport(std::move(stream), opts.ssl);
  co_return true;
}

// A server connection: its StreamState plus the record that makes it a task
// of the loop (all_tasks, cancellation at shutdown) without create_task's
// Future, name allocation and run_task frame. While the connection is idle,
// only run_connection's frame, the handler's and its read's are alive.
class ServerStream final : public StreamState {
 public:
  ServerStream(std::size_t lim, std::unique_ptr<Transport> t) : StreamState(lim, std::move(t), true) {}
  struct Record final : TaskStateBase {
    explicit Record(StreamState* o) : owner(o) {}
    std::string task_name() const override { return "aio-connection"; }
    std::shared_ptr<TaskStateBase> share() override {
      return std::shared_ptr<TaskStateBase>(owner->shared_from_this(), this);
    }
    StreamState* owner;
  } task{this};
};

// Logs and counts a handler's failure, then closes its connection.
void handler_failed(ServerCore& core, StreamState& st, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} failed: {}", st.peer(), e.what());
  } catch (...) {
    spdlog::error("handler for {} failed with a non-standard exception", st.peer());
  }
  if (core.metrics) core.metrics->handler_error();
  st.close();
}

// Counts the connection, arms its idle timer and calls the user's callback.
// A plain function, so that the reader and writer temporaries are not slots
// of run_connection's frame, which lives as long as the connection.
Task<void> start_handler(ServerCore& core, const std::shared_ptr<ServerStream>& st) {
  if (core.metrics) {
    core.metrics->connection_accepted();
    st->metrics = core.metrics.get();
  }
  st->arm_idle_timer(core.opts.idle_timeout);
  return core.cb(StreamReader(st), StreamWriter(st));
}

// The connection's task, as create_task's run_task: aio delivers
// cancellation itself, and the body starts on a later loop turn (launch()
// posts it). It is the bottom of its own coroutine stack (detail/spawn.hpp),
// so it catches everything and leaves the loop's task list itself. (One
// frame: splitting the set-up into its own coroutine made the frame that
// stays alive larger, not smaller, with g++ 12.)
EntryPoint run_connection(std::shared_ptr<ServerStream> st) {
  co_await asio::this_coro::throw_if_cancelled(false);
  ServerCore* core = st->server.get();  // the connection holds it until mark_handler_done()
  st->task.started = true;
  std::exception_ptr error;
  bool cancelled = cancel_requested(co_await asio::this_coro::cancellation_state);
  if (!cancelled) {
    try {
      // g++ 12: no co_await inside && (with it, the callee read its parameters from
      // the wrong frame slots).
      bool ready = true;
      if (core->opts.ssl) ready = co_await tls_accept(*core, *st);
      if (ready) {
        auto handler = start_handler(*core, st);
        co_await std::move(handler);
      }
    } catch (const CancelledError&) {
      cancelled = true;
    } catch (...) {
      error = std::current_exception();
    }
  }
  try {
    if (error) handler_failed(*core, *st, error);
    if (cancelled) st->abort();
    st->mark_handler_done();
  } catch (...) {
    // Logging ran out of memory: the connection is closed below anyway.
    st->abort();
  }
  st->task.unregister();
}

}  // namespace

void ServerCore::accepted(std::unique_ptr<Transport> transport) {
  if (opts.max_connections != 0 && active >= opts.max_connections) {
    spdlog::debug("rejecting {}: max_connections ({}) reached", transport->peername(), opts.max_connections);
    transport->close();
    if (metrics) metrics->connection_rejected("max_connections");
    return;
  }
  auto st = std::make_shared<ServerStream>(opts.limit, std::move(transport));
  st->server = shared_from_this();
  st->handler_done = false;
  st->srv_next = head;
  if (head) head->srv_prev = st.get();
  head = st.get();
  ++active;
  auto& loop = require_running_loop();
  register_task(loop, st->task);
  auto slot = st->task.signal.slot();
  launch(run_connection(st), loop_context(loop).get_executor(), slot);
}

namespace {

// How many connections one wakeup of the listener takes before the acceptor
// lets the loop run other work (the rest are taken on its next turn).
constexpr int accept_batch = 64;

// Takes connections with accept4 (accept.hpp) until the listener has none,
// then waits for it to be readable. Accept errors are values, not
// exceptions: they are expected (EMFILE under load), and a sanitizer's vptr
// check of a caught exception needs a spare descriptor that EMFILE has just
// taken.
template <class Acceptor, class MakeTransport>
Task<void> accept_loop(std::shared_ptr<ServerCore> core, Acceptor* acceptor, MakeTransport make) {
  std::error_code ec;
  const auto protocol = acceptor->local_endpoint(ec).protocol();
  // accept4 returns EAGAIN instead of blocking once the queue is empty.
  if (!ec) acceptor->native_non_blocking(true, ec);
  if (ec) throw std::system_error(ec, "accept on " + core->names.front());
  const auto ex = acceptor->get_executor();
  // A listener handed over (start_server(fd)) or not yet served may hold
  // connections already: take them before the first wait.
  bool backlog = true;
  while (!core->closed) {
    if (cancel_requested(co_await asio::this_coro::cancellation_state)) co_await raise_cancelled();
    if (!backlog) {
      auto [wait_ec] =
          co_await acceptor->async_wait(asio::socket_base::wait_read, asio::experimental::as_tuple(asio::use_awaitable));
      if (wait_ec == asio::error::operation_aborted) {
        if (co_await detail::cancel_pending()) co_await detail::raise_cancelled();
      }
      if (core->closed || wait_ec == asio::error::operation_aborted || wait_ec == asio::error::bad_descriptor) break;
      if (wait_ec) {
        spdlog::debug("waiting for connections failed: {}", wait_ec.message());
        continue;
      }
    }
    backlog = false;
    int err = 0;
    for (int taken = 0; !core->closed; ++taken) {
      if (taken == accept_batch) {
        backlog = true;
        break;
      }
      int fd = accept_nonblocking(acceptor->native_handle());
      if (fd < 0) {
        err = errno;
        break;
      }
      auto sock = adopt_accepted(ex, protocol, fd, ec);
      if (ec) {
        spdlog::warn("an accepted connection could not be registered with the loop: {}", ec.message());
        continue;
      }
      core->accepted(make(std::move(sock)));
    }
    if (err == EAGAIN || err == EWOULDBLOCK) continue;
    if (err == EBADF || err == EINVAL || err == ENOTSOCK) break;  // the listener is gone
    if (err != 0) {
      backlog = true;
      std::error_code accept_ec(err, std::system_category());
      if (out_of_resources(accept_ec)) {
        // fd exhaustion: back off instead of spinning on a ready listener.
        spdlog::warn("accept failed: {}; retrying in 100 ms", accept_ec.message());
        co_await aio::sleep(std::chrono::milliseconds(100));
        continue;
      }
      // Linux reports some errors of the connection being accepted (EPROTO,
      // EPERM from a firewall, ENETDOWN): the next accept may well succeed.
      spdlog::debug("accept failed: {}", accept_ec.message());
    }
    if (backlog) co_await aio::sleep(std::chrono::seconds(0));
  }
}

// listen() unless the socket listens already (one handed to start_server(fd)
// keeps the backlog it was given).
template <class Acceptor>
void listen_once(Acceptor& acceptor, int backlog, const std::string& name) {
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(acceptor.native_handle(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0)
    return;
  std::error_code ec;
  acceptor.listen(backlog, ec);
  if (ec) throw std::system_error(ec, "listen on " + name);
}

}  // namespace

void ServerCore::start_serving() {
  if (closed) throw RuntimeError("server is closed");
  if (serving) return;
  for (std::size_t i = 0; i < tcp.size(); ++i) listen_once(*tcp[i], opts.backlog, names[i]);
  if (local) listen_once(*local, opts.backlog, names.front());
  auto self = shared_from_this();
  for (auto& acc : tcp) {
    // Linux copies TCP_NODELAY from the listener to the sockets it accepts:
    // set once here, it costs the connections no setsockopt each.
    std::error_code ec;
    acc->set_option(asio::ip::tcp::no_delay(true), ec);
    auto make = [inherited = !ec](asio::ip::tcp::socket s) { return make_tcp_transport(std::move(s), !inherited); };
    acceptors.push_back(create_task(accept_loop(self, acc.get(), make), "aio-acceptor"));
  }
  if (local && opts.ssl) {
    auto make = [ssl = opts.ssl](asio::local::stream_protocol::socket s) {
      return make_unix_tls_transport(std::move(s), ssl);
    };
    acceptors.push_back(create_task(accept_loop(self, local.get(), make), "aio-acceptor"));
  } else if (local) {
    auto make = [](asio::local::stream_protocol::socket s) { return make_unix_transport(std::move(s)); };
    acceptors.push_back(create_task(accept_loop(self, local.get(), make), "aio-acceptor"));
  }
  serving = true;
  spdlog::debug("serving on {}", names.front());
}

void ServerCore::close() {
  if (closed) return;
  closed = true;
  serving = false;
  std::error_code ec;
  for (auto& a : tcp) a->close(ec);
  if (local) {
    local->close(ec);
    struct stat sb {};
    if (!unix_path.empty() && ::stat(unix_path.c_str(), &sb) == 0 && sb.st_ino == unix_inode)
      ::unlink(unix_path.c_str());
  }
  for (auto& h : acceptors)
    if (!h.done()) h.cancel("server closed");
  forever_waiters.wake_all();
  wakeup_if_done();
}

namespace {

std::shared_ptr<ServerCore> make_core(ClientConnected cb, ServerOptions opts) {
  if (!cb) throw ValueError("client_connected must be callable");
  return std::make_shared<ServerCore>(std::move(cb), std::move(opts));
}

}  // namespace
}  // namespace detail

using detail::ServerCore;

Server::Server(std::shared_ptr<ServerCore> core) : link_(std::make_shared<detail::ServerLink>(std::move(core))) {}

void Server::close() { link_->core->close(); }
bool Server::is_serving() const { return link_->core->serving; }
std::size_t Server::active_connections() const { return link_->core->active; }
std::vector<std::string> Server::sockets() const { return link_->core->names; }

std::uint16_t Server::port() const {
  const auto& core = *link_->core;
  if (core.tcp.empty()) return 0;
  std::error_code ec;
  auto ep = core.tcp.front()->local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Server::close_clients() {
  for (auto& st : link_->core->connections()) st->close();
}

void Server::abort_clients() {
  for (auto& st : link_->core->connections()) st->abort();
}

namespace {
Task<void> wait_core_closed(std::shared_ptr<ServerCore> core) {
  co_await detail::check_cancelled();
  while (!(core->closed && core->active == 0)) {
    detail::Waiter w;
    co_await detail::park(core->closed_waiters, w);
    if (w.cancelled) co_await detail::raise_cancelled();
  }
  // The acceptor tasks end on their next loop turn: wait for them too, so
  // that nothing of the server is left when this returns.
  auto acceptors = core->acceptors;
  for (auto& h : acceptors) co_await detail::await_done(*h.state(), false);
}
}  // namespace

Task<void> Server::wait_closed() { return wait_core_closed(link_->core); }

Task<void> Server::start_serving() {
  link_->core->start_serving();
  co_return;
}

Task<void> Server::serve_forever() {
  auto core = link_->core;
  if (core->serving_forever) throw RuntimeError("server is already being awaited on serve_forever()");
  if (core->closed) throw RuntimeError("server is closed");
  core->start_serving();
  core->serving_forever = true;
  bool cancelled = false;
  while (!core->closed) {
    detail::Waiter w;
    co_await detail::park(core->forever_waiters, w);
    if (w.cancelled) {
      cancelled = true;
      break;
    }
  }
  core->serving_forever = false;
  if (cancelled) {
    // asyncio: cancelling serve_forever closes the server and waits for it.
    co_await asio::this_coro::reset_cancellation_state();
    core->close();
    co_await wait_core_closed(core);
    throw CancelledError();
  }
  // Closed by close(): as asyncio, wait until the server is fully closed.
  co_await wait_core_closed(core);
}

namespace {

using ReuseAddress = asio::socket_base::reuse_address;
using KeepAlive = asio::socket_base::keep_alive;

// The addresses of `hosts` to bind, each once, in the order found. "" is
// looked up too (getaddrinfo(NULL, AI_PASSIVE): the IPv4 and IPv6
// wildcards); literals are not.
Task<std::vector<asio::ip::tcp::endpoint>> passive_endpoints(std::vector<std::string> hosts, std::uint16_t port) {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& host : hosts) {
    asio::ip::tcp::endpoint literal;
    std::vector<asio::ip::tcp::endpoint> found;
    if (detail::literal_endpoint(host, port, AF_UNSPEC, literal)) {
      found.push_back(literal);
    } else {
      auto resolved = co_await detail::resolve_tcp(host, port, AF_UNSPEC, AI_PASSIVE);
      found = std::move(resolved);
    }
    for (const auto& ep : found)
      if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
  }
  co_return out;
}

Task<Server> serve_tcp(ClientConnected client_connected, std::vector<std::string> hosts, std::uint16_t port,
                       ServerOptions options) {
  auto ex = co_await asio::this_coro::executor;
  auto core = detail::make_core(std::move(client_connected), std::move(options));
  auto endpoints = co_await passive_endpoints(hosts, port);
  std::uint16_t bound = port;
  std::string tried;
  for (auto ep : endpoints) {
    if (bound != 0) ep.port(bound);
    if (!tried.empty()) tried.append(", ");
    tried.append(detail::format_endpoint(ep));
    auto acc = std::make_unique<asio::ip::tcp::acceptor>(ex);
    std::error_code ec;
    acc->open(ep.protocol(), ec);
    if (ec) continue;  // as asyncio: a family this machine has no sockets for
    acc->set_option(ReuseAddress(true));
    if (core->opts.reuse_port) acc->set_option(detail::ReusePort(true));
    if (core->opts.keep_alive) acc->set_option(KeepAlive(true));
    // Linux's IPv6 sockets also take IPv4 by default; the IPv4 wildcard has
    // its own socket, so this one must not (asyncio does the same).
    if (ep.address().is_v6()) acc->set_option(asio::ip::v6_only(true));
    acc->bind(ep, ec);
    // The family is not enabled (bpo-30945): skip the address, as asyncio.
    if (ec.value() == EADDRNOTAVAIL && ec.category() == asio::error::get_system_category()) continue;
    if (ec) throw std::system_error(ec, "error while attempting to bind on address " + detail::format_endpoint(ep));
    const auto local = acc->local_endpoint();
    bound = local.port();
    core->names.push_back(detail::format_endpoint(local));
    core->tcp.push_back(std::move(acc));
  }
  if (core->tcp.empty())
    throw std::system_error(EADDRNOTAVAIL, std::system_category(),
                            "could not bind on any address out of [" + tried + "]");
  if (core->opts.start_serving) core->start_serving();
  co_return Server(core);
}

// A descriptor's socket type and family, checked as asyncio's sock= is.
int stream_socket_family(int fd) {
  auto fail = [](int err, const char* what) {
    throw std::system_error(err, std::system_category(), std::string("start_server(fd): ") + what);
  };
  if (fd < 0) fail(EBADF, "invalid descriptor");
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) fail(errno, "getsockopt(SO_TYPE)");
  if (type != SOCK_STREAM) throw ValueError("A Stream Socket was expected, got type " + std::to_string(type));
  sockaddr_storage addr{};
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail(errno, "getsockname");
  const int family = addr.ss_family;
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
    throw ValueError("start_server(fd): unsupported address family " + std::to_string(family));
  return family;
}

Task<Server> serve_fd(ClientConnected client_connected, detail::OwnedFd fd, ServerOptions options) {
  auto ex = co_await asio::this_coro::executor;
  auto core = detail::make_core(std::move(client_connected), std::move(options));
  const int family = stream_socket_family(fd.get());
  std::error_code ec;
  if (family == AF_UNIX) {
    auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(ex);
    acc->assign(asio::local::stream_protocol(), fd.get(), ec);
    if (ec) throw std::system_error(ec, "start_server(fd): assign");
    fd.release();
    const auto local = acc->local_endpoint(ec);
    core->names.push_back(ec ? std::string() : local.path());
    core->local = std::move(acc);  // unix_path stays empty: the file is not ours to remove
  } else {
    auto acc = std::make_unique<asio::ip::tcp::acceptor>(ex);
    acc->assign(family == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), fd.get(), ec);
    if (ec) throw std::system_error(ec, "start_server(fd): assign");
    fd.release();
    if (core->opts.keep_alive) acc->set_option(KeepAlive(true));
    core->names.push_back(detail::format_endpoint(acc->local_endpoint()));
    core->tcp.push_back(std::move(acc));
  }
  if (core->opts.start_serving) core->start_serving();
  co_return Server(core);
}

Task<Server> serve_unix(ClientConnected client_connected, std::string path, ServerOptions options) {
  auto ex = co_await asio::this_coro::executor;
  auto core = detail::make_core(std::move(client_connected), std::move(options));
  struct stat sb {};
  if (::stat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode)) ::unlink(path.c_str());  // a stale socket
  auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(ex);
  const asio::local::stream_protocol::endpoint ep(path);
  acc->open(ep.protocol());
  std::error_code ec;
  acc->bind(ep, ec);
  if (ec) throw std::system_error(ec, "bind " + path);
  if (::stat(path.c_str(), &sb) == 0) core->unix_inode = sb.st_ino;
  core->unix_path = path;
  core->names.push_back(path);
  core->local = std::move(acc);
  if (core->opts.start_serving) core->start_serving();
  co_return Server(core);
}

}  // namespace

// Not coroutines: the options are copied into the coroutine here.
Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port,
                          const ServerOptions& options) {
  std::vector<std::string> hosts{std::move(host)};
  return serve_tcp(std::move(client_connected), std::move(hosts), port, options);
}

Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port) {
  const ServerOptions options;
  return start_server(std::move(client_connected), std::move(host), port, options);
}

Task<Server> start_server(ClientConnected client_connected, std::vector<std::string> hosts, std::uint16_t port,
                          const ServerOptions& options) {
  return serve_tcp(std::move(client_connected), std::move(hosts), port, options);
}

Task<Server> start_server(ClientConnected client_connected, int fd, const ServerOptions& options) {
  return serve_fd(std::move(client_connected), detail::OwnedFd(fd), options);
}

Task<Server> start_server(ClientConnected client_connected, int fd) {
  const ServerOptions options;
  return start_server(std::move(client_connected), fd, options);
}

Task<Server> start_unix_server(ClientConnected client_connected, std::string path, const ServerOptions& options) {
  return serve_unix(std::move(client_connected), std::move(path), options);
}

Task<Server> start_unix_server(ClientConnected client_connected, std::string path) {
  const ServerOptions options;
  return serve_unix(std::move(client_connected), std::move(path), options);
}

}  // namespace aio
