// examples/kv_server/main.cpp — aio-kv: the command line of the key-value server.
//
//   aio-kv [--host 127.0.0.1] [--port 7070] [--metrics-port 9107] [--max-keys 10000]
//          [--max-value-size 1024] [--max-line 4096] [--max-connections 1000]
//          [--idle-timeout 300] [--shutdown-timeout 5] [--tls-cert F --tls-key F]
//   Every flag is also read from the environment: KV_PORT, KV_METRICS_PORT, ...
#include <CLI/CLI.hpp>

#include <cctype>
#include <chrono>
#include <string>

#include <aio/aio.hpp>

#include "kv_server.hpp"

// [kv-main]
int main(int argc, char** argv) {
  kv::Config config;
  double idle_seconds = 300, shutdown_seconds = 5;
  CLI::App app("aio-kv: a line-protocol key-value server (GET, SET, DEL, KEYS, QUIT)");
  auto flag = [&app](const std::string& name, auto& value, const std::string& help) {
    std::string env = "KV_";
    for (char c : name) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    app.add_option("--" + name, value, help)->envname(env)->capture_default_str();
  };
  flag("host", config.host, "address to listen on");
  flag("port", config.port, "port (0: any free port)");
  flag("metrics-host", config.metrics_host, "address of the /metrics endpoint");
  flag("metrics-port", config.metrics_port, "port of /metrics (0: any free port, -1: none)");
  flag("max-keys", config.limits.max_keys, "keys the store holds at most");
  flag("max-key-size", config.limits.max_key_size, "bytes per key at most");
  flag("max-value-size", config.limits.max_value_size, "bytes per value at most");
  flag("max-line", config.max_line, "bytes per command line at most");
  flag("max-connections", config.max_connections, "connections at once (0: unlimited)");
  flag("idle-timeout", idle_seconds, "seconds a silent client may stay connected (0: forever)");
  flag("shutdown-timeout", shutdown_seconds, "seconds the drain waits for clients after SIGTERM");
  flag("tls-cert", config.tls_cert, "certificate file (PEM): serve TLS");
  flag("tls-key", config.tls_key, "private key file (PEM)");
  CLI11_PARSE(app, argc, argv);
  config.idle_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(idle_seconds));
  config.shutdown_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(shutdown_seconds));
  return aio::run(kv::serve(config));
}
// [kv-main]
