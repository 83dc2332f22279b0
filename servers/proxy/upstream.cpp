// servers/proxy/upstream.cpp — upstream health, load and metrics.
#include "upstream.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "host_port.hpp"

namespace proxy {

std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::refused: return "refused";
    case Failure::timeout: return "timeout";
    case Failure::error: return "error";
    case Failure::check: return "check";
  }
  return "error";
}

namespace {
// 100 µs to 10 s: a loopback connect is tens of µs, a blackholed one hits the timeout.
const std::vector<double> connect_buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                             0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                             5,      10};
}  // namespace

Upstream::Upstream(aio::metrics::Registry& r, std::string source, std::string host, std::uint16_t port, bool healthy)
    : source_(std::move(source)),
      host_(std::move(host)),
      label_(aio::program::format_host_port(host_, port)),
      port_(port),
      healthy_(healthy),
      joined_late_(!healthy) {
  const aio::metrics::Labels l{{"upstream", label_}};
  metrics_.connections = r.counter("proxy_upstream_connections_total", "Client connections relayed to the upstream", l);
  metrics_.active = r.gauge("proxy_upstream_active", "Relays to the upstream open now", l);
  metrics_.healthy = r.gauge("proxy_upstream_healthy", "1 when the upstream takes new clients, else 0", l);
  metrics_.connect_seconds = r.histogram("proxy_upstream_connect_seconds", "Time to connect to the upstream",
                                         connect_buckets, l);
  for (std::size_t i = 0; i < std::size(all_failures); ++i)
    metrics_.failures[i] = r.counter("proxy_upstream_failures_total",
                                     "Failed connects to the upstream (clients' and health checks')",
                                     {{"upstream", label_}, {"reason", std::string(failure_name(all_failures[i]))}});
  metrics_.bytes_sent = r.counter("proxy_upstream_bytes_total", "Bytes relayed, by direction",
                                  {{"upstream", label_}, {"direction", "to_upstream"}});
  metrics_.bytes_received = r.counter("proxy_upstream_bytes_total", "Bytes relayed, by direction",
                                      {{"upstream", label_}, {"direction", "from_upstream"}});
  metrics_.healthy.set(healthy ? 1 : 0);
}

void Upstream::set_healthy(bool up, const std::string& why) {
  healthy_.store(up, std::memory_order_relaxed);
  metrics_.healthy.set(up ? 1 : 0);
  if (up)
    spdlog::info("upstream {} is up: {}", label_, why);
  else
    spdlog::warn("upstream {} is down: {}", label_, why);
}

void Upstream::connected(std::chrono::steady_clock::duration took) {
  metrics_.connections.inc();
  metrics_.connect_seconds.observe(std::chrono::duration<double>(took).count());
}

bool Upstream::connect_failed(Failure why, const std::string& detail) {
  metrics_.failures[static_cast<std::size_t>(why)].inc();
  bool went_down = false;
  {
    std::lock_guard lock(m_);
    passed_checks_ = 0;
    if (healthy()) {
      set_healthy(false, "a client's connect failed (" + detail + ")");
      went_down = true;
    }
  }
  if (went_down && on_down_) on_down_(*this);
  return went_down;
}

bool Upstream::check_passed(const HealthRules& rules) {
  std::lock_guard lock(m_);
  failed_checks_ = 0;
  if (healthy()) return false;
  ++passed_checks_;
  const int needed = joined_late_ ? 1 : rules.rises;
  if (passed_checks_ < needed) return false;
  set_healthy(true, joined_late_ ? "its first check passed" : std::to_string(passed_checks_) + " checks passed in a row");
  joined_late_ = false;
  passed_checks_ = 0;
  return true;
}

bool Upstream::check_failed(const HealthRules& rules, const std::string& detail) {
  metrics_.failures[static_cast<std::size_t>(Failure::check)].inc();
  bool went_down = false;
  {
    std::lock_guard lock(m_);
    passed_checks_ = 0;
    ++failed_checks_;
    if (healthy() && failed_checks_ >= rules.fails) {
      set_healthy(false, std::to_string(failed_checks_) + " checks failed in a row (" + detail + ")");
      went_down = true;
    }
  }
  if (went_down && on_down_) on_down_(*this);
  return went_down;
}

