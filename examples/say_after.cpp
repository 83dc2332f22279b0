// examples/say_after.cpp — awaiting one after the other versus tasks that run together.
//
//   async def say_after(delay, what):
//       await asyncio.sleep(delay)
//       print(what)
//
//   async def main():
//       await say_after(1, "hello")                       # 1 s
//       await say_after(2, "world")                       # then 2 s more: 3 s
//       t1 = asyncio.create_task(say_after(1, "hello"))
//       t2 = asyncio.create_task(say_after(2, "world"))
//       await t1; await t2                                # both at once: 2 s
//
// loop.time() is asyncio's loop.time(): the loop's monotonic clock in seconds.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

aio::Task<> say_after(std::chrono::milliseconds delay, std::string what) {
  co_await aio::sleep(delay);
  std::printf("%s\n", what.c_str());
}

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();

  double start = loop.time();
  std::puts("one after the other:");
  co_await say_after(200ms, "hello");
  co_await say_after(400ms, "world");
  std::printf("finished after %.2f s\n", loop.time() - start);

  start = loop.time();
  std::puts("as two tasks:");
  auto t1 = aio::create_task(say_after(200ms, "hello"));
  auto t2 = aio::create_task(say_after(400ms, "world"));
  co_await t1.join();
  co_await t2.join();
  std::printf("finished after %.2f s\n", loop.time() - start);
}

int main() { aio::run(main_task()); }

//> one after the other:
//> hello
//> world
//> finished after {0.6..1.0} s
//> as two tasks:
//> hello
//> world
//> finished after {0.4..0.58} s
