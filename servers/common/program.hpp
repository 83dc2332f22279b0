// servers/common/program.hpp — internal to the sample programs. What every aio server shares.
//
// The common flags (each also read from AIO_<FLAG>),
// logging to stderr, TLS, metrics (server + process + loop lag on
// --metrics-port), --threads loops with SO_REUSEPORT listeners (or
// --systemd: the sockets systemd passed, shared by the loops), and the
// SIGTERM/SIGINT drain. A server program adds its own flags to app(), then
// hands run() the function that sets up one loop and returns its handler:
//
//   aio::program::ServerProgram prog("aio-echo", "echo server", 7000, 9100);
//   if (auto rc = prog.parse(argc, argv)) return *rc;
//   return prog.run([](aio::program::LoopContext&) { return aio::ClientConnected(echo); });
//
// Concurrency: run() blocks the calling thread; each loop runs on a thread of
// its own and calls the setup function there, so per-loop state needs no lock.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <aio/runners.hpp>
#include <aio/server.hpp>

#include "duration.hpp"
#include "host_port.hpp"

namespace aio::metrics {
class Registry;
}

namespace aio::program {

// The flags every sample server has.
struct ServerConfig {
  std::string host = "0.0.0.0";  // "": every interface, IPv4 and IPv6; "::": every IPv6 one
  std::uint16_t port = 0;
  std::string metrics_host = "0.0.0.0";
  std::uint16_t metrics_port = 0;
  std::size_t threads = 1;
  std::string tls_cert, tls_key;
  std::size_t max_connections = 0;
  std::string idle_timeout = "0s";
  std::string shutdown_timeout = "10s";
  std::string log_level = "info";
  bool systemd = false;  // serve the sockets of LISTEN_FDS (socket activation) instead of host/port
};

// What the setup function gets on each loop's thread.
struct LoopContext {
  std::size_t index;            // 0 .. threads-1
  Loop& loop;
  metrics::Registry& registry;  // shared by all loops (thread-safe instruments)
  const ServerConfig& config;
  // Set by the setup function when it needs them:
  std::size_t limit = StreamReader::default_limit;  // ServerOptions::limit (the readline limit)
  std::function<void()> on_drain;                   // called on the loop when the drain starts
};

using LoopSetup = std::function<ClientConnected(LoopContext&)>;

// How a program names its listening address: --host and --port (echo,
// chat), or one --listen HOST:PORT (the proxy, as HAProxy's `bind`).
enum class ListenFlags { host_and_port, listen };

class ServerProgram {
 public:
  ServerProgram(std::string name, std::string description, std::uint16_t default_port,
                std::uint16_t default_metrics_port, ListenFlags listen = ListenFlags::host_and_port);
  ~ServerProgram();

  // The command line, for a program's own flags. Options added with
  // add_env_option() are also read from AIO_<NAME>.
  CLI::App& app() { return app_; }
  ServerConfig& config() { return config_; }

  // Parses argv (and the environment); an exit status when the program
  // should stop now (--help: 0, --version: 0, bad usage: 2).
  std::optional<int> parse(int argc, char** argv);

  // Serves until SIGTERM/SIGINT, then drains; the process's exit status
  // (0 after a drain, 1 when the server could not start).
  int run(const LoopSetup& setup);

 private:
  std::string name_;
  // Outlives run(): services that a program keeps past run() (declared
  // after the ServerProgram) may still refer to their instruments.
  std::unique_ptr<metrics::Registry> registry_;
  ServerConfig config_;
  std::string listen_;  // --listen HOST:PORT (ListenFlags::listen)
  CLI::App app_;
};

// Adds --NAME with its environment variable AIO_NAME (dashes to underscores).
template <class T>
CLI::Option* add_env_option(CLI::App& app, const std::string& name, T& value, const std::string& help) {
  std::string env = "AIO_";
  for (char c : name) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return app.add_option("--" + name, value, help)->envname(env)->capture_default_str();
}

// Sets up spdlog on stderr at `level` (trace, debug, info, warn, error, critical, off).
void setup_logging(const std::string& program, const std::string& level);

// Raises the soft descriptor limit to the hard one (10,000 idle clients need it).
void raise_fd_limit();

}  // namespace aio::program
