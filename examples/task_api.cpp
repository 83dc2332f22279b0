// examples/task_api.cpp — what a task handle tells: name, done, result, cancel, cancelled.
//
//   task = asyncio.create_task(task_coroutine(), name="MyTask")
//   task.set_name("Renamed"); task.get_name()
//   task.done()            # False while it runs
//   task.result()          # InvalidStateError before the end
//   asyncio.all_tasks()    # every task not yet finished
//   await task; task.result()
//   other.cancel(); await other   -> CancelledError; other.cancelled() is True
//
// aio::TaskHandle is asyncio.Task with the same names; await it with join().
// CancelledError is deliberately not a std::exception (Python's is a
// BaseException): catch it by name.
#include <aio/aio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

aio::Task<std::string> task_coroutine() {
  co_await aio::sleep(50ms);
  co_return "result of the task";
}

aio::Task<> sleeper() {
  try {
    co_await aio::sleep(10s);
  } catch (const aio::CancelledError&) {
    std::puts("sleeper: cancelled while sleeping, cleaning up");
    throw;  // as in Python: re-raise, or the task is not cancelled
  }
}

aio::Task<int> failing() {
  co_await aio::sleep(0s);
  throw std::runtime_error("something broke");
}

const char* yes_no(bool b) { return b ? "True" : "False"; }

aio::Task<> main_task() {
  auto task = aio::create_task(task_coroutine(), "MyTask");
  std::printf("name: %s\n", task.get_name().c_str());
  task.set_name("Renamed");
  std::printf("name after set_name: %s\n", task.get_name().c_str());
  auto on_done = [](const aio::TaskHandle<std::string>& t) {
    std::printf("done callback: %s finished\n", t.get_name().c_str());
  };
  task.add_done_callback(on_done);
  std::printf("done: %s\n", yes_no(task.done()));
  try {
    (void)task.result();
  } catch (const aio::InvalidStateError& e) {
    std::printf("result() too early: InvalidStateError: %s\n", e.what());
  }

  auto names = aio::all_task_names();
  std::sort(names.begin(), names.end());
  std::printf("all tasks:");
  for (auto& n : names) std::printf(" %s", n.c_str());
  std::printf("\n");

  const std::string value = co_await task.join();
  std::printf("awaited: %s\n", value.c_str());
  std::printf("done: %s, cancelled: %s, result: %s\n", yes_no(task.done()), yes_no(task.cancelled()),
              task.result().c_str());

  auto other = aio::create_task(sleeper(), "sleeper");
  co_await aio::sleep(0s);  // let it start and reach its sleep
  std::printf("cancel: %s\n", yes_no(other.cancel()));
  try {
    co_await other.join();
  } catch (const aio::CancelledError&) {
    std::puts("await other: CancelledError");
  }
  std::printf("cancelled: %s, done: %s, cancel again: %s\n", yes_no(other.cancelled()), yes_no(other.done()),
              yes_no(other.cancel()));
  try {
    other.result();
  } catch (const aio::CancelledError&) {
    std::puts("result() of a cancelled task: CancelledError");
  }

  auto broken = aio::create_task(failing(), "broken");
  const std::vector<aio::TaskHandle<int>> to_wait{broken};
  co_await aio::wait(to_wait);  // waits for the end without raising
  try {
    std::rethrow_exception(broken.exception());
  } catch (const std::runtime_error& e) {
    std::printf("exception(): %s\n", e.what());
  }
  std::printf("tasks left: %zu\n", aio::all_tasks_count());
}

int main() { aio::run(main_task()); }

//> name: MyTask
//> name after set_name: Renamed
//> done: False
//> result() too early: InvalidStateError: {*}
//> all tasks: Renamed main
//> awaited: result of the task
//> done: True, cancelled: False, result: result of the task
//> done callback: Renamed finished
//> cancel: True
//> sleeper: cancelled while sleeping, cleaning up
//> await other: CancelledError
//> cancelled: True, done: True, cancel again: False
//> result() of a cancelled task: CancelledError
//> exception(): something broke
//> tasks left: 1
