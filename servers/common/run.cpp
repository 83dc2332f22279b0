// servers/common/run.cpp — ServerProgram::run: loops, listeners, metrics, signals, drain.
//
// Loop 0 binds first (so --port 0 picks one port), the others then bind the
// same port with SO_REUSEPORT and the kernel spreads connections over them.
// With --systemd the sockets come from systemd instead: each loop serves a
// duplicate of each, and the loops take turns accepting from the one queue.
// The main thread only waits for SIGTERM/SIGINT (blocked everywhere, taken
// with sigtimedwait), then asks every loop to drain: stop accepting, give
// the connections --shutdown-timeout to finish, close what is left
// gracefully, and after one more second abort the rest.
#include <asio/ssl/context.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <aio/locks.hpp>
#include <aio/metrics.hpp>
#include <aio/socket_activation.hpp>
#include <aio/timeouts.hpp>
#include <aio/tls.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <future>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "program.hpp"

namespace aio::program {
namespace {

// Where the main thread reaches each loop once it runs.
struct LoopSlot {
  std::mutex m;
  Loop* loop = nullptr;
  Event* stop = nullptr;
  bool stop_requested = false;
};

struct Shared {
  const ServerConfig& config;
  const std::string& name;
  const LoopSetup& setup;
  metrics::Registry& registry;
  std::shared_ptr<asio::ssl::context> ssl;
  Duration idle_timeout{}, shutdown_timeout{};
  std::promise<std::uint16_t> port_promise;      // loop 0's bound port (0: it failed)
  std::shared_future<std::uint16_t> port;
  std::vector<std::string> names;                // loop 0's listening sockets, set before port_promise
  std::vector<std::vector<int>> inherited;       // --systemd: each loop's descriptors
  std::atomic<std::size_t> listening{0};
  std::atomic<std::size_t> exited{0};
  std::atomic<bool> failed{false};
  std::vector<LoopSlot> slots;
};

Task<void> wait_all_closed(std::vector<Server>& servers) {
  for (auto& server : servers) co_await server.wait_closed();
}

std::size_t active_connections(const std::vector<Server>& servers) {
  std::size_t n = 0;
  for (const auto& server : servers) n += server.active_connections();
  return n;
}

Task<void> drain(std::vector<Server>& servers, Duration timeout, std::size_t index) {
  for (auto& server : servers) server.close();
  try {
    co_await wait_for(wait_all_closed(servers), timeout);
    co_return;
  } catch (const TimeoutError&) {
  }
  spdlog::warn("loop {}: {} connections still open after the shutdown timeout; closing them", index,
               active_connections(servers));
  for (auto& server : servers) server.close_clients();
  try {
    co_await wait_for(wait_all_closed(servers), std::chrono::seconds(1));
    co_return;
  } catch (const TimeoutError&) {
  }
  for (auto& server : servers) server.abort_clients();
  co_await wait_all_closed(servers);
}

// The loop's servers: one per inherited socket with --systemd, else one
// bound to --host and `port`.
Task<std::vector<Server>> open_servers(Shared& sh, std::size_t index, const ClientConnected& handler,
                                       const ServerOptions& opts, std::uint16_t port) {
  std::vector<Server> servers;
  if (sh.config.systemd) {
    for (int fd : sh.inherited[index]) {
      auto server = co_await start_server(handler, fd, opts);
      servers.push_back(std::move(server));
    }
  } else {
    auto server = co_await start_server(handler, sh.config.host, port, opts);
    servers.push_back(std::move(server));
  }
  co_return servers;
}

Task<void> serve_loop(Shared& sh, std::size_t index) {
  Loop& loop = get_running_loop();
  Event stop;
  LoopContext ctx{index, loop, sh.registry, sh.config, StreamReader::default_limit, {}};
  ClientConnected handler = sh.setup(ctx);

  ServerOptions opts;
  opts.reuse_port = sh.config.threads > 1;
  opts.ssl = sh.ssl;
  opts.max_connections = sh.config.max_connections;
  opts.idle_timeout = sh.idle_timeout;
  opts.name = sh.name;
  opts.metrics = &sh.registry;
  opts.limit = ctx.limit;

  std::uint16_t port = sh.config.port;
  if (index > 0 && !sh.config.systemd) {
    port = sh.port.get();  // loop 0 has bound: share its port
    if (port == 0) co_return;  // loop 0 failed and said so
  }
  std::vector<Server> servers;
  try {
    auto made = co_await open_servers(sh, index, handler, opts, port);
    servers = std::move(made);
  } catch (const std::exception& e) {
    if (sh.config.systemd) {
      spdlog::critical("cannot serve the sockets systemd passed: {}", e.what());
    } else {
      spdlog::critical("cannot listen on {}: {}", format_host_port(sh.config.host, port), e.what());
    }
    sh.failed = true;
    if (index == 0) sh.port_promise.set_value(0);
    co_return;
  }
  if (index == 0) {
    for (const auto& server : servers)
      for (auto& name : server.sockets()) sh.names.push_back(std::move(name));
    sh.port_promise.set_value(servers.front().port());
  }
  auto lag = create_task(metrics::monitor_loop_lag(sh.registry, std::chrono::milliseconds(100), std::to_string(index)),
                         "loop-lag");
  {
    std::lock_guard lock(sh.slots[index].m);
    sh.slots[index].loop = &loop;
    sh.slots[index].stop = &stop;
    if (sh.slots[index].stop_requested) stop.set();
  }
  sh.listening.fetch_add(1);
  co_await stop.wait();
  {
    std::lock_guard lock(sh.slots[index].m);
    sh.slots[index].stop = nullptr;
  }
  spdlog::debug("loop {}: draining {} connections", index, active_connections(servers));
  if (ctx.on_drain) ctx.on_drain();
  co_await drain(servers, sh.shutdown_timeout, index);
  lag.cancel();
}

// The sockets systemd passed, once per loop: loop 0 takes them, the others
// duplicates (each loop's server closes its own).
std::vector<std::vector<int>> inherited_sockets(std::size_t loops) {
  auto fds = listen_fds();
  if (fds.empty()) throw std::runtime_error("--systemd: no sockets were passed (LISTEN_FDS, LISTEN_PID)");
  std::vector<std::vector<int>> out(loops);
  out[0] = fds;
  for (std::size_t i = 1; i < loops; ++i) {
    for (int fd : fds) {
      const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) throw std::system_error(errno, std::system_category(), "dup of an inherited socket");
      out[i].push_back(copy);
    }
  }
  return out;
}

void request_stop(LoopSlot& slot) {
  std::lock_guard lock(slot.m);
  slot.stop_requested = true;
  if (slot.loop && slot.stop) {
    Event* ev = slot.stop;
    slot.loop->call_soon_threadsafe([ev] { ev->set(); });
  }
}

}  // namespace

