// examples/exceptions.cpp — an exception raised in a coroutine or a task, caught by the awaiter.
//
//   async def faulty_task():
//       await asyncio.sleep(1)
//       raise ValueError("An error occurred")
//
//   try:
//       await faulty_task()
//   except ValueError as e:
//       print(f"Caught error: {e}")
//
// Exceptions travel through co_await as through a call: from a coroutine to
// its awaiter, from a task to whoever joins it, from a child of gather to the
// gather (which first cancels the other children and waits for them).
// gather_settled is gather(return_exceptions=True).
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <vector>

using namespace std::chrono_literals;

aio::Task<int> faulty_task() {
  co_await aio::sleep(50ms);
  throw aio::ValueError("An error occurred");
}

aio::Task<int> slow_ok() {
  try {
    co_await aio::sleep(1s);
  } catch (const aio::CancelledError&) {
    std::puts("slow_ok cancelled because its sibling failed");
    throw;
  }
  co_return 1;
}

aio::Task<int> quick_ok() { co_return 7; }

aio::Task<> main_task() {
  try {
    co_await faulty_task();
  } catch (const aio::ValueError& e) {
    std::printf("Caught error: %s\n", e.what());
  }

  auto task = aio::create_task(faulty_task());
  try {
    co_await task.join();
  } catch (const aio::ValueError& e) {
    std::printf("Caught error from a task: %s\n", e.what());
  }

  try {
    auto a = slow_ok();
    auto b = faulty_task();
    co_await aio::gather(std::move(a), std::move(b));
  } catch (const aio::ValueError& e) {
    std::printf("gather raised: %s\n", e.what());
  }

  std::vector<aio::Task<int>> jobs;
  jobs.push_back(quick_ok());
  jobs.push_back(faulty_task());
  auto outcomes = co_await aio::gather_settled(std::move(jobs));
  for (auto& o : outcomes) {
    if (o.ok()) {
      std::printf("settled: value %d\n", o.value());
    } else {
      try {
        std::rethrow_exception(o.error());
      } catch (const std::exception& e) {
        std::printf("settled: error %s\n", e.what());
      }
    }
  }
}

int main() { aio::run(main_task()); }

//> Caught error: An error occurred
//> Caught error from a task: An error occurred
//> slow_ok cancelled because its sibling failed
//> gather raised: An error occurred
//> settled: value 7
//> settled: error An error occurred
