// servers/proxy/discovery.hpp — upstreams named by DNS, re-resolved as they change.
//
// An `--upstream NAME:PORT` whose NAME is not an address is resolved at
// start and again every `interval`; each A and AAAA record is an upstream.
// Addresses that appear join the UpstreamSet down and come up after their
// first passed check (run at once); addresses that vanish are retired. A
// failed lookup changes nothing (the last good answer stays), as HAProxy's
// resolvers hold the last valid address. This is how the proxy follows a
// Kubernetes headless Service as its Deployment scales.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <aio/tasks.hpp>

#include "health.hpp"
#include "upstream.hpp"

namespace proxy {

struct UpstreamName {
  std::string source;  // the --upstream as given, "echo:7000"
  std::string host;
  std::uint16_t port = 0;
};

// getaddrinfo(host) as (address, port) pairs, deduplicated, in the
// resolver's order; throws std::runtime_error with gai_strerror's text.
// Blocking: call it off the loop (aio::to_thread).
std::vector<std::pair<std::string, std::uint16_t>> resolve(const std::string& host, std::uint16_t port);

// Re-resolves every name every `interval` until cancelled.
// Cancellation: ends discovery; the set keeps what it has.
[[nodiscard]] aio::Task<void> run_discovery(UpstreamSet& set, std::vector<UpstreamName> names,
                                            std::chrono::steady_clock::duration interval, HealthOptions health);

}  // namespace proxy
