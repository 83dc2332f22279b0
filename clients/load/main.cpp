// aio-load — the load generator for the aio sample servers.
//
//   aio-load echo --port 7000 --connections 64 --size 1024 --duration 10
//   aio-load chat --port 7001 --connections 100 --senders 10 --rate 10000
//   aio-load connect|idle|bulk ... [--tls [--ca-file F]] [--json]
//
// Modes and what they measure are described in worker.cpp and chat.hpp.
// Prints a live line a second on stderr when stderr is a terminal and a
// closing summary on stdout (one JSON object with --json). Exit status: 0
// when every byte came back as sent and nothing failed, 1 when some byte
// mismatched or a connection failed, 2 on bad usage.
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include <asio/ip/tcp.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "load.hpp"
#include "report.hpp"

namespace {

using namespace aio_load;

// Waits until all `n` threads are connected, then starts the clock for everyone.
class StartLine {
 public:
  StartLine(Shared& sh, std::size_t n) : sh_(sh), waiting_(n) {}
  void arrive() {
    std::unique_lock lock(m_);
    if (--waiting_ == 0) {
      if (sh_.opt.mark_start) std::fprintf(stderr, "aio-load: measuring\n");
      sh_.start = Clock::now();
      sh_.measure_from = sh_.start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(sh_.opt.warmup));
      sh_.deadline = sh_.measure_from + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(sh_.opt.duration));
      started_ = true;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [this] { return started_; });
    }
  }
  bool started() {
    std::lock_guard lock(m_);
    return started_;
  }
  void worker_ended() {
    std::lock_guard lock(m_);
    ++ended_;
    cv_.notify_all();
  }
  // --mark-start's closing mark, on a thread of its own: "aio-load: measured"
  // at the deadline (or once every worker is done, if sooner), before the
  // connections close, so that a driving script can read the server's CPU
  // over the measured window alone, without the teardown. Nothing when the
  // clock never started (every worker ended first: the run failed).
  void mark_end(std::size_t workers) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return started_ || ended_ == workers; });
    if (!started_) return;
    cv_.wait_until(lock, sh_.deadline, [&] { return ended_ == workers; });
    std::fprintf(stderr, "aio-load: measured\n");
  }

 private:
  Shared& sh_;
  std::size_t waiting_;
  std::size_t ended_ = 0;
  bool started_ = false;
  std::mutex m_;
  std::condition_variable cv_;
};

