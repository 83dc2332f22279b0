// bench_streams — the hot path of aio/streams.hpp, measured (docs/performance-streams.md).
//
//   bench_streams                               Google Benchmark: echo ping-pong over loopback,
//                                               with allocations per message (counting operator new)
//   bench_streams --idle-server N               listens, waits for N idle connections, prints RSS/N
//   bench_streams --idle-clients PORT N         opens N idle connections to 127.0.0.1:PORT and holds them
//   bench_streams --pingpong N SIZE             N round trips, nothing else (for strace -c -f)
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include <aio/aio.hpp>
#include <aio/connection.hpp>
#include <aio/server.hpp>
#include <aio/streams.hpp>

// ---- counting global operator new
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<std::size_t> g_allocations{0};
}
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using aio::StreamReader;
using aio::StreamWriter;
using aio::Task;

Task<void> echo(StreamReader r, StreamWriter w) {
  for (;;) {
    auto data = co_await r.read_some();
    if (data.empty()) break;
    w.write(data);
    co_await w.drain();
  }
}

// One round trip: write `msg`, read it back in full.
Task<void> round_trip(StreamReader& r, StreamWriter& w, const std::string& msg) {
  w.write(msg);
  std::size_t got = 0;
  while (got < msg.size()) {
    auto d = co_await r.read_some();
    if (d.empty()) throw std::runtime_error("unexpected EOF");
    got += d.size();
  }
}

void BM_EchoPingPong(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  aio::run([&]() -> Task<> {
    auto server = co_await aio::start_server(echo, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    const std::string msg(size, 'p');
    for (int i = 0; i < 2000; ++i) co_await round_trip(r, w, msg);  // warm up pools and caches
    const std::size_t before = g_allocations.load();
    std::int64_t n = 0;
    for (auto _ : state) {
      co_await round_trip(r, w, msg);
      ++n;
    }
    const std::size_t allocs = g_allocations.load() - before;
    state.counters["allocs_per_msg"] = n ? static_cast<double>(allocs) / static_cast<double>(n) : 0.0;
    state.SetBytesProcessed(n * static_cast<std::int64_t>(size) * 2);
    w.close();
    server.close();
    server.close_clients();
    co_await server.wait_closed();
  }());
}
BENCHMARK(BM_EchoPingPong)->Arg(64)->Arg(1024)->Arg(16 * 1024)->UseRealTime();

void raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

int idle_server(std::size_t n) {
  raise_fd_limit();
  aio::run([n]() -> Task<> {
    auto server = co_await aio::start_server(echo, "127.0.0.1", 0);
    co_await aio::sleep(std::chrono::milliseconds(100));
    const long before = rss_kib();
    std::printf("%u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    while (server.active_connections() < n) co_await aio::sleep(std::chrono::milliseconds(10));
    co_await aio::sleep(std::chrono::milliseconds(500));
    const long after = rss_kib();
    std::fprintf(stderr, "idle connections: %zu  rss before: %ld KiB  after: %ld KiB  per connection: %.0f bytes\n",
                 n, before, after, static_cast<double>(after - before) * 1024.0 / static_cast<double>(n));
    server.close();
    server.abort_clients();
    co_await server.wait_closed();
  }());
  return 0;
}

int idle_clients(std::uint16_t port, std::size_t n) {
  raise_fd_limit();
  aio::run([port, n]() -> Task<> {
    std::vector<std::pair<StreamReader, StreamWriter>> conns;
    conns.reserve(n);
    for (std::size_t i = 0; i < n; ++i) conns.push_back(co_await aio::open_connection("127.0.0.1", port));
    // Hold them until the server closes the first one.
    co_await aio::wait_for(conns.front().first.read(), std::chrono::seconds(120));
  }());
  return 0;
}

int pingpong(std::size_t n, std::size_t size) {
  aio::run([n, size]() -> Task<> {
    auto server = co_await aio::start_server(echo, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    const std::string msg(size, 'p');
    for (std::size_t i = 0; i < n; ++i) co_await round_trip(r, w, msg);
    w.close();
    server.close();
    server.close_clients();
    co_await server.wait_closed();
  }());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--idle-server") == 0) return idle_server(std::strtoul(argv[2], nullptr, 10));
  if (argc >= 4 && std::strcmp(argv[1], "--idle-clients") == 0)
    return idle_clients(static_cast<std::uint16_t>(std::atoi(argv[2])), std::strtoul(argv[3], nullptr, 10));
  if (argc >= 4 && std::strcmp(argv[1], "--pingpong") == 0)
    return pingpong(std::strtoul(argv[2], nullptr, 10), std::strtoul(argv[3], nullptr, 10));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