void Upstream::relay_started() noexcept {
  active_.fetch_add(1, std::memory_order_relaxed);
  metrics_.active.inc();
}

void Upstream::relay_ended() noexcept {
  active_.fetch_sub(1, std::memory_order_relaxed);
  metrics_.active.dec();
}

void Upstream::retire() {
  if (retired_.exchange(true)) return;
  metrics_.healthy.set(0);
  spdlog::info("upstream {} left {}: no new clients, {} relays finish", label_, source_, active());
}

void Upstream::rejoin() {
  if (!retired_.exchange(false)) return;
  std::lock_guard lock(m_);
  // Back in the records: treated as a new address, down until a check passes.
  healthy_.store(false, std::memory_order_relaxed);
  joined_late_ = true;
  passed_checks_ = failed_checks_ = 0;
  spdlog::info("upstream {} is back in {}; up after its first check passes", label_, source_);
}

void Upstream::publish() {
  std::lock_guard lock(m_);
  const auto s = sent_.load(std::memory_order_relaxed);
  const auto r = received_.load(std::memory_order_relaxed);
  metrics_.bytes_sent.inc(static_cast<double>(s - sent_published_));
  metrics_.bytes_received.inc(static_cast<double>(r - received_published_));
  sent_published_ = s;
  received_published_ = r;
}

UpstreamSet::UpstreamSet(aio::metrics::Registry& registry) : registry_(registry) {
  registry_.add_collect_hook(this, [this] {
    std::lock_guard lock(m_);
    for (auto& u : all_) u->publish();
  });
}

UpstreamSet::~UpstreamSet() {
  registry_.remove_collect_hook(this);
  for (auto& u : all_) u->publish();
}

std::vector<UpstreamPtr> UpstreamSet::update(const std::string& source,
                                             const std::vector<std::pair<std::string, std::uint16_t>>& addresses,
                                             bool healthy) {
  std::vector<UpstreamPtr> joined;
  std::lock_guard lock(m_);
  bool changed = false;
  for (auto& u : all_) {
    if (u->source() != source) continue;
    const bool listed = std::any_of(addresses.begin(), addresses.end(),
                                    [&](const auto& a) { return a.first == u->host() && a.second == u->port(); });
    if (listed && u->retired()) {
      u->rejoin();
      joined.push_back(u);
      changed = true;
    } else if (!listed && !u->retired()) {
      u->retire();
      changed = true;
    }
  }
  for (const auto& [host, port] : addresses) {
    const bool known = std::any_of(all_.begin(), all_.end(), [&](const UpstreamPtr& u) {
      return u->source() == source && u->host() == host && u->port() == port;
    });
    if (known) continue;
    auto u = std::make_shared<Upstream>(registry_, source, host, port, healthy);
    u->on_down_ = on_down_;
    if (healthy)
      spdlog::info("upstream {} ({}) added", u->label(), source);
    else
      spdlog::info("upstream {} joined {}; up after its first check passes", u->label(), source);
    all_.push_back(u);
    joined.push_back(std::move(u));
    changed = true;
  }
  const auto count = std::count_if(all_.begin(), all_.end(),
                                   [&](const UpstreamPtr& u) { return u->source() == source && !u->retired(); });
  registry_.gauge("proxy_upstreams", "Addresses each --upstream stands for now", {{"upstream", source}})
      .set(static_cast<double>(count));
  if (changed) version_.fetch_add(1, std::memory_order_acq_rel);
  return joined;
}

std::vector<UpstreamPtr> UpstreamSet::snapshot() const {
  std::lock_guard lock(m_);
  std::vector<UpstreamPtr> out;
  for (const auto& u : all_)
    if (!u->retired()) out.push_back(u);
  return out;
}

void UpstreamSet::on_down(std::function<void(Upstream&)> callback) {
  std::lock_guard lock(m_);
  on_down_ = std::move(callback);
  for (auto& u : all_) u->on_down_ = on_down_;
}

}  // namespace proxy
