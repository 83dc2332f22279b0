// examples/gather.cpp — gather: run coroutines concurrently, get their results in order.
//
//   async def task(name, delay):
//       print(f"Task {name} started")
//       await asyncio.sleep(delay)
//       print(f"Task {name} completed")
//       return delay
//
//   async def main():
//       await asyncio.gather(task("A", 2), task("B", 1))   # B completes first
//
// aio::gather takes Tasks (or a vector of them), runs each as a child task and
// returns a tuple (or vector) of results in argument order, whatever order
// they finish in. Unlike asyncio, a failing child cancels the others and
// gather waits for them before rethrowing (see exceptions.cpp).
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

aio::Task<int> task(std::string name, int delay_ms) {
  std::printf("Task %s started\n", name.c_str());
  co_await aio::sleep(std::chrono::milliseconds(delay_ms));
  std::printf("Task %s completed\n", name.c_str());
  co_return delay_ms;
}

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();
  const double start = loop.time();

  // A fixed set of coroutines: a tuple of results, in argument order.
  auto a = task("A", 200);
  auto b = task("B", 100);
  auto [ra, rb] = co_await aio::gather(std::move(a), std::move(b));
  std::printf("results: A=%d B=%d after %.2f s\n", ra, rb, loop.time() - start);

  // gather(*(coro for ...)): a vector in, a vector out.
  std::vector<aio::Task<int>> jobs;
  for (int delay : {300, 100, 200}) jobs.push_back(task("job" + std::to_string(delay), delay));
  auto results = co_await aio::gather(std::move(jobs));
  std::printf("results:");
  for (int r : results) std::printf(" %d", r);
  std::printf("\n");
  std::printf("all done after %.2f s\n", loop.time() - start);
}

int main() { aio::run(main_task()); }

//> Task A started
//> Task B started
//> Task B completed
//> Task A completed
//> results: A=200 B=100 after {0.2..0.35} s
//> Task job300 started
//> Task job100 started
//> Task job200 started
//> Task job100 completed
//> Task job200 completed
//> Task job300 completed
//> results: 300 100 200
//> all done after {0.5..0.75} s
