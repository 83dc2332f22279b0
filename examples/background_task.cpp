// examples/background_task.cpp — create_task: start work in the background, await it later.
//
//   async def background_task():
//       await asyncio.sleep(2)
//       print("Background Task Done")
//
//   async def main():
//       task = asyncio.create_task(background_task())   # scheduled, not awaited
//       print("Main function continues execution...")
//       await asyncio.sleep(1)                           # other work
//       await task
//
// aio::create_task schedules the coroutine on the running loop and returns a
// TaskHandle (asyncio.Task); handle.join() is `await task`. The loop owns the
// task until it ends: dropping the handle never stops it.
// get_running_loop().create_task does not exist: create_task already uses the
// loop of the calling thread (asyncio's loop.create_task(coro) is the same call).
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

aio::Task<> background_task() {
  co_await aio::sleep(200ms);
  std::puts("Background Task Done");
}

aio::Task<> sleep_coro(int delay_ms) {
  std::printf("Started sleeping for %d ms!\n", delay_ms);
  co_await aio::sleep(std::chrono::milliseconds(delay_ms));
  std::printf("Finished sleeping for %d ms!\n", delay_ms);
}

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();
  double start = loop.time();
  auto task = aio::create_task(background_task());
  std::puts("Main function continues execution...");
  co_await aio::sleep(100ms);
  std::puts("Main function did its own work");
  co_await task.join();
  std::printf("main waited %.2f s in all\n", loop.time() - start);

  // Two tasks created before either is awaited run at the same time.
  start = loop.time();
  auto task1 = aio::create_task(sleep_coro(100));
  auto task2 = aio::create_task(sleep_coro(100));
  co_await task1.join();
  co_await task2.join();
  std::printf("two 100 ms tasks took %.2f s\n", loop.time() - start);
}

int main() { aio::run(main_task()); }

//> Main function continues execution...
//> Main function did its own work
//> Background Task Done
//> main waited {0.2..0.35} s in all
//> Started sleeping for 100 ms!
//> Started sleeping for 100 ms!
//> Finished sleeping for 100 ms!
//> Finished sleeping for 100 ms!
//> two 100 ms tasks took {0.1..0.19} s
