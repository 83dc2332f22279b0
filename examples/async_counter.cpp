// examples/async_counter.cpp — an async generator consumed with `async for`.
//
//   async def async_counter(limit):
//       count = 0
//       while count < limit:
//           await asyncio.sleep(1)
//           yield count
//           count += 1
//
//   async for value in async_counter(5):
//       print(value)
//
// aio::Generator<T> wraps a body that receives a `yield` callable; the body
// is as lazy as a Python async generator (it runs only while a value is asked
// for) and may await anything between values. `async for` becomes
// `while (auto v = co_await gen.next())`. Dropping the generator early closes
// it (asyncio's aclose()): its pending yield raises CancelledError.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

aio::Generator<int> async_counter(int limit) {
  return aio::Generator<int>([limit](aio::Yield<int> yield) -> aio::Task<> {
    std::printf("counter starts (limit %d)\n", limit);
    try {
      for (int count = 0; count < limit; ++count) {
        co_await aio::sleep(50ms);
        co_await yield(count);
      }
    } catch (const aio::CancelledError&) {
      std::puts("counter closed early");
      throw;
    }
    std::puts("counter ends");
  });
}

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();
  const double start = loop.time();
  auto counter = async_counter(5);
  std::puts("generator made: nothing ran yet");
  while (auto value = co_await counter.next()) std::printf("%d\n", *value);
  std::printf("5 values in %.2f s\n", loop.time() - start);

  {
    auto early = async_counter(100);
    while (auto value = co_await early.next()) {
      std::printf("got %d\n", *value);
      if (*value == 1) break;  // stop consuming: dropping `early` closes it
    }
  }
  co_await aio::sleep(10ms);  // the closed body unwinds on the loop
  std::puts("done");
}

int main() { aio::run(main_task()); }

//> generator made: nothing ran yet
//> counter starts (limit 5)
//> 0
//> 1
//> 2
//> 3
//> 4
//> counter ends
//> 5 values in {0.25..0.45} s
//> counter starts (limit 100)
//> got 0
//> got 1
//> counter closed early
//> done
