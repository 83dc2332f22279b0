// examples/taskgroup.cpp — TaskGroup: structured concurrency.
//
//   async with asyncio.TaskGroup() as tg:
//       task1 = tg.create_task(sleep_coro(2))
//       task2 = tg.create_task(sleep_coro(3))
//   print(f"task1: {task1.result()}, task2: {task2.result()}")
//
// C++ has no `async with`: the block's end is `co_await tg.join()`. As in
// asyncio, the first child that fails cancels its siblings and join()
// rethrows that failure (an ExceptionGroup when several failed). A group
// left without join() (an exception on the way) cancels its children.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>

using namespace std::chrono_literals;

aio::Task<int> sleep_coro(int delay_ms) {
  std::printf("Started sleeping for %d ms!\n", delay_ms);
  co_await aio::sleep(std::chrono::milliseconds(delay_ms));
  std::printf("Finished sleeping for %d ms!\n", delay_ms);
  co_return delay_ms;
}

aio::Task<int> slow_child() {
  try {
    co_await aio::sleep(10s);
  } catch (const aio::CancelledError&) {
    std::puts("slow child cancelled by the group");
    throw;
  }
  co_return 0;
}

aio::Task<int> failing_child() {
  co_await aio::sleep(50ms);
  throw std::invalid_argument("bad input");
}

aio::Task<> main_task() {
  std::puts("Before running task group!");
  aio::TaskGroup tg;
  auto task1 = tg.create_task(sleep_coro(200));
  auto task2 = tg.create_task(sleep_coro(300));
  co_await tg.join();
  std::puts("After running task group!");
  std::printf("task1: %d, task2: %d\n", task1.result(), task2.result());

  auto& loop = aio::get_running_loop();
  const double start = loop.time();
  try {
    aio::TaskGroup group;
    group.create_task(slow_child());
    group.create_task(failing_child());
    co_await group.join();
  } catch (const std::invalid_argument& e) {
    std::printf("group failed: %s, after %.2f s\n", e.what(), loop.time() - start);
  }
}

int main() { aio::run(main_task()); }

//> Before running task group!
//> Started sleeping for 200 ms!
//> Started sleeping for 300 ms!
//> Finished sleeping for 200 ms!
//> Finished sleeping for 300 ms!
//> After running task group!
//> task1: 200, task2: 300
//> slow child cancelled by the group
//> group failed: bad input, after {0.05..0.2} s
