// examples/future_callback.cpp — a Future completed by a callback, awaited by a coroutine.
//
//   fut = loop.create_future()
//   loop.call_later(0.1, fut.set_result, 42)        # somebody sets it later
//   fut.add_done_callback(lambda f: print("done callback:", f.result()))
//   print(await fut)
//
//   # from another thread: loop.call_soon_threadsafe(fut.set_result, value)
//
// aio::Future<T> is the bridge from callback code to coroutines; copies share
// one state, so a callback can hold one. It is loop-local: a thread hands its
// result over with Loop::call_soon_threadsafe, the one thread-safe call.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();

  aio::Future<int> fut;
  auto set_it = [fut]() mutable {
    std::puts("timer callback sets the result");
    fut.set_result(42);
  };
  loop.call_later(100ms, set_it);
  fut.add_done_callback([](const aio::Future<int>& f) { std::printf("done callback: %d\n", f.result()); });
  std::printf("done before: %s\n", fut.done() ? "yes" : "no");
  const int value = co_await fut.wait();  // the awaiter resumes before the done callbacks run
  std::printf("awaited: %d\n", value);
  co_await aio::sleep(0s);                  // their turn

  aio::Future<std::string> from_thread;
  std::thread worker([&loop, from_thread]() mutable {
    std::this_thread::sleep_for(50ms);
    loop.call_soon_threadsafe([from_thread]() mutable { from_thread.set_result("hello from a thread"); });
  });
  const std::string text = co_await from_thread.wait();
  worker.join();
  std::printf("awaited: %s\n", text.c_str());

  aio::Future<int> failed;
  auto fail_it = [failed]() mutable { failed.set_exception(std::make_exception_ptr(std::runtime_error("no luck"))); };
  loop.call_soon(fail_it);
  try {
    co_await failed.wait();
  } catch (const std::runtime_error& e) {
    std::printf("awaiting a failed future raised: %s\n", e.what());
  }
}

int main() { aio::run(main_task()); }

//> done before: no
//> timer callback sets the result
//> awaited: 42
//> done callback: 42
//> awaited: hello from a thread
//> awaiting a failed future raised: no luck
