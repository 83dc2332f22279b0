// examples/wait_for.cpp — timeouts with wait_for, and waiting for several tasks with wait.
//
//   try:
//       await asyncio.wait_for(sleep_coro(2), timeout=1.0)
//   except TimeoutError:
//       print("timeout!")
//
//   done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
//
// aio::wait_for cancels the slow coroutine on expiry and waits for it, so its
// clean-up has run before TimeoutError reaches the caller. aio::wait returns
// (done, pending) and, as in asyncio, cancels nothing. asyncio.wait's
// `timeout=` is spelled wait_for(wait(...), timeout) here.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

aio::Task<int> sleep_coro(int delay_ms) {
  std::printf("Started sleeping for %d ms!\n", delay_ms);
  try {
    co_await aio::sleep(std::chrono::milliseconds(delay_ms));
  } catch (const aio::CancelledError&) {
    std::printf("sleep of %d ms cancelled\n", delay_ms);
    throw;
  }
  std::printf("Finished sleeping for %d ms!\n", delay_ms);
  co_return delay_ms;
}

void print_names(const char* what, const std::vector<aio::TaskHandle<int>>& tasks) {
  std::printf("%s:", what);
  for (auto& t : tasks) std::printf(" %s", t.get_name().c_str());
  std::printf("\n");
}

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();
  double start = loop.time();
  try {
    co_await aio::wait_for(sleep_coro(200), 100ms);
  } catch (const aio::TimeoutError&) {
    std::printf("timeout! after %.2f s\n", loop.time() - start);
  }
  const int fast = co_await aio::wait_for(sleep_coro(50), 1s);
  std::printf("in time: %d\n", fast);

  std::vector<aio::TaskHandle<int>> tasks;
  for (int ms : {300, 50, 150}) tasks.push_back(aio::create_task(sleep_coro(ms), "t" + std::to_string(ms)));

  start = loop.time();
  auto [done, pending] = co_await aio::wait(tasks, aio::ReturnWhen::FIRST_COMPLETED);
  print_names("done", done);
  print_names("pending", pending);

  try {
    co_await aio::wait_for(aio::wait(tasks), 200ms);  // asyncio.wait(tasks, timeout=0.2)
  } catch (const aio::TimeoutError&) {
    std::puts("not all done within 200 ms; wait cancelled nothing:");
  }
  for (auto& t : tasks) std::printf("  %s done: %s\n", t.get_name().c_str(), t.done() ? "yes" : "no");

  auto all = co_await aio::wait(tasks);  // ALL_COMPLETED
  print_names("finally done", all.first);
  std::printf("waited %.2f s in all\n", loop.time() - start);
}

int main() { aio::run(main_task()); }

//> Started sleeping for 200 ms!
//> sleep of 200 ms cancelled
//> timeout! after {0.1..0.19} s
//> Started sleeping for 50 ms!
//> Finished sleeping for 50 ms!
//> in time: 50
//> Started sleeping for 300 ms!
//> Started sleeping for 50 ms!
//> Started sleeping for 150 ms!
//> Finished sleeping for 50 ms!
//> done: t50
//> pending: t300 t150
//> Finished sleeping for 150 ms!
//> not all done within 200 ms; wait cancelled nothing:
//>   t300 done: no
//>   t50 done: yes
//>   t150 done: yes
//> Finished sleeping for 300 ms!
//> finally done: t300 t50 t150
//> waited {0.3..0.45} s in all
