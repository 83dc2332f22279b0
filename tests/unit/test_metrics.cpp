// Behaviours of aio/metrics.hpp: the Registry round trip, ServerMetrics, the
// Exposer over a real socket, the process collector, the loop-lag monitor,
// and promtool's verdict on the whole exposition.
#include <harness.hpp>

#include <aio/metrics.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;
namespace m = aio::metrics;

namespace {

// The value of the sample whose name and labels are exactly `series`
// (e.g. `requests_total{route="/"}`), or nullopt if there is none.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

bool has_line(const std::string& text, const std::string& wanted) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line == wanted) return true;
  return false;
}

// A blocking HTTP/1.0 GET to 127.0.0.1:port; the whole response (bounded by a 5 s receive timeout).
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    throw std::runtime_error("send failed");
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

struct CommandResult {
  int status;
  std::string output;
};

// `promtool check metrics` on `exposition`; nullopt if promtool is not on PATH.
std::optional<CommandResult> promtool_check(const std::string& exposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
  char path[] = "/tmp/aio_test_metrics_XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const bool written = ::write(fd, exposition.data(), exposition.size()) == static_cast<ssize_t>(exposition.size());
  ::close(fd);
  if (!written) throw std::runtime_error("write failed");
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  CommandResult r{0, {}};
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  r.status = ::pclose(p);
  ::unlink(path);
  return r;
}

// Cancels `task` and waits until it has ended.
Task<> cancel_and_wait(aio::TaskHandle<> task) {
  task.cancel();
  try {
    co_await task.join();
  } catch (const aio::CancelledError&) {
  }
}

}  // namespace

