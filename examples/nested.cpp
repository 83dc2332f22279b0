// examples/nested.cpp — coroutines awaiting coroutines.
//
//   async def nested():
//       return 42
//
//   async def main():
//       nested()               # only makes a coroutine object: nothing runs
//       print(await nested())  # 42
//
// An aio::Task is just as lazy: calling nested() builds it, awaiting runs it.
// Where Python warns "coroutine was never awaited" at run time, a Task whose
// call is ignored does not compile (every aio coroutine is [[nodiscard]] and
// warnings are errors). Awaiting a coroutine runs it inside the caller's task,
// as in Python: no new task, no scheduling.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

aio::Task<int> nested() { co_return 42; }

// The chain of the asyncio documentation: print_sum awaits compute.
aio::Task<int> compute(int x, int y) {
  std::printf("Compute %d + %d ...\n", x, y);
  co_await aio::sleep(50ms);
  co_return x + y;
}

aio::Task<> print_sum(int x, int y) {
  const int result = co_await compute(x, y);
  std::printf("%d + %d = %d\n", x, y, result);
}

aio::Task<> main_task() {
  auto coro = nested();  // built, not started
  std::puts("nested() called: nothing ran yet");
  const int answer = co_await std::move(coro);
  std::printf("%d\n", answer);

  co_await print_sum(1, 2);
}

int main() { aio::run(main_task()); }

//> nested() called: nothing ran yet
//> 42
//> Compute 1 + 2 ...
//> 1 + 2 = 3