int ServerProgram::run(const LoopSetup& setup) {
  setup_logging(name_, config_.log_level);
  raise_fd_limit();
  // Signals are taken by the main thread alone: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  metrics::Registry& registry = *registry_;
  // The `server` label of the metrics: the program's name without "aio-".
  const std::string label = name_.rfind("aio-", 0) == 0 ? name_.substr(4) : name_;
  Shared sh{config_, label, setup, registry, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
            std::vector<LoopSlot>(config_.threads)};
  sh.port = sh.port_promise.get_future().share();
  sh.idle_timeout = *parse_duration(config_.idle_timeout);
  sh.shutdown_timeout = *parse_duration(config_.shutdown_timeout);

  std::unique_ptr<metrics::Exposer> exposer;
  try {
    if (config_.systemd) sh.inherited = inherited_sockets(config_.threads);
    if (!config_.tls_cert.empty()) sh.ssl = tls::server_context(config_.tls_cert, config_.tls_key);
    metrics::install_process_metrics(registry);
    exposer = std::make_unique<metrics::Exposer>(registry, config_.metrics_host, config_.metrics_port);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
  spdlog::info("metrics on {}:{}", config_.metrics_host, exposer->port());

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < config_.threads; ++i) {
    auto body = [&sh, i] {
      try {
        aio::run(serve_loop(sh, i));
      } catch (const std::exception& e) {
        spdlog::critical("loop {} failed: {}", i, e.what());
        sh.failed = true;
      }
      sh.exited.fetch_add(1);
    };
    threads.emplace_back(body);
  }

  bool announced = false, stopping = false;
  const timespec tick{0, 100'000'000};
  while (sh.exited.load() < threads.size()) {
    if (!announced && sh.listening.load() == threads.size()) {
      std::string names;
      for (const auto& n : sh.names) names.append(names.empty() ? "" : ", ").append(n);
      spdlog::info("listening on {}{}{}", names, sh.ssl ? " (tls)" : "",
                   threads.size() > 1 ? fmt::format(" ({} loops)", threads.size()) : "");
      announced = true;
    }
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if ((sig > 0 || sh.failed) && !stopping) {
      if (sig > 0) spdlog::info("got {}, draining (shutdown timeout {})", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                                config_.shutdown_timeout);
      stopping = true;
      for (auto& slot : sh.slots) request_stop(slot);
    }
  }
  for (auto& t : threads) t.join();
  if (sh.failed) return 1;
  spdlog::info("stopped");
  return 0;
}

}  // namespace aio::program