TEST_CASE("counters, gauges and histograms round-trip through serialize", "[metrics]") {
  m::Registry reg;
  auto c = reg.counter("demo_requests_total", "Requests served.", {{"route", "/"}});
  c.inc();
  c.inc(2.5);
  auto g = reg.gauge("demo_temperature_celsius", "Current temperature.");
  g.set(10);
  g.inc(5);
  g.dec(2);
  auto h = reg.histogram("demo_latency_seconds", "Request latency.", {0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);

  CHECK(c.value() == 3.5);
  CHECK(g.value() == 13);
  CHECK(h.count() == 3);
  CHECK(h.sum() == Approx(5.55));

  const auto text = reg.serialize();
  INFO(text);
  CHECK(has_line(text, "# HELP demo_requests_total Requests served."));
  CHECK(has_line(text, "# TYPE demo_requests_total counter"));
  CHECK(sample(text, "demo_requests_total{route=\"/\"}") == 3.5);
  CHECK(has_line(text, "# TYPE demo_temperature_celsius gauge"));
  CHECK(sample(text, "demo_temperature_celsius") == 13);
  CHECK(has_line(text, "# TYPE demo_latency_seconds histogram"));
  CHECK(sample(text, "demo_latency_seconds_count") == 3);
  CHECK(sample(text, "demo_latency_seconds_sum") == Approx(5.55));
  CHECK(sample(text, "demo_latency_seconds_bucket{le=\"0.1\"}") == 1);
  CHECK(sample(text, "demo_latency_seconds_bucket{le=\"1\"}") == 2);
  CHECK(sample(text, "demo_latency_seconds_bucket{le=\"+Inf\"}") == 3);
}

TEST_CASE("the same name and labels give the same series and new labels a new series of the family", "[metrics]") {
  m::Registry reg;
  reg.counter("demo_hits_total", "Hits.", {{"k", "a"}}).inc();
  reg.counter("demo_hits_total", "Hits.", {{"k", "a"}}).inc();
  reg.counter("demo_hits_total", "Hits.", {{"k", "b"}}).inc(7);
  const auto text = reg.serialize();
  INFO(text);
  CHECK(sample(text, "demo_hits_total{k=\"a\"}") == 2);
  CHECK(sample(text, "demo_hits_total{k=\"b\"}") == 7);
  std::size_t type_lines = 0;
  for (auto pos = text.find("# TYPE demo_hits_total"); pos != std::string::npos;
       pos = text.find("# TYPE demo_hits_total", pos + 1))
    ++type_lines;
  CHECK(type_lines == 1);
}

TEST_CASE("a name reused for another type or an invalid name throws invalid_argument", "[metrics]") {
  m::Registry reg;
  reg.counter("demo_things_total", "Things.");
  CHECK_THROWS_AS(reg.gauge("demo_things_total", "Things."), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("demo_things_total", "Things.", {1.0}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("9 bad name", "Bad."), std::invalid_argument);
}

TEST_CASE("default-constructed handles are inert", "[metrics]") {
  const m::Counter c;
  const m::Gauge g;
  const m::Histogram h;
  c.inc();
  g.set(3);
  h.observe(1);
  CHECK(c.value() == 0);
  CHECK(g.value() == 0);
  CHECK(h.count() == 0);
}

TEST_CASE("native() is the prometheus registry that serialize() reads", "[metrics]") {
  m::Registry reg;
  CHECK(reg.native() != nullptr);
  CHECK(reg.native() == reg.native());
}

TEST_CASE("ServerMetrics records exact counts per server", "[metrics]") {
  m::Registry reg;
  m::ServerMetrics echo(reg, "echo");
  m::ServerMetrics chat(reg, "chat");
  for (int i = 0; i < 3; ++i) echo.connection_accepted();
  echo.connection_closed(2ms);
  echo.connection_closed(3s);
  echo.connection_rejected("max_connections");
  echo.connection_rejected("max_connections");
  echo.connection_rejected("tls_handshake");
  echo.bytes_received(1000);
  echo.bytes_received(24);
  echo.bytes_sent(512);
  echo.handler_error();
  echo.idle_timeout();
  echo.idle_timeout();
  chat.connection_accepted();

  const auto text = reg.serialize();
  INFO(text);
  CHECK(sample(text, "aio_connections_accepted_total{server=\"echo\"}") == 3);
  CHECK(sample(text, "aio_connections_active{server=\"echo\"}") == 1);
  CHECK(sample(text, "aio_connections_accepted_total{server=\"chat\"}") == 1);
  CHECK(sample(text, "aio_connections_active{server=\"chat\"}") == 1);
  CHECK(sample(text, "aio_connections_rejected_total{reason=\"max_connections\",server=\"echo\"}") == 2);
  CHECK(sample(text, "aio_connections_rejected_total{reason=\"tls_handshake\",server=\"echo\"}") == 1);
  CHECK(sample(text, "aio_bytes_received_total{server=\"echo\"}") == 1024);
  CHECK(sample(text, "aio_bytes_sent_total{server=\"echo\"}") == 512);
  CHECK(sample(text, "aio_handler_errors_total{server=\"echo\"}") == 1);
  CHECK(sample(text, "aio_idle_timeouts_total{server=\"echo\"}") == 2);
  CHECK(sample(text, "aio_idle_timeouts_total{server=\"chat\"}") == 0);
  CHECK(sample(text, "aio_connection_duration_seconds_count{server=\"echo\"}") == 2);
  CHECK(sample(text, "aio_connection_duration_seconds_sum{server=\"echo\"}") == Approx(3.002));
  CHECK(sample(text, "aio_connection_duration_seconds_bucket{server=\"echo\",le=\"0.001\"}") == 0);
  CHECK(sample(text, "aio_connection_duration_seconds_bucket{server=\"echo\",le=\"0.005\"}") == 1);
  CHECK(sample(text, "aio_connection_duration_seconds_bucket{server=\"echo\",le=\"5\"}") == 2);
  CHECK(sample(text, "aio_connection_duration_seconds_bucket{server=\"echo\",le=\"3600\"}") == 2);
}

TEST_CASE("a fresh server's labelled families are scraped at zero for every reason aio counts", "[metrics]") {
  m::Registry reg;
  m::ServerMetrics echo(reg, "echo");
  const auto text = reg.serialize();
  INFO(text);
  CHECK(text.find("# TYPE aio_connections_rejected_total counter") != std::string::npos);
  CHECK(sample(text, "aio_connections_rejected_total{reason=\"max_connections\",server=\"echo\"}") == 0);
  CHECK(sample(text, "aio_connections_rejected_total{reason=\"tls_handshake\",server=\"echo\"}") == 0);
}

TEST_CASE("byte counts are published at every collection and outlive their ServerMetrics", "[metrics]") {
  m::Registry reg;
  {
    m::ServerMetrics a(reg, "echo");
    m::ServerMetrics b(reg, "echo");  // a second loop of the same server
    a.bytes_received(100);
    b.bytes_received(20);
    a.bytes_sent(7);
    auto text = reg.serialize();
    INFO(text);
    CHECK(sample(text, "aio_bytes_received_total{server=\"echo\"}") == 120);
    CHECK(sample(text, "aio_bytes_sent_total{server=\"echo\"}") == 7);
    a.bytes_received(3);  // after one collection: only the new bytes are added at the next
    text = reg.serialize();
    CHECK(sample(text, "aio_bytes_received_total{server=\"echo\"}") == 123);
    b.bytes_sent(5);
  }
  // Both are gone; what they counted since the last collection is not.
  const auto text = reg.serialize();
  INFO(text);
  CHECK(sample(text, "aio_bytes_received_total{server=\"echo\"}") == 123);
  CHECK(sample(text, "aio_bytes_sent_total{server=\"echo\"}") == 12);
}

TEST_CASE("a collect hook runs before every collection until it is removed", "[metrics]") {
  m::Registry reg;
  const auto gauge = reg.gauge("demo_hook_runs", "Collections seen by the hook.");
  int runs = 0;
  reg.add_collect_hook(&runs, [&] { gauge.set(++runs); });
  CHECK(sample(reg.serialize(), "demo_hook_runs") == 1);
  CHECK(sample(reg.serialize(), "demo_hook_runs") == 2);
  reg.add_collect_hook(&runs, [&] { gauge.set(runs += 10); });  // same key: replaced
  CHECK(sample(reg.serialize(), "demo_hook_runs") == 12);
  reg.remove_collect_hook(&runs);
  CHECK(sample(reg.serialize(), "demo_hook_runs") == 12);
  CHECK(runs == 12);
}

TEST_CASE("the exposer on port 0 serves /metrics over a real socket", "[metrics]") {
  m::Registry reg;
  m::install_process_metrics(reg);
  reg.counter("demo_scrapes_total", "Scrapes.").inc(41);
  m::Exposer exposer(reg, "127.0.0.1", 0);
  REQUIRE(exposer.port() != 0);
  reg.counter("demo_scrapes_total", "Scrapes.").inc();  // updates after start are served

  const auto response = http_get(exposer.port(), "/metrics");
  INFO(response);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  const auto body_at = response.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  const auto body = response.substr(body_at + 4);
  CHECK(sample(body, "demo_scrapes_total") == 42);
  CHECK(sample(body, "process_open_fds").value_or(0) > 0);
}

TEST_CASE("two exposers on port 0 get different ports and a taken port throws", "[metrics]") {
  m::Registry reg;
  m::Exposer a(reg, "127.0.0.1", 0);
  m::Exposer b(reg, "127.0.0.1", 0);
  CHECK(a.port() != 0);
  CHECK(b.port() != 0);
  CHECK(a.port() != b.port());
  CHECK_THROWS_AS(m::Exposer(reg, "127.0.0.1", a.port()), std::runtime_error);
}

TEST_CASE("an exposer that outlives its registry serves an empty page", "[metrics]") {
  auto reg = std::make_unique<m::Registry>();
  reg->counter("demo_gone_total", "Gone.").inc();
  m::Exposer exposer(*reg, "127.0.0.1", 0);
  reg.reset();
  const auto response = http_get(exposer.port(), "/metrics");
  INFO(response);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(response.find("demo_gone_total") == std::string::npos);
}

TEST_CASE("process metrics are present with sane values", "[metrics]") {
  m::Registry reg;
  m::install_process_metrics(reg);
  m::install_process_metrics(reg);  // idempotent
  const auto text = reg.serialize();
  INFO(text);
  CHECK(has_line(text, "# TYPE process_cpu_seconds_total counter"));
  CHECK(has_line(text, "# TYPE process_open_fds gauge"));
  const auto fds = sample(text, "process_open_fds");
  const auto max_fds = sample(text, "process_max_fds");
  const auto rss = sample(text, "process_resident_memory_bytes");
  const auto vsize = sample(text, "process_virtual_memory_bytes");
  const auto cpu = sample(text, "process_cpu_seconds_total");
  const auto start = sample(text, "process_start_time_seconds");
  REQUIRE(fds);
  REQUIRE(max_fds);
  REQUIRE(rss);
  REQUIRE(vsize);
  REQUIRE(cpu);
  REQUIRE(start);
  CHECK(*fds >= 3);  // stdin, stdout, stderr at least
  CHECK(*fds < *max_fds);
  CHECK(*rss > 1024 * 1024);
  CHECK(*vsize >= *rss);
  CHECK(*cpu >= 0);
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(*start <= now + 1);
  CHECK(*start > now - 86400);
  // Values are read at scrape time: a new descriptor shows up in the next scrape.
  const int extra = ::dup(0);
  REQUIRE(extra >= 0);
  CHECK(sample(reg.serialize(), "process_open_fds") == *fds + 1);
  ::close(extra);
}

TEST_CASE("monitor_loop_lag records observations while the loop runs", "[metrics]") {
  m::Registry reg;
  run_test([&]() -> Task<> {
    auto monitor = aio::create_task(m::monitor_loop_lag(reg, 5ms, "main"), "loop-lag");
    co_await aio::sleep(100ms);
    co_await cancel_and_wait(monitor);
    CHECK(monitor.cancelled());
  }());
  const auto text = reg.serialize();
  INFO(text);
  const auto count = sample(text, "aio_loop_lag_seconds_count{loop=\"main\"}");
  REQUIRE(count);
  CHECK(*count >= 5);  // 100 ms at 5 ms per tick, with slack for a loaded machine
  CHECK(*count <= 30);  // not a busy loop: at most one observation per interval
  CHECK(sample(text, "aio_loop_lag_seconds_sum{loop=\"main\"}").value() >= 0);
}

TEST_CASE("a blocked loop shows up in the loop lag histogram above 50 ms", "[metrics]") {
  m::Registry reg;
  run_test([&]() -> Task<> {
    auto monitor = aio::create_task(m::monitor_loop_lag(reg, 5ms), "loop-lag");
    co_await aio::sleep(20ms);
    // Blocks the loop for longer than 50 ms plus one interval, so the timer
    // that was due during the block runs at least 50 ms late.
    auto blocker = [&]() -> Task<> {
      std::this_thread::sleep_for(60ms);
      co_return;
    };
    co_await aio::create_task(blocker(), "blocker").join();
    co_await aio::sleep(20ms);
    co_await cancel_and_wait(monitor);
  }());
  const auto text = reg.serialize();
  INFO(text);
  const auto count = sample(text, "aio_loop_lag_seconds_count{loop=\"0\"}");
  const auto up_to_50ms = sample(text, "aio_loop_lag_seconds_bucket{loop=\"0\",le=\"0.05\"}");
  const auto up_to_1s = sample(text, "aio_loop_lag_seconds_bucket{loop=\"0\",le=\"1\"}");
  REQUIRE(count);
  REQUIRE(up_to_50ms);
  REQUIRE(up_to_1s);
  CHECK(*count - *up_to_50ms >= 1);
  CHECK(*up_to_1s == *count);
}

TEST_CASE("monitor_loop_lag rejects a non-positive interval", "[metrics]") {
  m::Registry reg;
  run_test([&]() -> Task<> { CHECK_THROWS_AS(co_await m::monitor_loop_lag(reg, 0ms), std::invalid_argument); }());
}

TEST_CASE("the full exposition passes promtool check metrics", "[metrics]") {
  m::Registry reg;
  m::install_process_metrics(reg);
  m::ServerMetrics server(reg, "echo");
  server.connection_accepted();
  server.connection_closed(1s);
  server.connection_rejected("max_connections");
  server.bytes_received(10);
  server.bytes_sent(10);
  server.handler_error();
  server.idle_timeout();
  run_test([&]() -> Task<> {
    auto monitor = aio::create_task(m::monitor_loop_lag(reg, 2ms), "loop-lag");
    co_await aio::sleep(10ms);
    co_await cancel_and_wait(monitor);
  }());
  const auto text = reg.serialize();
  INFO(text);
  REQUIRE(text.find("aio_loop_lag_seconds_bucket") != std::string::npos);

  const auto result = promtool_check(text);
  if (!result) {
    WARN("promtool is not on PATH: `promtool check metrics` skipped (Debian package `prometheus`)");
    return;
  }
  INFO("promtool said: " << result->output);
  CHECK(result->status == 0);
  CHECK(result->output.empty());
}

TEST_CASE("the promtool check catches a counter without the _total suffix", "[metrics]") {
  m::Registry reg;
  reg.counter("demo_requests", "Requests, badly named.").inc();
  const auto result = promtool_check(reg.serialize());
  if (!result) {
    WARN("promtool is not on PATH: `promtool check metrics` skipped (Debian package `prometheus`)");
    return;
  }
  INFO("promtool said: " << result->output);
  CHECK(result->status != 0);
  CHECK(result->output.find("_total") != std::string::npos);
}
