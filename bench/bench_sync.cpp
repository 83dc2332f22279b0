// Micro-benchmarks of aio/queues.hpp and aio/locks.hpp, with Asio's channel as
// the reference for the queue hand-off.
//
// Run (Release):
//   cmake -S . -B build-sync-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   ninja -C build-sync-rel bench_sync && build-sync-rel/bench/bench_sync
//
// Every benchmark reports three counters besides Google Benchmark's time per
// iteration:
//   ns/op      CPU time of the loop's thread during the timed loop divided
//              by the operations it did (a hand-off is one put + one get; a
//              lock op one acquire + release; a fan-out op one waiter woken
//              and resumed); wall_ns/op is the same with wall time, which a
//              busy machine inflates
//   allocs/op  heap allocations during the timed loop (after a warm-up)
//              divided by the operations: proof of "no allocation per
//              operation in the steady state". Counted by replacing global
//              operator new and interposing aligned_alloc, which Asio's
//              recycling allocator calls directly for coroutine frames and
//              handlers.
#include <benchmark/benchmark.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <system_error>
#include <ctime>
#include <vector>

#include <aio/locks.hpp>
#include <aio/queues.hpp>
#include <aio/runners.hpp>

// ------------------------------------------------------------------ allocation counter

namespace {
std::atomic<std::uint64_t> g_allocations{0};

std::uint64_t allocations() noexcept { return g_allocations.load(std::memory_order_relaxed); }
void count_allocation() noexcept { g_allocations.fetch_add(1, std::memory_order_relaxed); }

void* counted_malloc(std::size_t n) {
  count_allocation();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* counted_aligned(std::size_t n, std::align_val_t al) {
  count_allocation();
  void* p = nullptr;
  if (posix_memalign(&p, std::max(sizeof(void*), static_cast<std::size_t>(al)), n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_malloc(n); }
void* operator new[](std::size_t n) { return counted_malloc(n); }
void* operator new(std::size_t n, std::align_val_t al) { return counted_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_aligned(n, al); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

// Asio's aligned_new() calls std::aligned_alloc, not operator new: count it too.
extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size);
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count_allocation();
  return __libc_memalign(alignment, size);
}

// ------------------------------------------------------------------ helpers

namespace {

using namespace std::chrono_literals;
using aio::Task;
using Clock = std::chrono::steady_clock;

constexpr int warmup_ops = 2000;

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Records the timed region of one benchmark run: allocations, wall time and
// this thread's CPU time (the figure to trust on a shared machine).
struct Measure {
  std::uint64_t allocs0 = 0;
  Clock::time_point t0;
  double cpu0 = 0;
  std::uint64_t allocs = 0;
  double wall_ns = 0;
  double cpu_ns = 0;
  void start() {
    allocs0 = allocations();
    cpu0 = thread_cpu_ns();
    t0 = Clock::now();
  }
  void stop() {
    wall_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    cpu_ns = thread_cpu_ns() - cpu0;
    allocs = allocations() - allocs0;
  }
  void report(benchmark::State& state, double ops) const {
    state.counters["ns/op"] = cpu_ns / ops;
    state.counters["wall_ns/op"] = wall_ns / ops;
    state.counters["allocs/op"] = static_cast<double>(allocs) / ops;
  }
};

// ------------------------------------------------------------------ queue hand-off

// One producer task puts, one consumer task gets; maxsize = range(0).
void BM_aio_queue_handoff(benchmark::State& state) {
  Measure m;
  auto body = [&]() -> Task<> {
    aio::Queue<int> q(static_cast<std::size_t>(state.range(0)));
    auto consumer = [&]() -> Task<> {
      for (;;) {
        int v = co_await q.get();
        if (v < 0) co_return;
        benchmark::DoNotOptimize(v);
      }
    };
    auto c = aio::create_task(consumer());
    for (int i = 0; i < warmup_ops; ++i) co_await q.put(i);
    m.start();
    for (auto _ : state) co_await q.put(1);
    m.stop();
    co_await q.put(-1);
    co_await c.join();
  };
  aio::run(body());
  m.report(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_aio_queue_handoff)->Arg(1)->Arg(64);

// The same with asio::experimental::channel (capacity = range(0)) on a bare
// io_context with asio::co_spawn: the idiomatic Asio baseline.
void BM_asio_channel_handoff(benchmark::State& state) {
  using Channel = asio::experimental::channel<void(std::error_code, int)>;
  Measure m;
  asio::io_context ctx(1);
  Channel ch(ctx, static_cast<std::size_t>(state.range(0)));
  auto consumer = [&]() -> asio::awaitable<void> {
    for (;;) {
      int v = co_await ch.async_receive(asio::use_awaitable);
      if (v < 0) co_return;
      benchmark::DoNotOptimize(v);
    }
  };
  auto producer = [&]() -> asio::awaitable<void> {
    std::error_code ok;
    for (int i = 0; i < warmup_ops; ++i) co_await ch.async_send(ok, i, asio::use_awaitable);
    m.start();
    for (auto _ : state) co_await ch.async_send(ok, 1, asio::use_awaitable);
    m.stop();
    co_await ch.async_send(ok, -1, asio::use_awaitable);
  };
  asio::co_spawn(ctx, consumer(), asio::detached);
  asio::co_spawn(ctx, producer(), asio::detached);
  ctx.run();
  m.report(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_asio_channel_handoff)->Arg(1)->Arg(64);

// ------------------------------------------------------------------ lock

// acquire + release by one task, never contended: the fast path.
void BM_aio_lock_uncontended(benchmark::State& state) {
  Measure m;
  auto body = [&]() -> Task<> {
    aio::Lock lock;
    for (int i = 0; i < warmup_ops; ++i) {
      co_await lock.acquire();
      lock.release();
    }
    m.start();
    for (auto _ : state) {
      co_await lock.acquire();
      lock.release();
    }
    m.stop();
  };
  aio::run(body());
  m.report(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_aio_lock_uncontended);

// range(0) tasks take turns: acquire, yield with sleep(0) while holding the
// lock (so the others queue up), release. Every release hands the lock to a
// queued waiter. One op = one acquire/release by any task.
void BM_aio_lock_contended(benchmark::State& state) {
  Measure m;
  std::int64_t ops = 0;
  auto body = [&]() -> Task<> {
    aio::Lock lock;
    bool stop = false;
    auto turn = [&]() -> Task<> {
      co_await lock.acquire();
      ++ops;
      co_await aio::sleep(0s);
      lock.release();
    };
    auto worker = [&]() -> Task<> {
      while (!stop) co_await turn();
    };
    std::vector<aio::TaskHandle<void>> others;
    for (std::int64_t i = 1; i < state.range(0); ++i) others.push_back(aio::create_task(worker()));
    for (int i = 0; i < warmup_ops; ++i) co_await turn();
    ops = 0;
    m.start();
    for (auto _ : state) co_await turn();
    m.stop();
    stop = true;
    for (auto& t : others) co_await t.join();
  };
  aio::run(body());
  m.report(state, static_cast<double>(ops));
}
BENCHMARK(BM_aio_lock_contended)->Arg(2)->Arg(4)->Arg(16);

// ------------------------------------------------------------------ event fan-out

// range(0) tasks wait on an event; each iteration sets it and waits until
// every waiter has resumed. One op = one waiter woken and resumed. Two events
// alternate so that a waiter that resumed early cannot pass the next round.
void BM_aio_event_fanout(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  Measure m;
  auto body = [&]() -> Task<> {
    aio::Event round_start[2];
    aio::Event all_arrived;
    int arrived = 0;
    bool stop = false;
    auto waiter = [&]() -> Task<> {
      // `stop` is set by the driver while this task waits: tested in the
      // body, since clang's loop analysis would flag it in the condition.
      for (int r = 0;; ++r) {
        if (stop) break;
        co_await round_start[r % 2].wait();
        if (++arrived == n) {
          arrived = 0;
          all_arrived.set();
        }
      }
    };
    std::vector<aio::TaskHandle<void>> waiters;
    for (int i = 0; i < n; ++i) waiters.push_back(aio::create_task(waiter()));
    int r = 0;
    auto round = [&]() -> Task<> {
      round_start[(r + 1) % 2].clear();
      round_start[r % 2].set();
      co_await all_arrived.wait();
      all_arrived.clear();
      ++r;
    };
    for (int i = 0; i < 20; ++i) co_await round();
    m.start();
    for (auto _ : state) co_await round();
    m.stop();
    stop = true;
    round_start[(r + 1) % 2].clear();
    round_start[r % 2].set();
    for (auto& t : waiters) co_await t.join();
  };
  aio::run(body());
  m.report(state, static_cast<double>(state.iterations()) * n);
}
BENCHMARK(BM_aio_event_fanout)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