std::uint64_t sum(const std::vector<std::unique_ptr<Stats>>& all, std::atomic<std::uint64_t> Stats::*field) {
  std::uint64_t v = 0;
  for (auto& s : all) v += ((*s).*field).load(std::memory_order_relaxed);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"aio-load: load generator for the aio echo and chat servers"};
  app.set_version_flag("--version", "aio-load 0.1.0");
  app.add_option("mode", o.mode, "echo | bulk | connect | idle | chat | line")
      ->check(CLI::IsMember({"echo", "bulk", "connect", "idle", "chat", "line"}))
      ->capture_default_str();
  app.add_option("--host", o.host, "server address")->capture_default_str();
  app.add_option("--port", o.port, "server port")->capture_default_str();
  app.add_option("-c,--connections", o.connections, "connections (chat: clients)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  app.add_option("-s,--size", o.size, "bytes per message (chat: per line)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{16} << 20))
      ->capture_default_str();
  app.add_option("-p,--pipeline", o.pipeline, "messages in flight per connection (echo)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  aio::clients::add_duration_option(app, "-d,--duration", o.duration, "how long to run (idle: to hold), as 10s or 500ms");
  app.add_option("-r,--rate", o.rate, "round trips (chat: lines) per second over all connections; 0: flat out")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("-t,--threads", o.threads, "loop threads")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}))
      ->capture_default_str();
  app.add_flag("--tls", o.tls, "connect with TLS");
  app.add_option("--ca-file", o.ca_file, "verify the server's certificate against this CA (default: no check)")
      ->check(CLI::ExistingFile);
  app.add_flag("--json", o.json, "print the summary as one JSON object");
  app.add_option("--senders", o.senders, "chat: clients that send")->capture_default_str();
  app.add_option("--room", o.room, "chat: the room everyone joins")->capture_default_str();
  app.add_option("--line", o.line, "line: the request line sent, one reply line expected for each")
      ->capture_default_str();
  aio::clients::add_duration_option(app, "--grace", o.grace, "how long a stalled connection gets after the deadline",
                                    false);
  aio::clients::add_duration_option(app, "--connect-timeout", o.connect_timeout, "for opening all connections");
  app.add_flag("--busy-poll", o.busy_poll,
               "spin (poll the sockets without sleeping) while driving: a CPU per --threads, but no wake-up "
               "latency of the generator's own in the figures");
  aio::clients::add_duration_option(app, "--warmup", o.warmup,
                                    "chat: the same load before the measured --duration; lines scheduled in it are "
                                    "sent and checked but not counted or timed",
                                    false);
  app.add_flag("--mark-start", o.mark_start,
               "print 'aio-load: measuring' on stderr when every connection is open and the clock starts, "
               "and 'aio-load: measured' at the deadline, before the connections close");
  if (auto status = aio::clients::parse_or_exit(app, argc, argv, "aio-load")) return *status;
  if (o.mode == "echo" && o.size * o.pipeline > (std::size_t{1} << 20)) {
    std::cerr << "aio-load: --size x --pipeline must stay within 1 MiB (the socket buffers)\n";
    return 2;
  }
  if (o.mode == "line" && o.rate > 0) {
    std::cerr << "aio-load: --rate is not supported in line mode\n";
    return 2;
  }
  if (o.mode != "chat") o.warmup = 0;
  if (o.mode == "chat") {
    o.senders = std::clamp<std::size_t>(o.senders, 1, o.connections);
    if (o.size < 48) o.size = 48;  // room for the header of a line
  }
  o.threads = std::min(o.threads, o.connections);

  // 10,000 idle connections need more descriptors than the usual soft limit.
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);
  }

  Shared sh(o);
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(o.host, std::to_string(o.port));
    sh.endpoint = results.begin()->endpoint();
  } catch (const std::exception& e) {
    std::cerr << "aio-load: cannot resolve " << o.host << ": " << e.what() << "\n";
    return 1;
  }

  std::vector<std::unique_ptr<Stats>> stats;
  std::vector<Worker> workers;
  for (std::size_t i = 0; i < o.threads; ++i) stats.push_back(std::make_unique<Stats>());
  for (std::size_t i = 0; i < o.threads; ++i) workers.push_back(Worker{sh, *stats[i], i, {}});
  for (std::size_t c = 0; c < o.connections; ++c) workers[c % o.threads].conns.push_back(c);

  StartLine start_line(sh, o.threads);
  ReadyFn ready = [&start_line] { start_line.arrive(); };
  std::atomic<std::size_t> finished{0};
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (auto& w : workers) {
    auto body = [&w, &ready, &finished, &failed, &start_line] {
      try {
        run_worker(w, ready);
      } catch (const std::exception& e) {
        std::cerr << "aio-load: thread " << w.index << ": " << e.what() << "\n";
        failed = true;
      }
      finished.fetch_add(1);
      start_line.worker_ended();
    };
    threads.emplace_back(body);
  }
  std::thread end_marker;
  if (o.mark_start) end_marker = std::thread([&start_line, n = threads.size()] { start_line.mark_end(n); });

  // The live line, once a second, only for a person watching.
  const bool live = ::isatty(STDERR_FILENO) != 0;
  std::uint64_t last_rt = 0, last_bytes = 0;
  while (finished.load() < threads.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    static auto next_tick = Clock::now() + std::chrono::seconds(1);
    if (Clock::now() < next_tick) continue;
    next_tick += std::chrono::seconds(1);
    if (!live) continue;
    const std::uint64_t rt = o.mode == "chat" ? sum(stats, &Stats::messages_delivered) : sum(stats, &Stats::round_trips);
    const std::uint64_t bytes = sum(stats, &Stats::bytes_received);
    std::fprintf(stderr, "\r%s %8llu %s/s  %8.2f MB/s  open %llu  errors %llu  mismatches %llu   ",
                 start_line.started() ? "running" : "connecting", static_cast<unsigned long long>(rt - last_rt),
                 o.mode == "chat" ? "lines" : "rt", static_cast<double>(bytes - last_bytes) / 1e6,
                 static_cast<unsigned long long>(sum(stats, &Stats::open)),
                 static_cast<unsigned long long>(sum(stats, &Stats::errors)),
                 static_cast<unsigned long long>(sum(stats, &Stats::mismatches)));
    last_rt = rt;
    last_bytes = bytes;
  }
  for (auto& t : threads) t.join();
  if (end_marker.joinable()) end_marker.join();
  if (live) std::fprintf(stderr, "\n");

  Totals t;
  t.seconds = o.duration;
  t.round_trips = sum(stats, &Stats::round_trips);
  t.bytes_sent = sum(stats, &Stats::bytes_sent);
  t.bytes_received = sum(stats, &Stats::bytes_received);
  t.errors = sum(stats, &Stats::errors) + (failed ? 1 : 0);
  t.connect_errors = sum(stats, &Stats::connect_errors);
  t.mismatches = sum(stats, &Stats::mismatches);
  t.open = sum(stats, &Stats::open);
  t.messages_sent = sum(stats, &Stats::messages_sent);
  t.messages_delivered = sum(stats, &Stats::messages_delivered);
  for (auto& s : stats) t.latency_ns.merge(s->latency_ns);
  if (o.mode == "chat" && o.rate > 0) {
    // Every line a sender wrote should reach every other member. (Flat out,
    // delivered lines are counted by arrival, so this sum does not apply; a
    // gap in a sender's sequence still shows as a mismatch.)
    const std::uint64_t expected = t.messages_sent * (o.connections - 1);
    t.messages_lost = expected > t.messages_delivered ? expected - t.messages_delivered : 0;
  }

  std::cout << (o.json ? format_json(o, t) + "\n" : format_text(o, t)) << std::flush;
  return t.mismatches > 0 || t.errors > 0 || t.messages_lost > 0 ? 1 : 0;
}
