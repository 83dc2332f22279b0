// examples/kv_server/kv_server.cpp — the connection handler, the server's options, the shutdown.
#include "kv_server.hpp"

#include <csignal>
#include <cstdio>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace kv {

namespace {

// [kv-read-line]
struct Line {
  std::string text;       // without its '\n'
  bool too_long = false;  // longer than the reader's limit: skipped, text empty
};

// The next command line; nullopt at EOF. A line longer than the reader's
// limit is skipped through its '\n' and reported as too_long. (readline()
// would discard only the part already buffered, so the tail of a long line
// would come back as a command of its own; readuntil() keeps what it could
// not frame, which lets us skip exactly through the separator.)
aio::Task<std::optional<Line>> read_line(aio::StreamReader& reader) {
  bool too_long = false;
  for (;;) {
    std::optional<Line> line;
    bool eof = false;
    std::size_t skip = 0;
    try {
      std::string text = co_await reader.readuntil("\n");
      text.pop_back();
      line = too_long ? Line{{}, true} : Line{std::move(text), false};
    } catch (const aio::LimitOverrunError& e) {
      skip = e.consumed;  // bytes searched without finding '\n' (or up to a far one)
    } catch (const aio::IncompleteReadError& e) {
      eof = true;  // EOF; a last line without its '\n' still counts
      if (!e.partial.empty() && !too_long) line = Line{e.partial, false};
    }
    if (line || eof) co_return line;
    too_long = true;
    co_await reader.readexactly(static_cast<std::ptrdiff_t>(skip));  // already buffered: no wait
  }
}
// [kv-read-line]

}  // namespace

KvServer::KvServer(Config config, aio::metrics::Registry& registry)
    : config_(std::move(config)), registry_(registry), store_(config_.limits) {
  // [kv-metrics]
  // The built-in families (aio_connections_*, aio_bytes_*, ...) come from
  // ServerOptions::metrics; these two are the server's own.
  for (const char* command : {"GET", "SET", "DEL", "KEYS", "QUIT", "invalid"})
    commands_.emplace(command, registry_.counter("kv_commands_total", "Commands handled, by command",
                                                 {{"command", command}}));
  keys_ = registry_.gauge("kv_keys", "Keys in the store");
  // [kv-metrics]
}

void KvServer::count(std::string_view command) {
  if (auto it = commands_.find(command); it != commands_.end()) it->second.inc();
  keys_.set(static_cast<double>(store_.size()));
}

// [kv-options]
aio::Task<aio::Server> KvServer::start() {
  aio::ServerOptions options;
  options.limit = config_.max_line;                 // the reader's limit: the longest command line
  options.max_connections = config_.max_connections;  // refused beyond (counted in the metrics)
  options.idle_timeout = config_.idle_timeout;      // a silent client is disconnected
  options.name = "kv";                              // the server="kv" label of the built-in metrics
  options.metrics = &registry_;
  if (!config_.tls_cert.empty()) options.ssl = aio::tls::server_context(config_.tls_cert, config_.tls_key);
  // The handler is a plain lambda returning the member coroutine's Task: the
  // coroutine's frame keeps `this` (which outlives the server), never the
  // lambda's captures.
  aio::ClientConnected handler = [this](aio::StreamReader reader, aio::StreamWriter writer) {
    return handle(std::move(reader), std::move(writer));
  };
  co_return co_await aio::start_server(handler, config_.host, config_.port, options);
}
// [kv-options]

// [kv-handler]
aio::Task<void> KvServer::handle(aio::StreamReader reader, aio::StreamWriter writer) {
  Session session;           // per-connection state lives in the handler's frame
  writers_.insert(&writer);  // loop-wide: the shutdown says BYE to every open connection
  struct Forget {
    std::set<aio::StreamWriter*>& writers;
    aio::StreamWriter* writer;
    ~Forget() { writers.erase(writer); }  // on every way out: return, exception, cancellation
  } forget{writers_, &writer};

  try {
    while (!stopping_) {
      auto line = co_await read_line(reader);
      if (!line) break;  // EOF: the client closed its side
      Reply reply = line->too_long
                        ? Reply{"ERR line too long (max " + std::to_string(config_.max_line) + " bytes)\n", "invalid"}
                        : execute(store_, session, line->text);
      count(reply.command);
      writer.write(reply.text);
      co_await writer.drain();  // backpressure: a client that does not read waits here
      if (reply.close) break;
    }
  } catch (const aio::ConnectionResetError&) {
    // The client vanished; nothing to answer. (Anything else propagates: the
    // server logs it and counts it in aio_handler_errors_total.)
  }
  writer.close();
}
// [kv-handler]

// [kv-shutdown]
aio::Task<void> KvServer::shutdown(aio::Server& server) {
  stopping_ = true;   // handlers stop after the command they are on
  server.close();     // stop accepting: the port is free again
  for (aio::StreamWriter* writer : writers_) writer->write("BYE server shutting down\n");
  server.close_clients();  // each connection closes once its buffered bytes are sent
  bool stuck = false;
  try {
    co_await aio::wait_for(server.wait_closed(), config_.shutdown_timeout);
  } catch (const aio::TimeoutError&) {
    stuck = true;  // a client that does not read keeps its bytes buffered
  }
  if (stuck) {
    server.abort_clients();
    co_await server.wait_closed();
  }
}
// [kv-shutdown]

namespace {
aio::Task<void> stop(aio::TaskHandle<void> task) {
  task.cancel();
  const std::vector<aio::TaskHandle<void>> tasks{task};
  co_await aio::wait(tasks);
}
}  // namespace

// [kv-serve]
aio::Task<int> serve(Config config) {
  aio::metrics::Registry registry;
  aio::metrics::install_process_metrics(registry);  // process_cpu_seconds_total, ...
  std::unique_ptr<aio::metrics::Exposer> exposer;   // GET /metrics, on a thread of its own
  if (config.metrics_port >= 0) {
    exposer = std::make_unique<aio::metrics::Exposer>(registry, config.metrics_host,
                                                      static_cast<std::uint16_t>(config.metrics_port));
    std::fprintf(stderr, "metrics on http://%s:%u/metrics\n", config.metrics_host.c_str(), exposer->port());
  }
  auto lag = aio::create_task(aio::metrics::monitor_loop_lag(registry), "loop-lag");

  KvServer kv(config, registry);
  aio::Server server;
  std::string failure;
  try {
    server = co_await kv.start();
  } catch (const std::system_error& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    std::fprintf(stderr, "cannot listen on %s:%u: %s\n", config.host.c_str(), config.port, failure.c_str());
    co_await stop(lag);
    co_return 1;
  }

  // Handle the signals before saying we are up: a SIGTERM sent right after
  // the "listening" line must start the drain, not kill the process.
  const std::vector<int> signals{SIGTERM, SIGINT};
  auto signalled = aio::create_task(aio::wait_for_signal(signals), "signals");
  co_await aio::sleep(std::chrono::seconds(0));  // one turn: the task has registered its handlers
  std::fprintf(stderr, "listening on %s\n", server.sockets().front().c_str());

  const int sig = co_await signalled.join();
  std::fprintf(stderr, "%s: shutting down (%zu connections)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               kv.sessions());
  co_await kv.shutdown(server);
  co_await stop(lag);
  std::fprintf(stderr, "stopped\n");
  co_return 0;
}
// [kv-serve]

}  // namespace kv
