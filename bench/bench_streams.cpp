// bench_streams — the hot path of aio/streams.hpp, measured (docs/performance-streams.md).
//
//   bench_streams                               Google Benchmark: echo ping-pong over loopback,
//                                               with allocations per message (counting operator new)
//   bench_streams --idle-server N               listens, waits for N idle connections, prints RSS/N
//   bench_streams --idle-clients PORT N         opens N idle connections to 127.0.0.1:PORT and holds them
//   bench_streams --pingpong N SIZE             N round trips, nothing else (for strace -c -f)
//   bench_streams --echo-server [epoll]         one aio echo server (or a plain epoll one, the
//                                               reference); prints its port, then, once its client is
//                                               gone, its CPU (user+sys) per round trip to stderr
//   bench_streams --echo-client PORT N SIZE     blocking client: N ping-pong round trips
#include <benchmark/benchmark.h>

#include <execinfo.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
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
// (Not popped: g++ 12 reports the malloc/free pairing wherever these inline.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Also keeps, per 16-byte size class, how many blocks are live (by
// malloc_usable_size), so --idle-server can break an idle connection down.
namespace {
std::atomic<std::size_t> g_allocations{0};
constexpr std::size_t kClasses = 512;  // up to 8 KiB; larger blocks share the last class
std::atomic<long> g_live[kClasses];
std::size_t size_class(void* p) { return std::min(kClasses - 1, ::malloc_usable_size(p) / 16); }
// --idle-server with AIO_BENCH_TRACE_ALLOCS=1: prints the size and call stack
// of every allocation made while the connections are accepted (use N=1).
bool g_trace = false;
void trace_allocation(std::size_t n) {
  g_trace = false;  // backtrace_symbols_fd does not allocate, but be safe
  void* frames[8];
  const int depth = ::backtrace(frames, 8);
  std::fprintf(stderr, "operator new(%zu)\n", n);
  ::backtrace_symbols_fd(frames + 1, depth - 1, 2);
  g_trace = true;
}
}  // namespace
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (g_trace) trace_allocation(n);
  if (void* p = std::malloc(n ? n : 1)) {
    g_live[size_class(p)].fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept {
  if (p) g_live[size_class(p)].fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }

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
    std::array<long, kClasses> live_before{};
    for (std::size_t i = 0; i < kClasses; ++i) live_before[i] = g_live[i].load();
    const long before = rss_kib();
    const struct mallinfo2 mi_before = ::mallinfo2();
    const bool trace = std::getenv("AIO_BENCH_TRACE_ALLOCS") != nullptr;
    if (trace) {
      void* warm[2];
      ::backtrace(warm, 2);  // loads libgcc now, not while tracing
    }
    std::printf("%u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    g_trace = trace;
    while (server.active_connections() < n) co_await aio::sleep(std::chrono::milliseconds(10));
    co_await aio::sleep(std::chrono::milliseconds(500));
    g_trace = false;
    const long after = rss_kib();
    std::fprintf(stderr, "idle connections: %zu  rss before: %ld KiB  after: %ld KiB  per connection: %.0f bytes\n",
                 n, before, after, static_cast<double>(after - before) * 1024.0 / static_cast<double>(n));
    // Heap blocks per connection, by usable size (malloc adds 8 bytes of header to each).
    double heap = 0;
    for (std::size_t i = 0; i < kClasses; ++i) {
      const double per = static_cast<double>(g_live[i].load() - live_before[i]) / static_cast<double>(n);
      if (per < 0.05) continue;
      heap += per * static_cast<double>(i * 16 + 8);
      std::fprintf(stderr, "  %5zu-byte blocks: %.2f per connection\n", i * 16, per);
    }
    std::fprintf(stderr, "  heap (operator new) per connection: %.0f bytes with headers\n", heap);
    // malloc's own view: bytes in use and free (holes) in the arena.
    const struct mallinfo2 mi_after = ::mallinfo2();
    const auto per_conn = [n](std::size_t a, std::size_t b) {
      return (static_cast<double>(a) - static_cast<double>(b)) / static_cast<double>(n);
    };
    std::fprintf(stderr, "  malloc per connection: in use %.0f bytes, free in arena %.0f bytes, mmapped %.0f bytes\n",
                 per_conn(mi_after.uordblks, mi_before.uordblks), per_conn(mi_after.fordblks, mi_before.fordblks),
                 per_conn(mi_after.hblkhd, mi_before.hblkhd));
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

// ---- server CPU per round trip (client in another process)

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void report_cpu(const char* what, double cpu, std::size_t round_trips) {
  std::fprintf(stderr, "%s: %zu round trips, server CPU %.3f s, %.2f us per round trip\n", what, round_trips, cpu,
               round_trips ? cpu * 1e6 / static_cast<double>(round_trips) : 0.0);
}

// The echo pattern of the servers: read_some + write + drain.
int aio_echo_server() {
  aio::run([]() -> Task<> {
    std::size_t messages = 0;
    double cpu = 0;
    auto handler = [&](StreamReader r, StreamWriter w) -> Task<> {
      const double start = cpu_seconds();
      for (;;) {
        auto data = co_await r.read_some();
        if (data.empty()) break;
        w.write(data);
        co_await w.drain();
        ++messages;
      }
      cpu = cpu_seconds() - start;
    };
    auto server = co_await aio::start_server(handler, "127.0.0.1", 0);
    std::printf("%u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    while (messages == 0 || server.active_connections() != 0) co_await aio::sleep(std::chrono::milliseconds(20));
    report_cpu("aio echo server", cpu, messages);
    server.close();
    co_await server.wait_closed();
  }());
  return 0;
}

// The reference: a plain edge-triggered epoll echo server, one connection.
int epoll_echo_server() {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(lfd, 16) != 0) return 1;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("%u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);
  const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  static char buf[16 * 1024];
  std::size_t messages = 0;
  const double start = cpu_seconds();
  bool open = true;
  while (open) {
    epoll_event out{};
    if (::epoll_wait(ep, &out, 1, -1) != 1) continue;
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        open = false;
        break;
      }
      if (n < 0) break;
      ::send(fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);  // the client waits: it always fits
      ++messages;
      if (static_cast<std::size_t>(n) < sizeof buf) break;  // drained: wait for the next edge
    }
  }
  report_cpu("epoll echo server", cpu_seconds() - start, messages);
  ::close(fd);
  ::close(ep);
  ::close(lfd);
  return 0;
}

int echo_client(std::uint16_t port, std::size_t n, std::size_t size) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 1;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<char> msg(size, 'p');
  std::vector<char> back(size);
  for (std::size_t i = 0; i < n; ++i) {
    if (::send(fd, msg.data(), size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) return 1;
    std::size_t got = 0;
    while (got < size) {
      const ssize_t r = ::recv(fd, back.data() + got, size - got, 0);
      if (r <= 0) return 1;
      got += static_cast<std::size_t>(r);
    }
  }
  ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--idle-server") == 0) return idle_server(std::strtoul(argv[2], nullptr, 10));
  if (argc >= 4 && std::strcmp(argv[1], "--idle-clients") == 0)
    return idle_clients(static_cast<std::uint16_t>(std::atoi(argv[2])), std::strtoul(argv[3], nullptr, 10));
  if (argc >= 4 && std::strcmp(argv[1], "--pingpong") == 0)
    return pingpong(std::strtoul(argv[2], nullptr, 10), std::strtoul(argv[3], nullptr, 10));
  if (argc >= 2 && std::strcmp(argv[1], "--echo-server") == 0)
    return (argc >= 3 && std::strcmp(argv[2], "epoll") == 0) ? epoll_echo_server() : aio_echo_server();
  if (argc >= 5 && std::strcmp(argv[1], "--echo-client") == 0)
    return echo_client(static_cast<std::uint16_t>(std::atoi(argv[2])), std::strtoul(argv[3], nullptr, 10),
                       std::strtoul(argv[4], nullptr, 10));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
