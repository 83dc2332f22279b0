// aio-proxy — a TCP load balancer. Port 7002, metrics on 9102.
//
//   aio-proxy --listen 0.0.0.0:7002 --upstream HOST:PORT [--upstream HOST:PORT ...]
//             [--balance round-robin|least-conn|random|source-hash] [--connect-timeout 5s]
//             [--idle-timeout 300s] [--half-close-timeout 30s] [--retries 2]
//             [--health-interval 2s] [--health-fails 3] [--health-rises 2] [--resolve-interval 5s]
//             [--send-proxy v1|v2] [--on-down keep|close] [--splice on|off] [--tls-cert F --tls-key F]
//             [--upstream-tls [--upstream-ca F]] [--threads N] [--metrics-port 9102]   (or AIO_LISTEN=... etc.)
//
// Try it:  aio-echo --port 7000 &  aio-proxy --upstream 127.0.0.1:7000 &  printf 'hi\n' | nc -N 127.0.0.1 7002
//
// What a client goes through is in proxy_server.hpp; this file turns flags
// into ProxyOptions and hands the service to the shared server program
// (loops, metrics, TLS termination, SIGTERM drain).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <aio/tls.hpp>

#include "program.hpp"
#include "proxy_server.hpp"

namespace {

std::string check_upstream(const std::string& text) {
  std::string why;
  auto hp = aio::program::parse_host_port(text, &why);
  if (!hp) return why;
  if (hp->port == 0) return "an upstream needs a port from 1 to 65535: '" + text + "'";
  if (text.front() == ':') return "an upstream needs a host: '" + text + "'";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  using aio::program::add_env_option;
  using aio::program::check_duration;
  aio::program::ServerProgram program("aio-proxy", "aio-proxy: a TCP load balancer with health checks", 7002, 9102,
                                      aio::program::ListenFlags::listen);
  auto& app = program.app();
  std::vector<std::string> upstreams;
  std::string balance = "round-robin", connect_timeout = "5s", half_close_timeout = "30s",
              health_interval = "2s", resolve_interval = "5s", send_proxy = "none", on_down = "keep";
  std::string upstream_ca, upstream_server_name, splice = "on";
  bool upstream_tls = false;
  proxy::ProxyOptions options;
  add_env_option(app, "upstream", upstreams, "HOST:PORT of an upstream (repeat it; a DNS name stands for every "
                                             "address it resolves to)")
      ->required()
      ->delimiter(',')
      ->check(check_upstream);
  add_env_option(app, "balance", balance, "round-robin, least-conn, random (power of two choices) or source-hash")
      ->check(CLI::IsMember({"round-robin", "least-conn", "random", "source-hash"}));
  add_env_option(app, "connect-timeout", connect_timeout, "give up a connect to an upstream after this")
      ->check(check_duration);
  add_env_option(app, "half-close-timeout", half_close_timeout,
                 "close a relay this long after one direction ended (0: never)")
      ->check(check_duration);
  add_env_option(app, "retries", options.retries, "other upstreams tried when a connect fails")
      ->check(CLI::Range(0, 64));
  add_env_option(app, "health-interval", health_interval, "time between health checks of each upstream")
      ->check(check_duration);
  add_env_option(app, "health-fails", options.health.rules.fails, "failed checks in a row that take an upstream down")
      ->check(CLI::Range(1, 1000));
  add_env_option(app, "health-rises", options.health.rules.rises, "passed checks in a row that bring it back")
      ->check(CLI::Range(1, 1000));
  add_env_option(app, "resolve-interval", resolve_interval, "time between DNS lookups of named upstreams")
      ->check(check_duration);
  add_env_option(app, "send-proxy", send_proxy, "send a PROXY protocol header to the upstream: v1, v2 or none")
      ->check(CLI::IsMember({"none", "v1", "v2"}));
  add_env_option(app, "on-down", on_down, "relays to an upstream that goes down: keep or close")
      ->check(CLI::IsMember({"keep", "close"}));
  add_env_option(app, "splice", splice,
                 "on: move bulk transfers socket to socket with splice(2) (plain TCP on both sides; TLS relays never "
                 "splice)")
      ->check(CLI::IsMember({"on", "off"}));
  add_env_option(app, "buffer-size", options.buffer_size, "bytes buffered per direction of a relay")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20));
  app.add_flag("--upstream-tls", upstream_tls, "connect to the upstreams with TLS (verified)")
      ->envname("AIO_UPSTREAM_TLS");
  add_env_option(app, "upstream-ca", upstream_ca, "CA file for the upstreams' certificates (default: the system's)")
      ->check(CLI::ExistingFile);
  add_env_option(app, "upstream-server-name", upstream_server_name,
                 "name the upstreams' certificates must carry (default: the --upstream's host)");
  program.config().idle_timeout = "300s";
  app.get_option("--idle-timeout")->default_str("300s");
  if (auto rc = program.parse(argc, argv)) return *rc;

  for (const auto& text : upstreams) {
    auto hp = aio::program::parse_host_port(text);
    options.upstreams.push_back({text, hp->host, hp->port});
  }
  options.policy = *proxy::parse_policy(balance);
  options.connect_timeout = *aio::program::parse_duration(connect_timeout);
  options.relay.half_close_timeout = *aio::program::parse_duration(half_close_timeout);
  options.health.interval = *aio::program::parse_duration(health_interval);
  options.health.timeout = std::min(options.connect_timeout, options.health.interval);
  options.resolve_interval = *aio::program::parse_duration(resolve_interval);
  if (options.health.interval.count() <= 0 || options.resolve_interval.count() <= 0 ||
      options.connect_timeout.count() <= 0) {
    std::fprintf(stderr, "aio-proxy: --health-interval, --resolve-interval and --connect-timeout must be above 0\n");
    return 2;
  }
  if (send_proxy != "none") options.send_proxy = *proxy::parse_proxy_protocol(send_proxy);
  options.on_down = on_down == "close" ? proxy::OnDown::close : proxy::OnDown::keep;
  options.upstream_server_name = upstream_server_name;
  if (!upstream_ca.empty() && !upstream_tls) {
    std::fprintf(stderr, "aio-proxy: --upstream-ca needs --upstream-tls\n");
    return 2;
  }
  if (upstream_tls) {
    try {
      options.upstream_tls = aio::tls::client_context(upstream_ca);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "aio-proxy: --upstream-ca: %s\n", e.what());
      return 2;
    }
  }

  if (splice == "on" && !options.upstream_tls && program.config().tls_cert.empty()) {
    // Spliced bytes bypass the streams, whose idle timer would not see them.
    options.relay.splice = true;
    options.relay.idle_timeout = *aio::program::parse_duration(program.config().idle_timeout);
    program.config().idle_timeout = "0s";
  }

  std::unique_ptr<proxy::ProxyService> service;  // outlives every loop and connection
  std::mutex m;
  return program.run([&](aio::program::LoopContext& ctx) {
    {
      std::lock_guard lock(m);
      if (!service) service = std::make_unique<proxy::ProxyService>(options, ctx.registry);
    }
    ctx.limit = options.buffer_size;
    ctx.on_drain = [s = service.get(), i = ctx.index] { s->stop_loop(i); };
    return service->start_loop(ctx.index);
  });
}
