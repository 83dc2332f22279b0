// examples/locks.cpp — Lock, Semaphore and Event between tasks of one loop.
//
//   async with lock:                 # one task at a time in here
//       value = counter; await asyncio.sleep(0); counter = value + 1
//
//   async with semaphore:            # at most N tasks at a time in here
//       ...
//
//   await event.wait()               # until somebody calls event.set()
//
// `async with` becomes a guard: `auto guard = co_await lock.scoped();` holds
// the lock (or the permit) until the end of the scope. The primitives belong
// to one loop and are not thread-safe (as asyncio's), which is what makes
// them cheap.
#include <aio/aio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

struct Shared {
  int counter = 0;
  int inside = 0;
  int most_inside = 0;
};

// A read-modify-write with a suspension in the middle: without the lock,
// the increments of other tasks in between would be lost.
aio::Task<> increment(Shared& s, aio::Lock* lock) {
  for (int i = 0; i < 100; ++i) {
    aio::Lock::Guard guard;
    if (lock) guard = co_await lock->scoped();
    const int value = s.counter;
    co_await aio::sleep(0s);
    s.counter = value + 1;
  }
}

aio::Task<int> count_with(aio::Lock* lock) {
  Shared s;
  std::vector<aio::Task<void>> tasks;
  for (int i = 0; i < 4; ++i) tasks.push_back(increment(s, lock));
  co_await aio::gather(std::move(tasks));
  co_return s.counter;
}

aio::Task<> limited_job(Shared& s, aio::Semaphore& sem) {
  auto permit = co_await sem.scoped();
  s.most_inside = std::max(s.most_inside, ++s.inside);
  co_await aio::sleep(50ms);
  --s.inside;
}

aio::Task<> waiter(int n, aio::Event& event) {
  co_await event.wait();
  std::printf("waiter %d saw the event\n", n);
}

aio::Task<> main_task() {
  const int unlocked = co_await count_with(nullptr);
  std::printf("4 x 100 increments without a lock: %s\n", unlocked == 400 ? "400" : "lost some");
  aio::Lock lock;
  const int locked = co_await count_with(&lock);
  std::printf("4 x 100 increments with a lock: %d\n", locked);

  auto& loop = aio::get_running_loop();
  const double start = loop.time();
  aio::Semaphore sem(2);
  Shared s;
  std::vector<aio::Task<void>> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(limited_job(s, sem));
  co_await aio::gather(std::move(jobs));
  std::printf("6 jobs of 50 ms, 2 at a time: at most %d inside, %.2f s\n", s.most_inside, loop.time() - start);

  aio::Event event;
  std::vector<aio::TaskHandle<>> waiters;
  for (int n = 1; n <= 3; ++n) waiters.push_back(aio::create_task(waiter(n, event)));
  co_await aio::sleep(20ms);
  std::printf("setting the event (%zu waiting)\n", event.waiters());
  event.set();
  co_await aio::wait(waiters);
}

int main() { aio::run(main_task()); }

//> 4 x 100 increments without a lock: lost some
//> 4 x 100 increments with a lock: 400
//> 6 jobs of 50 ms, 2 at a time: at most 2 inside, {0.15..0.3} s
//> setting the event (3 waiting)
//> waiter 1 saw the event
//> waiter 2 saw the event
//> waiter 3 saw the event
