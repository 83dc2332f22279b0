// examples/runner.cpp — Runner: one loop for several run() calls, and the loop's callbacks.
//
//   with asyncio.Runner() as runner:
//       runner.run(async_sleep_for_one_second())
//       runner.run(other())                 # the same loop again
//
//   loop = asyncio.get_event_loop()         # the older spelling of the same idea
//   loop.run_until_complete(my_task())
//
//   loop.call_soon(callback); loop.call_later(0.05, callback)
//
// aio::Runner owns a loop; each run() runs a task to its end on it, then
// cancels the tasks it left behind and waits for them. The scope of the
// Runner object is the `with` block: its destructor closes the loop.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

aio::Task<> async_sleep_for_one_second() {
  std::puts("started sleeping for 100 ms!");
  co_await aio::sleep(100ms);
  std::puts("Finished sleeping!");
}

aio::Task<> forever() {
  try {
    for (;;) co_await aio::sleep(1h);
  } catch (const aio::CancelledError&) {
    std::puts("background task cancelled when run() returned");
    throw;
  }
}

aio::Task<aio::Loop*> leave_a_task_behind() {
  aio::create_task(forever(), "forever");
  co_await aio::sleep(0s);
  co_return &aio::get_running_loop();
}

aio::Task<> callbacks() {
  auto& loop = aio::get_running_loop();
  aio::Event fired;
  const double start = loop.time();
  loop.call_later(50ms, [&fired, &loop, start] {
    std::printf("call_later callback after %.2f s\n", loop.time() - start);
    fired.set();
  });
  loop.call_soon([] { std::puts("call_soon callback"); });
  std::puts("callbacks scheduled");
  co_await fired.wait();
}

int main() {
  aio::Runner runner;
  runner.run(async_sleep_for_one_second());
  aio::Loop* loop = runner.run(leave_a_task_behind());
  std::printf("same loop on every run(): %s\n", loop == &runner.get_loop() ? "yes" : "no");
  runner.run(callbacks());
  runner.close();
  std::puts("runner closed");
}

//> started sleeping for 100 ms!
//> Finished sleeping!
//> background task cancelled when run() returned
//> same loop on every run(): yes
//> callbacks scheduled
//> call_soon callback
//> call_later callback after {0.05..0.2} s
//> runner closed
