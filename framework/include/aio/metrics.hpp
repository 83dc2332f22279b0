// aio/metrics.hpp — public. Prometheus exposition and built-in instrumentation.
//
// A facade over prometheus-cpp: no prometheus-cpp type appears here, so code
// that includes aio never compiles prometheus-cpp's headers. The instruments
// are thread-safe (atomic), so loops on several threads may share a Registry.
//
// Concurrency: Counter, Gauge and Histogram are prometheus-cpp's atomics:
// any thread may update any handle at any time, also while a scrape runs.
// Registry's methods lock a mutex and may be called from any thread too.
// Handles are plain pointers: valid while their Registry lives. A
// default-constructed handle is inert (updates do nothing, reads give 0).
//
//   aio::metrics::Registry registry;
//   aio::metrics::install_process_metrics(registry);
//   aio::metrics::Exposer exposer(registry, "0.0.0.0", 9100);   // GET /metrics
//   aio::ServerOptions opts; opts.name = "echo"; opts.metrics = &registry;
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

namespace aio::metrics {

using Labels = std::map<std::string, std::string>;

class Registry;

// Handles to one labelled series; cheap to copy; valid while the Registry lives.
// A value that only goes up. inc() with a negative value is ignored.
class Counter {
 public:
  Counter() = default;
  void inc(double v = 1.0) const;
  double value() const;

 private:
  friend class Registry;
  explicit Counter(void* p) : p_(p) {}
  void* p_ = nullptr;
};

class Gauge {
 public:
  Gauge() = default;
  void set(double v) const;
  void inc(double v = 1.0) const;
  void dec(double v = 1.0) const;
  double value() const;

 private:
  friend class Registry;
  explicit Gauge(void* p) : p_(p) {}
  void* p_ = nullptr;
};

class Histogram {
 public:
  Histogram() = default;
  void observe(double v) const;
  std::uint64_t count() const;  // observations so far
  double sum() const;           // their sum

 private:
  friend class Registry;
  explicit Histogram(void* p) : p_(p) {}
  void* p_ = nullptr;
};

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // Families are created on first use and shared afterwards (same name, same help).
  // The same name and labels give the same series (a histogram keeps the
  // buckets it was created with).
  // Throws: std::invalid_argument if `name` already names a family of another
  // type, or if a name or label is not a valid Prometheus name.
  Counter counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram histogram(const std::string& name, const std::string& help, const std::vector<double>& buckets,
                      const Labels& labels = {});

  // The text exposition format (what GET /metrics returns).
  std::string serialize() const;

  // Runs `publish` at the start of every collection (each scrape by an
  // Exposer, each serialize()), before any value is read, one collection at
  // a time: for counts kept elsewhere (plain per-loop counters) to be moved
  // into their instruments. `key` names the hook for remove_collect_hook();
  // a second hook with the same key replaces the first.
  void add_collect_hook(const void* key, std::function<void()> publish);
  // When this returns the hook has finished running and runs no more.
  void remove_collect_hook(const void* key);

  // The underlying prometheus::Registry, for code that wants prometheus-cpp itself.
  // Collecting it directly skips the collect hooks: ServerMetrics' byte
  // counts are then as of the last scrape or serialize().
  void* native() noexcept;

 private:
  friend class Exposer;
  friend void install_process_metrics(Registry& registry);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Serves GET /metrics for `registry` on its own thread (prometheus-cpp's
// civetweb). Port 0 picks a free port; port() tells which. `host` is an IPv4
// address, an IPv6 address (with or without brackets) or empty for all IPv4
// interfaces. The Exposer may outlive the Registry: it then serves nothing.
// Throws: std::runtime_error if it cannot listen.
class Exposer {
 public:
  Exposer(Registry& registry, const std::string& host, std::uint16_t port);
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;
  ~Exposer();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds, read from /proc at scrape time (by serialize()
// and by every Exposer of `registry`). Installing twice changes nothing.
void install_process_metrics(Registry& registry);

// Watches how late the loop it runs on wakes a timer: every `interval` it
// observes the delay in the histogram aio_loop_lag_seconds{loop=LOOP}
// (buckets 50 µs .. 1 s). A loop blocked by CPU work or a blocking call
// shows up there first. Runs until cancelled; `registry` must outlive it.
//
// Cancellation: ends the monitor (CancelledError); nothing is lost.
// Throws: std::invalid_argument if `interval` is not positive.
// Example: aio::create_task(aio::metrics::monitor_loop_lag(registry), "loop-lag");
[[nodiscard]] asio::awaitable<void> monitor_loop_lag(Registry& registry,
                                                     std::chrono::milliseconds interval = std::chrono::milliseconds(100),
                                                     std::string loop = "0");

// The instruments of one server (label server=NAME), named as below
// (aio_connection_duration_seconds has buckets from 1 ms to 1 h):
// aio_connections_accepted_total, aio_connections_active,
// aio_connections_rejected_total{reason}, aio_connection_duration_seconds,
// aio_bytes_received_total, aio_bytes_sent_total, aio_handler_errors_total,
// aio_idle_timeouts_total.
//
// The byte counts change on every read and write, so they are kept in this
// object's own atomics (one relaxed add; no cache line shared between the
// loops of a multi-loop server, no compare-and-swap loop on a double) and
// published into the two counters whenever the registry is collected, and
// when this object is destroyed: a scrape still sees every byte.
class ServerMetrics {
 public:
  ServerMetrics(Registry& registry, const std::string& server);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;
  ~ServerMetrics();
  void connection_accepted();
  void connection_closed(std::chrono::steady_clock::duration lifetime);
  void connection_rejected(std::string_view reason);  // "max_connections", "tls_handshake", ...
  void bytes_received(std::size_t n) noexcept { received_bytes_.fetch_add(n, std::memory_order_relaxed); }
  void bytes_sent(std::size_t n) noexcept { sent_bytes_.fetch_add(n, std::memory_order_relaxed); }
  void handler_error();
  void idle_timeout();

 private:
  void publish();  // called one at a time (the registry's collection lock, or the destructor)

  Registry& registry_;
  std::string server_;
  Counter accepted_, received_, sent_, handler_errors_, idle_timeouts_;
  Gauge active_;
  Histogram duration_;
  // The reasons aio itself counts, present at zero from the first scrape.
  Counter rejected_max_connections_, rejected_tls_handshake_;
  std::atomic<std::uint64_t> received_bytes_{0}, sent_bytes_{0};
  std::uint64_t received_published_ = 0, sent_published_ = 0;
};

}  // namespace aio::metrics
