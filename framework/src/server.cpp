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

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <aio/detail/spawn.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/metrics.hpp>

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
  std::string unix_path;
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
  auto* sock = st.transport->tcp_socket();
  auto stream = std::make_unique<TlsStream>(std::move(*sock), *opts.ssl);
  std::exception_ptr failure;
  bool cancelled = false;
  try {
    co_await tls_handshake(*stream, asio::ssl::stream_base::server, opts.ssl_handshake_timeout);
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
        spdlog::debug("TLS handshake with {} failed: {}", st.peer, e.what());
      }
      if (core.metrics) core.metrics->connection_rejected("tls_handshake");
    }
    stream.reset();
    st.handler_done = true;
    st.connection_lost(nullptr);
    if (cancelled) throw CancelledError();
    co_return false;
  }
  st.transport = make_tls_transport(std::move(stream), opts.ssl);
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
    spdlog::error("handler for {} failed: {}", st.peer, e.what());
  } catch (...) {
    spdlog::error("handler for {} failed with a non-standard exception", st.peer);
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

template <class Acceptor, class MakeTransport>
Task<void> accept_loop(std::shared_ptr<ServerCore> core, Acceptor* acceptor, MakeTransport make) {
  while (!core->closed) {
    // Accept errors come back as codes, not exceptions: they are expected
    // (EMFILE under load), and a sanitizer's vptr check of a caught
    // exception needs a spare descriptor that EMFILE has just taken.
    if (cancel_requested(co_await asio::this_coro::cancellation_state)) co_await raise_cancelled();
    auto [ec, sock] = co_await acceptor->async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) {
      if (co_await detail::cancel_pending()) co_await detail::raise_cancelled();
    }
    if (core->closed) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
      if (out_of_resources(ec)) {
        // fd exhaustion: back off instead of spinning on a ready listener.
        spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
        co_await aio::sleep(std::chrono::milliseconds(100));
      } else {
        spdlog::debug("accept failed: {}", ec.message());
      }
      continue;
    }
    core->accepted(make(std::move(sock)));
  }
}

}  // namespace

void ServerCore::close() {
  if (closed) return;
  closed = true;
  serving = false;
  std::error_code ec;
  for (auto& a : tcp) a->close(ec);
  if (local) {
    local->close(ec);
    struct stat sb {};
    if (::stat(unix_path.c_str(), &sb) == 0 && sb.st_ino == unix_inode) ::unlink(unix_path.c_str());
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

Task<void> Server::serve_forever() {
  auto core = link_->core;
  if (core->serving_forever) throw RuntimeError("server is already being awaited on serve_forever()");
  if (core->closed) throw RuntimeError("server is closed");
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

Task<Server> serve_tcp(ClientConnected client_connected, std::string host, std::uint16_t port,
                       ServerOptions options) {
  auto ex = co_await asio::this_coro::executor;
  auto core = detail::make_core(std::move(client_connected), std::move(options));
  if (host.empty()) host = "0.0.0.0";
  asio::ip::tcp::resolver resolver(ex);
  // g++ 12: a temporary inside a co_await expression is destroyed twice; name it.
  const std::string service = std::to_string(port);
  auto results = co_await resolver.async_resolve(host, service, asio::ip::tcp::resolver::passive, aio::use_task);
  std::uint16_t bound = port;
  for (const auto& entry : results) {
    auto ep = entry.endpoint();
    if (bound != 0) ep.port(bound);
    auto acc = std::make_unique<asio::ip::tcp::acceptor>(ex);
    acc->open(ep.protocol());
    acc->set_option(asio::socket_base::reuse_address(true));
    if (core->opts.reuse_port) acc->set_option(detail::ReusePort(true));
    if (ep.address().is_v6()) acc->set_option(asio::ip::v6_only(true));
    std::error_code ec;
    acc->bind(ep, ec);
    if (ec) throw std::system_error(ec, "bind " + detail::format_endpoint(ep));
    acc->listen(core->opts.backlog);
    const auto local = acc->local_endpoint();
    bound = local.port();
    core->names.push_back(detail::format_endpoint(local));
    core->tcp.push_back(std::move(acc));
  }
  if (core->tcp.empty()) throw std::system_error(asio::error::host_not_found, "resolve " + host);
  for (auto& acc : core->tcp) {
    auto make = [](asio::ip::tcp::socket s) { return detail::make_tcp_transport(std::move(s)); };
    core->acceptors.push_back(create_task(detail::accept_loop(core, acc.get(), make), "aio-acceptor"));
  }
  core->serving = true;
  spdlog::debug("serving on {}", core->names.front());
  co_return Server(core);
}

Task<Server> serve_unix(ClientConnected client_connected, std::string path, ServerOptions options) {
  // aio's TLS transport is TCP only (asyncio's also runs over Unix sockets).
  if (options.ssl) throw ValueError("start_unix_server: TLS over a Unix socket is not supported");
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
  acc->listen(core->opts.backlog);
  if (::stat(path.c_str(), &sb) == 0) core->unix_inode = sb.st_ino;
  core->unix_path = path;
  core->names.push_back(path);
  core->local = std::move(acc);
  auto make = [](asio::local::stream_protocol::socket s) { return detail::make_unix_transport(std::move(s)); };
  core->acceptors.push_back(create_task(detail::accept_loop(core, core->local.get(), make), "aio-acceptor"));
  core->serving = true;
  co_return Server(core);
}

}  // namespace

// Not coroutines: the options are copied into the coroutine here.
Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port,
                          const ServerOptions& options) {
  return serve_tcp(std::move(client_connected), std::move(host), port, options);
}

Task<Server> start_server(ClientConnected client_connected, std::string host, std::uint16_t port) {
  const ServerOptions options;
  return serve_tcp(std::move(client_connected), std::move(host), port, options);
}

Task<Server> start_unix_server(ClientConnected client_connected, std::string path, const ServerOptions& options) {
  return serve_unix(std::move(client_connected), std::move(path), options);
}

Task<Server> start_unix_server(ClientConnected client_connected, std::string path) {
  const ServerOptions options;
  return serve_unix(std::move(client_connected), std::move(path), options);
}

}  // namespace aio
