// servers/proxy/upstream.hpp — the upstreams of aio-proxy: their health, load and metrics.
//
// An Upstream is one address (IP and port). An `--upstream` given as an
// address is one Upstream; one given as a DNS name is as many as the name
// resolves to, and Discovery (discovery.hpp) adds and retires them as the
// records change. UpstreamSet holds them all.
//
// Health follows HAProxy's inter/fall/rise: `fails` consecutive failed
// checks take an upstream down, `rises` consecutive good ones bring it back;
// a client's connect that fails takes it down at once. An address that joins
// after start-up is down until its first check passes. Every change of
// state is logged as one line with its reason.
//
// Concurrency: the set and its upstreams are shared by every loop of the
// proxy. What a connection reads or moves (healthy, active, bytes) is
// atomic; state changes take the upstream's own mutex; the list takes the
// set's mutex and bumps version(), so each loop re-reads it only when it
// changed (Picker in balance.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <aio/metrics.hpp>

namespace proxy {

// Why a connect to an upstream failed: the `reason` label of
// proxy_upstream_failures_total (`check`: a failed health check, whatever
// its cause; the others are clients' connects).
enum class Failure { refused, timeout, error, check };
inline constexpr Failure all_failures[] = {Failure::refused, Failure::timeout, Failure::error, Failure::check};
std::string_view failure_name(Failure f);

struct HealthRules {
  int fails = 3;  // consecutive failed checks that take an upstream down
  int rises = 2;  // consecutive passed checks that bring it back
};

class Upstream {
 public:
  Upstream(aio::metrics::Registry& registry, std::string source, std::string host, std::uint16_t port, bool healthy);
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  const std::string& host() const noexcept { return host_; }      // an address literal
  std::uint16_t port() const noexcept { return port_; }
  const std::string& label() const noexcept { return label_; }    // "10.0.0.7:7000", "[::1]:7000"
  const std::string& source() const noexcept { return source_; }  // the --upstream it came from

  bool healthy() const noexcept { return healthy_.load(std::memory_order_relaxed); }
  bool retired() const noexcept { return retired_.load(std::memory_order_relaxed); }
  // Healthy, not retired: may get new clients.
  bool eligible() const noexcept { return healthy() && !retired(); }
  int active() const noexcept { return active_.load(std::memory_order_relaxed); }

  // A client's connect: how long it took, or why it failed (which takes the
  // upstream down at once). True when this call took it down.
  void connected(std::chrono::steady_clock::duration took);
  bool connect_failed(Failure why, const std::string& detail);

  // A health check's outcome; true when the upstream changed state.
  bool check_passed(const HealthRules& rules);
  bool check_failed(const HealthRules& rules, const std::string& detail);

  // A relay to this upstream started or ended (proxy_upstream_active).
  void relay_started() noexcept;
  void relay_ended() noexcept;
  // Bytes relayed: to the upstream and from it (published at each scrape).
  void sent(std::size_t n) noexcept { sent_.fetch_add(n, std::memory_order_relaxed); }
  void received(std::size_t n) noexcept { received_.fetch_add(n, std::memory_order_relaxed); }

  // Discovery: the address left (or came back to) its name's records.
  void retire();
  void rejoin();

  // Moves the byte counts into their counters (the registry's collect hook).
  void publish();

 private:
  friend class UpstreamSet;
  void set_healthy(bool up, const std::string& why);

  std::string source_, host_, label_;
  std::uint16_t port_;
  std::atomic<bool> healthy_;
  std::atomic<bool> retired_{false};
  std::atomic<int> active_{0};
  std::atomic<std::uint64_t> sent_{0}, received_{0};

  std::mutex m_;  // guards what follows
  int failed_checks_ = 0, passed_checks_ = 0;
  bool joined_late_ = false;  // down until its first passed check
  std::uint64_t sent_published_ = 0, received_published_ = 0;

  struct Metrics {
    aio::metrics::Counter connections, bytes_sent, bytes_received;
    aio::metrics::Counter failures[std::size(all_failures)];
    aio::metrics::Gauge active, healthy;
    aio::metrics::Histogram connect_seconds;
  } metrics_;

  std::function<void(Upstream&)> on_down_;  // set by the UpstreamSet
};

using UpstreamPtr = std::shared_ptr<Upstream>;

class UpstreamSet {
 public:
  explicit UpstreamSet(aio::metrics::Registry& registry);
  UpstreamSet(const UpstreamSet&) = delete;
  UpstreamSet& operator=(const UpstreamSet&) = delete;
  ~UpstreamSet();

  // Replaces the addresses that `source` stands for. New ones join (healthy
  // when `healthy`, else down until their first check passes), vanished ones
  // are retired: they get no new clients and their relays finish. Returns
  // the ones that joined.
  std::vector<UpstreamPtr> update(const std::string& source,
                                  const std::vector<std::pair<std::string, std::uint16_t>>& addresses, bool healthy);

  // Every upstream not retired.
  std::vector<UpstreamPtr> snapshot() const;
  // Changes when the list does (not when health does).
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

  // Called, on the thread that saw it, each time an upstream goes down.
  void on_down(std::function<void(Upstream&)> callback);

 private:
  aio::metrics::Registry& registry_;
  mutable std::mutex m_;
  std::vector<UpstreamPtr> all_;  // retired ones too: their relays may still run
  std::function<void(Upstream&)> on_down_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace proxy
