// examples/loop_already_running.cpp — "This event loop is already running", and how not to.
//
//   async def main():
//       asyncio.run(other())     # RuntimeError: asyncio.run() cannot be called
//                                # from a running event loop
//       await other()            # what was meant
//
//   asyncio.get_running_loop()   # outside a coroutine: RuntimeError: no running event loop
//
// aio keeps the same rules and the same errors (aio::RuntimeError): one loop
// per thread, run() only where none is running. Inside a coroutine, await the
// other coroutine or create_task it. The other classics do not happen: an
// `co_await` outside a coroutine does not compile, and no task is destroyed
// while pending (the loop owns each task until it ends).
#include <aio/aio.hpp>

#include <cstdio>

aio::Task<int> other() { co_return 7; }

aio::Task<> main_task() {
  try {
    aio::run(other());  // a second loop on this thread, inside the running one
  } catch (const aio::RuntimeError& e) {
    std::printf("RuntimeError: %s\n", e.what());
  }
  const int v = co_await other();
  std::printf("awaited instead: %d\n", v);
  auto t = aio::create_task(other());
  const int w = co_await t.join();
  std::printf("or as a task: %d\n", w);
}

int main() {
  try {
    aio::get_running_loop();
  } catch (const aio::RuntimeError& e) {
    std::printf("outside run(): RuntimeError: %s\n", e.what());
  }
  try {
    aio::create_task(other());
  } catch (const aio::RuntimeError& e) {
    std::printf("create_task outside run(): RuntimeError: %s\n", e.what());
  }
  aio::run(main_task());
}

//> outside run(): RuntimeError: no running event loop
//> create_task outside run(): RuntimeError: no running event loop
//> RuntimeError: run() cannot be called from a running event loop
//> awaited instead: 7
//> or as a task: 7
