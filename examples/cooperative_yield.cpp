// examples/cooperative_yield.cpp — sleep(0): give the other tasks a turn.
//
//   async def worker(name):
//       for step in range(3):
//           print(name, step)
//           await asyncio.sleep(0)      # yield to the loop, come back next turn
//
// One loop runs one task at a time; a task keeps the thread until it awaits.
// aio::sleep(0s) yields once: every task that is ready runs before the
// caller resumes. Without it, the first worker runs all its steps before the
// second one starts.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

aio::Task<> worker(std::string name, bool yield) {
  for (int step = 0; step < 3; ++step) {
    std::printf("%s step %d\n", name.c_str(), step);
    if (yield) co_await aio::sleep(0s);
  }
}

aio::Task<> main_task() {
  std::puts("with sleep(0):");
  auto a = aio::create_task(worker("A", true));
  auto b = aio::create_task(worker("B", true));
  co_await a.join();
  co_await b.join();

  std::puts("without:");
  auto c = aio::create_task(worker("C", false));
  auto d = aio::create_task(worker("D", false));
  co_await c.join();
  co_await d.join();
}

int main() { aio::run(main_task()); }

//> with sleep(0):
//> A step 0
//> B step 0
//> A step 1
//> B step 1
//> A step 2
//> B step 2
//> without:
//> C step 0
//> C step 1
//> C step 2
//> D step 0
//> D step 1
//> D step 2
