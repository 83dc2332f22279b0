// examples/kv_server/kv_server.hpp — the key-value server of docs/GUIDE.md.
//
//   aio-kv --port 7070          then:   nc 127.0.0.1 7070
//   SET greeting hello world    ->      OK
//   GET greeting                ->      VALUE hello world
//
// KvServer owns the loop-wide state (the store, the metrics, the open
// sessions) and the connection handler; serve() is the whole program:
// listen, serve until SIGTERM or SIGINT, then shut down gracefully.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <aio/aio.hpp>

#include "kv_store.hpp"

namespace kv {

// [kv-config]
struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7070;                  // 0: any free port
  std::string metrics_host = "127.0.0.1";
  int metrics_port = 9107;                    // 0: any free port; -1: no metrics endpoint
  Limits limits;                              // the store's bounds
  std::size_t max_line = 4096;                // the longest command line (the reader's limit)
  std::size_t max_connections = 1000;         // more are refused at accept
  std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(5);
  std::chrono::steady_clock::duration shutdown_timeout = std::chrono::seconds(5);
  std::string tls_cert, tls_key;              // both set: TLS only
};
// [kv-config]

class KvServer {
 public:
  KvServer(Config config, aio::metrics::Registry& registry);
  KvServer(const KvServer&) = delete;
  KvServer& operator=(const KvServer&) = delete;

  // Listens; the Server handle tells the port (config.port 0: a free one).
  // Throws: std::system_error when the address cannot be bound.
  [[nodiscard]] aio::Task<aio::Server> start();

  // The graceful stop: no new connections, every client told "BYE server
  // shutting down" after the reply it is owed, connections closed once their
  // bytes are out; what is still open after config.shutdown_timeout is
  // aborted. Returns once no connection is left.
  [[nodiscard]] aio::Task<void> shutdown(aio::Server& server);

  Store& store() noexcept { return store_; }
  std::size_t sessions() const noexcept { return writers_.size(); }

 private:
  [[nodiscard]] aio::Task<void> handle(aio::StreamReader reader, aio::StreamWriter writer);
  void count(std::string_view command);

  Config config_;
  aio::metrics::Registry& registry_;
  Store store_;
  std::map<std::string, aio::metrics::Counter, std::less<>> commands_;  // kv_commands_total{command}
  aio::metrics::Gauge keys_;                                             // kv_keys
  std::set<aio::StreamWriter*> writers_;  // the open connections, for the shutdown's BYE
  bool stopping_ = false;
};

// The program: start, log "listening on HOST:PORT" (and the metrics
// endpoint) to stderr, serve until SIGTERM or SIGINT, shut down. Returns the
// exit status.
[[nodiscard]] aio::Task<int> serve(Config config);

}  // namespace kv
