// servers/proxy/proxy_server.hpp — aio-proxy's service: a TCP load balancer.
//
//   aio-proxy --listen 0.0.0.0:7002 --upstream 127.0.0.1:7000 --upstream 127.0.0.1:7010
//   then:  printf 'hello\n' | nc -N 127.0.0.1 7002
//
// Each client: pick a healthy upstream by the policy (balance.hpp), connect
// within --connect-timeout, and on failure try the next one, up to
// --retries more, before reading a byte from the client; with none left,
// close the client at once and count proxy_no_upstream_total. Then write the
// PROXY header if asked (proxy_protocol.hpp) and relay (relay.hpp) until
// both sides are done; between two plain TCP sockets, bulk transfers move
// in the kernel (splice.hpp).
//
// Concurrency: one ProxyService is shared by every loop of the process. The
// upstreams, their health checks and discovery (started on loop 0) are
// shared; each loop has its own Picker and its own list of relays.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <aio/runners.hpp>
#include <aio/server.hpp>

#include "balance.hpp"
#include "discovery.hpp"
#include "health.hpp"
#include "proxy_protocol.hpp"
#include "relay.hpp"
#include "upstream.hpp"

namespace asio::ssl {
class context;
}

namespace proxy {

enum class OnDown { keep, close };  // what an upstream going down does to its live relays

struct ProxyOptions {
  std::vector<UpstreamName> upstreams;
  Policy policy = Policy::round_robin;
  std::chrono::steady_clock::duration connect_timeout = std::chrono::seconds(5);
  int retries = 2;
  HealthOptions health;
  std::chrono::steady_clock::duration resolve_interval = std::chrono::seconds(5);
  ProxyProtocol send_proxy = ProxyProtocol::none;
  OnDown on_down = OnDown::keep;
  RelayOptions relay;
  std::size_t buffer_size = 64 * 1024;  // per direction
  std::shared_ptr<asio::ssl::context> upstream_tls;
  std::string upstream_server_name;  // SNI and verification; default: the --upstream's host
};

class ProxyService {
 public:
  // Resolves the named upstreams once (a name that does not resolve yet is
  // kept and retried by discovery).
  ProxyService(ProxyOptions options, aio::metrics::Registry& registry);
  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;
  ~ProxyService();

  // Called on each loop's thread before it serves: the loop's handler.
  // Loop 0 also runs the health checks and discovery.
  aio::ClientConnected start_loop(std::size_t index);
  // Called on each loop when the drain begins.
  void stop_loop(std::size_t index);

  UpstreamSet& upstreams() noexcept { return set_; }

 private:
  struct LoopState;
  struct Connected;
  aio::Task<void> serve(LoopState& loop, aio::StreamReader reader, aio::StreamWriter writer);
  // Its own coroutine, so that what connecting needs is freed before the relay starts.
  aio::Task<std::optional<Connected>> connect_upstream(LoopState& loop, std::string client);
  void upstream_down(Upstream& upstream);

  ProxyOptions options_;
  aio::metrics::Registry& registry_;
  aio::metrics::Counter no_upstream_;
  UpstreamSet set_;
  std::mutex loops_m_;
  std::vector<std::shared_ptr<LoopState>> loops_;  // by index; reset when the loop drains
};

}  // namespace proxy
