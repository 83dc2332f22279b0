// examples/to_thread.cpp — blocking work off the loop: to_thread and run_in_executor.
//
//   def blocking_io():
//       time.sleep(1)                           # would freeze the loop
//       return "file contents"
//
//   text = await asyncio.to_thread(blocking_io)
//   total = await loop.run_in_executor(pool, cpu_bound, 10_000_000)
//
// aio::to_thread runs the function on a default thread pool and resumes the
// caller on its loop with the result (or the exception). run_in_executor
// takes a pool of your own (nullptr: the default one). The loop goes on
// meanwhile: here a ticker task keeps ticking while the thread blocks.
#include <aio/aio.hpp>

#include <asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

std::string blocking_io() {
  std::this_thread::sleep_for(200ms);
  return "file contents";
}

std::uint64_t cpu_bound(std::uint64_t n) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) sum += i % 7;
  return sum;
}

aio::Task<> ticker(int& ticks) {
  for (;;) {
    co_await aio::sleep(20ms);
    ++ticks;
  }
}

aio::Task<> main_task() {
  int ticks = 0;
  auto tick_task = aio::create_task(ticker(ticks), "ticker");
  const auto loop_thread = std::this_thread::get_id();

  std::thread::id worker_thread;
  auto io = [&worker_thread] {
    worker_thread = std::this_thread::get_id();
    return blocking_io();
  };
  const std::string text = co_await aio::to_thread(io);
  std::printf("to_thread returned: %s\n", text.c_str());
  std::printf("ran on another thread: %s\n", worker_thread != loop_thread ? "yes" : "no");
  std::printf("the loop ticked %d times meanwhile\n", ticks);

  asio::thread_pool pool(2);
  auto work = [] { return cpu_bound(1'000'000); };
  const std::uint64_t total = co_await aio::run_in_executor(&pool, work);
  std::printf("run_in_executor returned: %llu\n", static_cast<unsigned long long>(total));

  auto fails = []() -> int { throw std::runtime_error("disk on fire"); };
  try {
    co_await aio::to_thread(fails);
  } catch (const std::runtime_error& e) {
    std::printf("the thread's exception reached the loop: %s\n", e.what());
  }

  tick_task.cancel();
  try {
    co_await tick_task.join();
  } catch (const aio::CancelledError&) {
  }
  pool.join();
}

int main() { aio::run(main_task()); }

//> to_thread returned: file contents
//> ran on another thread: yes
//> the loop ticked {3..11} times meanwhile
//> run_in_executor returned: 2999997
//> the thread's exception reached the loop: disk on fire
