// metrics_server.cpp — ServerMetrics: the instruments of one server (aio/metrics.hpp names them).
#include <aio/metrics.hpp>

#include <string>
#include <vector>

namespace aio::metrics {

namespace {

// Connection lifetimes: 1 ms (a refused or broken handshake) to 1 h (a long
// chat session or tunnel).
constexpr const char* rejected_name = "aio_connections_rejected_total";
constexpr const char* rejected_help = "Connections refused or dropped before a handler ran.";

const std::vector<double>& duration_buckets() {
  static const std::vector<double> b{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600};
  return b;
}

}  // namespace

ServerMetrics::ServerMetrics(Registry& registry, const std::string& server)
    : registry_(registry),
      server_(server),
      accepted_(registry.counter("aio_connections_accepted_total", "Connections accepted.", {{"server", server}})),
      received_(registry.counter("aio_bytes_received_total", "Bytes read from clients.", {{"server", server}})),
      sent_(registry.counter("aio_bytes_sent_total", "Bytes written to clients.", {{"server", server}})),
      handler_errors_(registry.counter("aio_handler_errors_total", "Connection handlers that ended with an error.",
                                       {{"server", server}})),
      idle_timeouts_(registry.counter("aio_idle_timeouts_total", "Connections closed for being idle too long.",
                                      {{"server", server}})),
      active_(registry.gauge("aio_connections_active", "Connections open now.", {{"server", server}})),
      duration_(registry.histogram("aio_connection_duration_seconds", "How long connections stayed open.",
                                   duration_buckets(), {{"server", server}})),
      rejected_max_connections_(
          registry.counter(rejected_name, rejected_help, {{"server", server}, {"reason", "max_connections"}})),
      rejected_tls_handshake_(
          registry.counter(rejected_name, rejected_help, {{"server", server}, {"reason", "tls_handshake"}})) {
  registry_.add_collect_hook(this, [this] { publish(); });
}

ServerMetrics::~ServerMetrics() {
  registry_.remove_collect_hook(this);
  publish();
}

void ServerMetrics::publish() {
  const auto received = received_bytes_.load(std::memory_order_relaxed);
  const auto sent = sent_bytes_.load(std::memory_order_relaxed);
  if (received != received_published_) received_.inc(static_cast<double>(received - received_published_));
  if (sent != sent_published_) sent_.inc(static_cast<double>(sent - sent_published_));
  received_published_ = received;
  sent_published_ = sent;
}

void ServerMetrics::connection_accepted() {
  accepted_.inc();
  active_.inc();
}

void ServerMetrics::connection_closed(std::chrono::steady_clock::duration lifetime) {
  active_.dec();
  duration_.observe(std::chrono::duration<double>(lifetime).count());
}

void ServerMetrics::connection_rejected(std::string_view reason) {
  if (reason == "max_connections") {
    rejected_max_connections_.inc();
  } else if (reason == "tls_handshake") {
    rejected_tls_handshake_.inc();
  } else {
    registry_.counter(rejected_name, rejected_help, {{"server", server_}, {"reason", std::string(reason)}}).inc();
  }
}

void ServerMetrics::handler_error() { handler_errors_.inc(); }
void ServerMetrics::idle_timeout() { idle_timeouts_.inc(); }

}  // namespace aio::metrics
