// servers/proxy/health.hpp — active health checks (HAProxy's `check inter fall rise`).
//
// Every `interval` each upstream gets a TCP connect (bounded by `timeout`)
// that is closed at once; its outcome goes to Upstream::check_passed/failed,
// which apply the fall and rise rules and log each change of state.
#pragma once

#include <chrono>

#include <aio/tasks.hpp>

#include "upstream.hpp"

namespace proxy {

struct HealthOptions {
  std::chrono::steady_clock::duration interval = std::chrono::seconds(2);
  std::chrono::steady_clock::duration timeout = std::chrono::seconds(2);
  HealthRules rules;
};

// One check of one upstream.
// Cancellation: the attempt is abandoned; nothing is recorded.
[[nodiscard]] aio::Task<void> check_upstream(UpstreamPtr upstream, HealthOptions options);

// Checks every upstream of `set` every options.interval, all at once, until cancelled.
// Cancellation: ends the checks.
[[nodiscard]] aio::Task<void> run_health_checks(UpstreamSet& set, HealthOptions options);

}  // namespace proxy
