// Behaviours of aio/locks.hpp, ported from CPython 3.13's Lib/test/test_asyncio/test_locks.py
// with its exact expectations (the CPython test name is given in each comment).
#include <harness.hpp>

#include <aio/locks.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

namespace {
using Ints = std::vector<int>;

// Awaits every handle, like asyncio.gather(*tasks) over tasks.
template <class T>
Task<std::vector<T>> join_all(std::vector<aio::TaskHandle<T>>& tasks) {
  std::vector<T> out;
  for (auto& t : tasks) out.push_back(co_await t.join());
  co_return out;
}
Task<void> join_all(std::vector<aio::TaskHandle<void>>& tasks) {
  for (auto& t : tasks) co_await t.join();
}
}  // namespace

// ------------------------------------------------------------------ Lock

// test_acquire
TEST_CASE("lock acquire wakes waiters one release at a time in FIFO order", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    Ints result;
    co_await lock.acquire();
    CHECK(lock.locked());
    auto c = [&](int i) -> Task<bool> {
      co_await lock.acquire();
      result.push_back(i);
      co_return true;
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    co_await aio::sleep(0s);
    CHECK(result.empty());

    lock.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});

    auto t3 = aio::create_task(c(3));
    lock.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1, 2});

    lock.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1, 2, 3});

    CHECK((t1.done() && t1.result()));
    CHECK((t2.done() && t2.result()));
    CHECK((t3.done() && t3.result()));
  }());
}

// test_acquire_cancel
TEST_CASE("a cancelled acquire leaves no waiter behind", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    co_await lock.acquire();
    auto task = aio::create_task(lock.acquire());
    auto cancel = [task]() mutable { task.cancel(); };
    aio::get_running_loop().call_soon(cancel);
    CHECK_THROWS_AS(co_await task.join(), aio::CancelledError);
    CHECK(lock.waiters() == 0);
    CHECK(lock.locked());
  }());
}

// test_cancel_race
TEST_CASE("a waiter cancelled while the holder releases lets the next waiter in", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    auto lockit = [&](aio::Future<void>* blocker) -> Task<> {
      co_await lock.acquire();
      auto guard = aio::Lock::Guard(lock);
      if (blocker) co_await blocker->wait();
    };
    aio::Future<void> fa;
    auto ta = aio::create_task(lockit(&fa));
    co_await aio::sleep(0s);
    CHECK(lock.locked());
    auto tb = aio::create_task(lockit(nullptr));
    co_await aio::sleep(0s);
    CHECK(lock.waiters() == 1);
    auto tc = aio::create_task(lockit(nullptr));
    co_await aio::sleep(0s);
    CHECK(lock.waiters() == 2);

    fa.set_result();
    tb.cancel();
    CHECK(lock.waiters() == 1);  // B left the queue at once
    co_await aio::sleep(0s);
    CHECK_FALSE(lock.locked());
    CHECK(ta.done());
    CHECK(tb.cancelled());
    co_await tc.join();
  }());
}

// test_cancel_release_race (bpo-32734)
TEST_CASE("cancelling the first waiter and releasing at once admits exactly one waiter", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    int lock_count = 0;
    int call_count = 0;
    auto lockit = [&]() -> Task<> {
      ++call_count;
      co_await lock.acquire();
      ++lock_count;
    };
    co_await lock.acquire();
    auto t1 = aio::create_task(lockit());
    auto t2 = aio::create_task(lockit());
    auto t3 = aio::create_task(lockit());
    co_await aio::sleep(0s);  // start them

    auto trigger = [&] {
      t1.cancel();
      lock.release();
    };
    aio::get_running_loop().call_soon(trigger);
    CHECK_THROWS_AS(co_await t1.join(), aio::CancelledError);

    CHECK(lock_count == 1);  // only one lock was taken
    CHECK(call_count == 3);
    CHECK((t1.cancelled() && t2.done()));

    t3.cancel();
    co_await aio::sleep(0s);
    CHECK(t3.cancelled());
  }());
}

// test_finished_waiter_cancelled (bpo-27585)
TEST_CASE("a waiter woken and cancelled before it runs does not strand the next one", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    co_await lock.acquire();
    CHECK(lock.locked());
    auto tb = aio::create_task(lock.acquire());
    co_await aio::sleep(0s);
    CHECK(lock.waiters() == 1);

    auto tc = aio::create_task(lock.acquire());
    tb.cancel();
    lock.release();
    co_await aio::sleep(0s);
    CHECK(lock.locked());
    CHECK(tb.cancelled());
    co_await tc.join();
  }());
}

TEST_CASE("a woken waiter cancelled before it runs hands the lock to the next waiter", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    co_await lock.acquire();
    auto tb = aio::create_task(lock.acquire());
    auto tc = aio::create_task(lock.acquire());
    co_await aio::sleep(0s);
    CHECK(lock.waiters() == 2);
    lock.release();  // wakes tb and reserves the lock for it
    tb.cancel();     // ... which is cancelled before it runs
    CHECK_FALSE(lock.locked());
    CHECK_THROWS_AS(co_await tb.join(), aio::CancelledError);
    co_await tc.join();  // tc got the lock instead
    CHECK(lock.locked());
    CHECK(lock.waiters() == 0);
  }());
}

TEST_CASE("a task arriving after a release queues behind the woken waiter", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    std::vector<std::string> order;
    co_await lock.acquire();
    auto body = [&]() -> Task<> {
      co_await lock.acquire();
      order.push_back("first");
      lock.release();
    };
    auto first = aio::create_task(body());
    co_await aio::sleep(0s);
    lock.release();  // first is woken but has not run yet
    CHECK_FALSE(lock.locked());
    CHECK(lock.waiters() == 1);
    co_await lock.acquire();  // no barging: this queues behind first
    order.push_back("late");
    lock.release();
    co_await first.join();
    CHECK(order == std::vector<std::string>{"first", "late"});
  }());
}

// test_release_not_acquired
TEST_CASE("releasing an unlocked lock throws RuntimeError", "[locks][lock]") {
  aio::Lock lock;
  CHECK_THROWS_AS(lock.release(), aio::RuntimeError);
}

// test_release_no_waiters, test_context_manager
TEST_CASE("scoped() holds the lock until the guard goes out of scope", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    CHECK(lock.describe() == "Lock [unlocked]");
    {
      auto guard = co_await lock.scoped();
      CHECK(lock.locked());
      CHECK(guard.owns());
      CHECK(lock.describe() == "Lock [locked]");
    }
    CHECK_FALSE(lock.locked());
    auto guard = co_await lock.scoped();
    guard.release();
    CHECK_FALSE(lock.locked());
    CHECK_FALSE(guard.owns());
  }());
}

TEST_CASE("a waiting acquire is cancelled by wait_for's timeout without leaving a waiter", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    co_await lock.acquire();
    CHECK_THROWS_AS(co_await aio::wait_for(lock.acquire(), 5ms), aio::TimeoutError);
    CHECK(lock.waiters() == 0);
    lock.release();
    co_await aio::wait_for(lock.acquire(), 1s);
    CHECK(lock.locked());
  }());
}

TEST_CASE("acquire raises at once when the task has a pending cancellation", "[locks][lock]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    aio::TaskHandle<void> self;
    bool raised = false;
    auto body = [&]() -> Task<> {
      self.cancel();  // while running: delivered at the next aio wait
      try {
        co_await lock.acquire();
      } catch (const aio::CancelledError&) {
        raised = true;
      }
      co_await lock.acquire();  // one cancel(), one CancelledError
    };
    self = aio::create_task(body());
    co_await self.join();
    CHECK(raised);
    CHECK(lock.locked());
  }());
}

// ------------------------------------------------------------------ Event

// test_wait
TEST_CASE("set wakes every waiter; a new waiter on a set event does not wait", "[locks][event]") {
  run_test([]() -> Task<> {
    aio::Event ev;
    CHECK_FALSE(ev.is_set());
    Ints result;
    auto c = [&](int i) -> Task<> {
      co_await ev.wait();
      result.push_back(i);
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    co_await aio::sleep(0s);
    CHECK(result.empty());

    auto t3 = aio::create_task(c(3));
    ev.set();
    co_await aio::sleep(0s);
    CHECK(result == Ints{3, 1, 2});
    CHECK(t1.done());
    CHECK(t2.done());
    CHECK(t3.done());
  }());
}

// test_wait_on_set, test_clear
TEST_CASE("wait on a set event returns at once and clear resets the flag", "[locks][event]") {
  run_test([]() -> Task<> {
    aio::Event ev;
    ev.set();
    CHECK(ev.is_set());
    co_await ev.wait();
    ev.clear();
    CHECK_FALSE(ev.is_set());
    CHECK(ev.describe() == "Event [unset]");
  }());
}

// test_wait_cancel
TEST_CASE("a cancelled event wait leaves no waiter behind", "[locks][event]") {
  run_test([]() -> Task<> {
    aio::Event ev;
    auto wait = aio::create_task(ev.wait());
    auto cancel = [wait]() mutable { wait.cancel(); };
    aio::get_running_loop().call_soon(cancel);
    CHECK_THROWS_AS(co_await wait.join(), aio::CancelledError);
    CHECK(ev.waiters() == 0);
  }());
}

// test_clear_with_waiters
TEST_CASE("set wakes the current waiters even if clear follows at once", "[locks][event]") {
  run_test([]() -> Task<> {
    aio::Event ev;
    Ints result;
    auto c1 = [&]() -> Task<bool> {
      co_await ev.wait();
      result.push_back(1);
      co_return true;
    };
    auto t = aio::create_task(c1());
    co_await aio::sleep(0s);
    CHECK(result.empty());

    ev.set();
    ev.clear();
    CHECK_FALSE(ev.is_set());
    ev.set();
    ev.set();
    CHECK(ev.waiters() == 1);
    CHECK(ev.describe() == "Event [set, waiters:1]");

    co_await aio::sleep(0s);
    CHECK(result == Ints{1});
    CHECK(ev.waiters() == 0);
    CHECK((t.done() && t.result()));
  }());
}

// ------------------------------------------------------------------ Condition

// test_wait
TEST_CASE("notified waiters return one at a time as they re-acquire the lock", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    Ints result;
    auto c = [&](int i) -> Task<bool> {
      co_await cond.acquire();
      co_await cond.wait();
      result.push_back(i);
      co_return true;
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    auto t3 = aio::create_task(c(3));
    co_await aio::sleep(0s);
    CHECK(result.empty());
    CHECK_FALSE(cond.locked());

    co_await cond.acquire();
    cond.notify();
    co_await aio::sleep(0s);
    CHECK(result.empty());
    CHECK(cond.locked());

    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});
    CHECK(cond.locked());

    cond.notify(2);
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});
    CHECK(cond.locked());

    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1, 2});
    CHECK(cond.locked());

    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1, 2, 3});
    CHECK(cond.locked());

    CHECK((t1.done() && t1.result()));
    CHECK((t2.done() && t2.result()));
    CHECK((t3.done() && t3.result()));
  }());
}

// test_notify
TEST_CASE("notify(n) wakes n waiters and notify with more than are waiting wakes them all", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    Ints result;
    auto c = [&](int i) -> Task<bool> {
      co_await cond.acquire();
      co_await cond.wait();
      result.push_back(i);
      cond.release();
      co_return true;
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    auto t3 = aio::create_task(c(3));
    co_await aio::sleep(0s);
    CHECK(result.empty());

    co_await cond.acquire();
    cond.notify(1);
    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});

    co_await cond.acquire();
    cond.notify(1);
    cond.notify(2048);
    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1, 2, 3});

    CHECK((t1.done() && t1.result()));
    CHECK((t2.done() && t2.result()));
    CHECK((t3.done() && t3.result()));
  }());
}

// test_notify_all
TEST_CASE("notify_all wakes every waiter", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    Ints result;
    auto c = [&](int i) -> Task<> {
      co_await cond.acquire();
      co_await cond.wait();
      result.push_back(i);
      cond.release();
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    co_await aio::sleep(0s);
    CHECK(result.empty());
    CHECK(cond.waiters() == 2);

    co_await cond.acquire();
    cond.notify_all();
    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1, 2});
    CHECK(t1.done());
    CHECK(t2.done());
  }());
}

// test_notify_unacquired, test_notify_all_unacquired
TEST_CASE("notify without the lock throws RuntimeError", "[locks][condition]") {
  aio::Condition cond;
  CHECK_THROWS_AS(cond.notify(), aio::RuntimeError);
  CHECK_THROWS_AS(cond.notify_all(), aio::RuntimeError);
}

// test_wait_for
TEST_CASE("wait_for returns only once the predicate holds after a notification", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    bool presult = false;
    Ints result;
    auto predicate = [&] { return presult; };
    auto c1 = [&]() -> Task<bool> {
      co_await cond.acquire();
      if (co_await cond.wait_for(predicate)) {
        result.push_back(1);
        cond.release();
      }
      co_return true;
    };
    auto t = aio::create_task(c1());
    co_await aio::sleep(0s);
    CHECK(result.empty());

    co_await cond.acquire();
    cond.notify();
    cond.release();
    co_await aio::sleep(0s);
    CHECK(result.empty());

    presult = true;
    co_await cond.acquire();
    cond.notify();
    cond.release();
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});
    CHECK((t.done() && t.result()));
  }());
}

// test_wait_for_unacquired
TEST_CASE("wait_for with a true predicate needs no lock; a false one throws RuntimeError", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    auto truthy = [] { return 3; };
    CHECK(co_await cond.wait_for(truthy) == 3);
    auto falsy = [] { return false; };
    CHECK_THROWS_AS(co_await cond.wait_for(falsy), aio::RuntimeError);
  }());
}

// test_wait_unacquired
TEST_CASE("wait without the lock throws RuntimeError", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    CHECK_THROWS_AS(co_await cond.wait(), aio::RuntimeError);
  }());
}

// test_wait_cancel
TEST_CASE("a cancelled condition wait returns with the lock held again", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    co_await cond.acquire();
    auto wait = aio::create_task(cond.wait());
    auto cancel = [wait]() mutable { wait.cancel(); };
    aio::get_running_loop().call_soon(cancel);
    CHECK_THROWS_AS(co_await wait.join(), aio::CancelledError);
    CHECK(cond.waiters() == 0);
    CHECK(cond.locked());
  }());
}

// test_wait_cancel_contested
TEST_CASE("a notified waiter cancelled while the lock is contested still re-acquires it", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    co_await cond.acquire();
    CHECK(cond.locked());
    auto wait_task = aio::create_task(cond.wait());
    co_await aio::sleep(0s);
    CHECK_FALSE(cond.locked());

    co_await cond.acquire();
    CHECK(cond.locked());
    cond.notify();
    auto cancel = [wait_task]() mutable { wait_task.cancel(); };
    auto release = [&] { cond.release(); };
    aio::get_running_loop().call_soon(cancel);
    aio::get_running_loop().call_soon(release);
    try {
      co_await wait_task.join();
    } catch (const aio::CancelledError&) {
    }
    CHECK(cond.locked());
  }());
}

// test_wait_cancel_after_notify (bpo-32841)
TEST_CASE("a waiter cancelled after notify while re-acquiring ends cancelled", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    bool waited = false;
    auto wait_on_cond = [&]() -> Task<> {
      auto guard = co_await cond.scoped();
      waited = true;
      co_await cond.wait();
    };
    auto waiter = aio::create_task(wait_on_cond());
    co_await aio::sleep(0s);  // start waiting

    co_await cond.acquire();
    cond.notify();
    co_await aio::sleep(0s);  // get to acquire()
    waiter.cancel();
    co_await aio::sleep(0s);  // activate cancellation
    cond.release();
    co_await aio::sleep(0s);  // cancellation should occur
    CHECK(waiter.cancelled());
    CHECK(waited);
    CHECK_FALSE(cond.locked());  // the waiter's guard released it
  }());
}

TEST_CASE("a notified waiter cancelled before it runs passes the notification on", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    Ints woke;
    auto c = [&](int i) -> Task<> {
      auto guard = co_await cond.scoped();
      co_await cond.wait();
      woke.push_back(i);
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    co_await aio::sleep(0s);
    co_await cond.acquire();
    cond.notify(1);  // t1 is notified ...
    t1.cancel();     // ... and cancelled before it runs
    cond.release();
    CHECK_THROWS_AS(co_await t1.join(), aio::CancelledError);
    co_await t2.join();  // t2 got the notification
    CHECK(woke == Ints{2});
  }());
}

// test_explicit_lock
TEST_CASE("a condition over a given lock shares its state", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Lock lock;
    aio::Condition cond(lock);
    CHECK_FALSE(lock.locked());
    CHECK_FALSE(cond.locked());
    {
      auto guard = co_await cond.scoped();
      CHECK(lock.locked());
      CHECK(cond.locked());
      CHECK(cond.describe() == "Condition [locked]");
    }
    CHECK_FALSE(lock.locked());
    {
      auto guard = co_await lock.scoped();
      CHECK(cond.locked());
    }
    CHECK_FALSE(cond.locked());
  }());
}

// test_timeout_in_block
TEST_CASE("wait_for's timeout on a condition wait leaves the lock held", "[locks][condition]") {
  run_test([]() -> Task<> {
    aio::Condition cond;
    auto guard = co_await cond.scoped();
    CHECK_THROWS_AS(co_await aio::wait_for(cond.wait(), 20ms), aio::TimeoutError);
    CHECK(cond.locked());
    CHECK(cond.waiters() == 0);
  }());
}

// ------------------------------------------------------------------ Semaphore

// test_initial_value_zero, test_semaphore_value
TEST_CASE("a semaphore of value 0 is locked and a negative value throws ValueError", "[locks][semaphore]") {
  aio::Semaphore zero(0);
  CHECK(zero.locked());
  CHECK_THROWS_AS(aio::Semaphore(-1), aio::ValueError);
  CHECK_THROWS_AS(aio::BoundedSemaphore(-1), aio::ValueError);
  aio::Semaphore one;
  CHECK_FALSE(one.locked());
  CHECK(one.value() == 1);
  CHECK(one.describe() == "Semaphore [unlocked, value:1]");
}

// test_acquire
TEST_CASE("released permits go to queued waiters before newcomers", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(3);
    Ints result;
    co_await sem.acquire();
    co_await sem.acquire();
    CHECK_FALSE(sem.locked());
    auto c = [&](int i) -> Task<bool> {
      co_await sem.acquire();
      result.push_back(i);
      co_return true;
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    auto t3 = aio::create_task(c(3));
    co_await aio::sleep(0s);
    CHECK(result == Ints{1});
    CHECK(sem.locked());
    CHECK(sem.waiters() == 2);
    CHECK(sem.value() == 0);

    auto t4 = aio::create_task(c(4));
    sem.release();
    sem.release();
    CHECK(sem.value() == 0);  // both permits reserved for t2 and t3

    co_await aio::sleep(0s);
    CHECK(sem.value() == 0);
    CHECK(result.size() == 3);
    CHECK(sem.locked());
    CHECK(sem.waiters() == 1);
    CHECK((t1.done() && t1.result()));
    int done = (t2.done() ? 1 : 0) + (t3.done() ? 1 : 0) + (t4.done() ? 1 : 0);
    CHECK(done == 2);

    sem.release();
    co_await t2.join();
    co_await t3.join();
    co_await t4.join();
  }());
}

// test_acquire_cancel
TEST_CASE("a cancelled semaphore acquire leaves no waiter behind", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem;
    co_await sem.acquire();
    auto acquire = aio::create_task(sem.acquire());
    auto cancel = [acquire]() mutable { acquire.cancel(); };
    aio::get_running_loop().call_soon(cancel);
    CHECK_THROWS_AS(co_await acquire.join(), aio::CancelledError);
    CHECK(sem.waiters() == 0);
    CHECK(sem.value() == 0);
  }());
}

// test_acquire_cancel_before_awoken
TEST_CASE("waiters cancelled before a release do not consume its permit", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(0);
    auto t1 = aio::create_task(sem.acquire());
    auto t2 = aio::create_task(sem.acquire());
    auto t3 = aio::create_task(sem.acquire());
    auto t4 = aio::create_task(sem.acquire());
    co_await aio::sleep(0s);

    t1.cancel();
    t2.cancel();
    sem.release();
    co_await aio::sleep(0s);
    co_await aio::sleep(0s);
    int num_done = (t3.done() ? 1 : 0) + (t4.done() ? 1 : 0);
    CHECK(num_done == 1);
    CHECK(t3.done());
    CHECK_FALSE(t4.done());

    t3.cancel();
    t4.cancel();
    co_await aio::sleep(0s);
    CHECK(t4.cancelled());
    CHECK_FALSE(t3.cancelled());  // it had finished
  }());
}

// test_acquire_hang
TEST_CASE("a release after the first waiter is cancelled wakes the second", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(0);
    auto t1 = aio::create_task(sem.acquire());
    auto t2 = aio::create_task(sem.acquire());
    co_await aio::sleep(0s);
    t1.cancel();
    sem.release();
    co_await aio::sleep(0s);
    co_await aio::sleep(0s);
    CHECK(sem.locked());
    CHECK(t2.done());
  }());
}

// test_acquire_no_hang
TEST_CASE("a waiter woken and cancelled before it runs gives its permit back", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(1);
    aio::TaskHandle<void> t2;
    bool c2_entered = false;
    auto c1 = [&]() -> Task<> {
      {
        auto guard = co_await sem.scoped();
        co_await aio::sleep(0s);
      }
      t2.cancel();  // t2 was woken by the release above and has not run yet
    };
    auto c2 = [&]() -> Task<> {
      auto guard = co_await sem.scoped();
      c2_entered = true;
    };
    auto t1 = aio::create_task(c1());
    t2 = aio::create_task(c2());
    co_await t1.join();
    CHECK_THROWS_AS(co_await t2.join(), aio::CancelledError);
    CHECK_FALSE(c2_entered);
    CHECK(sem.value() == 1);
    co_await aio::wait_for(sem.acquire(), 1s);
  }());
}

// test_release_not_acquired (BoundedSemaphore)
TEST_CASE("a bounded semaphore released more often than acquired throws ValueError", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::BoundedSemaphore sem;
    CHECK_THROWS_AS(sem.release(), aio::ValueError);
    co_await sem.acquire();
    sem.release();
    CHECK_THROWS_AS(sem.release(), aio::ValueError);
    // Through a Semaphore& too.
    aio::Semaphore& base = sem;
    CHECK_THROWS_AS(base.release(), aio::ValueError);
    CHECK(sem.value() == 1);
  }());
}

TEST_CASE("a bounded semaphore counts a permit reserved for a woken waiter as taken", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::BoundedSemaphore sem(1);
    co_await sem.acquire();
    auto waiter = aio::create_task(sem.acquire());
    co_await aio::sleep(0s);
    sem.release();  // reserved for waiter
    CHECK_THROWS_AS(sem.release(), aio::ValueError);
    co_await waiter.join();
    sem.release();
    CHECK(sem.value() == 1);
  }());
}

// test_release_no_waiters
TEST_CASE("release with no waiters unlocks the semaphore", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem;
    co_await sem.acquire();
    CHECK(sem.locked());
    CHECK(sem.describe() == "Semaphore [locked]");
    sem.release();
    CHECK_FALSE(sem.locked());
  }());
}

// test_acquire_fifo_order
TEST_CASE("semaphore waiters get permits in FIFO order", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(1);
    std::vector<std::string> result;
    auto coro = [&](std::string tag) -> Task<> {
      co_await sem.acquire();
      result.push_back(tag + "_1");
      co_await aio::sleep(10ms);
      sem.release();

      co_await sem.acquire();
      result.push_back(tag + "_2");
      co_await aio::sleep(10ms);
      sem.release();
    };
    aio::TaskGroup tg;
    tg.create_task(coro("c1"));
    tg.create_task(coro("c2"));
    tg.create_task(coro("c3"));
    co_await tg.join();
    CHECK(result == std::vector<std::string>{"c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"});
  }());
}

// test_acquire_fifo_order_2
TEST_CASE("a task that releases and re-acquires queues behind the others", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(1);
    Ints result;
    auto c1 = [&]() -> Task<> {
      co_await sem.acquire();
      result.push_back(1);
    };
    auto c2 = [&]() -> Task<> {
      co_await sem.acquire();
      result.push_back(2);
      sem.release();
      co_await sem.acquire();
      result.push_back(4);
    };
    auto c3 = [&]() -> Task<> {
      co_await sem.acquire();
      result.push_back(3);
    };
    auto t1 = aio::create_task(c1());
    auto t2 = aio::create_task(c2());
    auto t3 = aio::create_task(c3());
    co_await aio::sleep(0s);
    sem.release();
    sem.release();
    co_await t1.join();
    co_await t2.join();
    co_await t3.join();
    CHECK(result == Ints{1, 2, 3, 4});
  }());
}

// test_acquire_fifo_order_3
TEST_CASE("a waiter cancelled before any release is skipped in FIFO order", "[locks][semaphore]") {
  run_test([]() -> Task<> {
    aio::Semaphore sem(0);
    Ints result;
    auto c = [&](int i) -> Task<> {
      co_await sem.acquire();
      result.push_back(i);
    };
    auto t1 = aio::create_task(c(1));
    auto t2 = aio::create_task(c(2));
    auto t3 = aio::create_task(c(3));
    co_await aio::sleep(0s);
    t1.cancel();
    co_await aio::sleep(0s);
    sem.release();
    sem.release();
    CHECK_THROWS_AS(co_await t1.join(), aio::CancelledError);
    co_await t2.join();
    co_await t3.join();
    CHECK(result == Ints{2, 3});
  }());
}

TEST_CASE("random cancellations and timeouts never leak a semaphore permit", "[locks][semaphore][stress]") {
  run_test(
      []() -> Task<> {
        constexpr int permits = 3;
        aio::Semaphore sem(permits);
        std::mt19937 rng(20240601);
        int holders = 0;
        int max_holders = 0;
        int entered = 0;
        auto worker = [&](unsigned seed) -> Task<> {
          std::mt19937 r(seed);
          for (int i = 0; i < 20; ++i) {
            try {
              if (r() % 2) {
                co_await aio::wait_for(sem.acquire(), std::chrono::microseconds(r() % 300));
              } else {
                co_await sem.acquire();
              }
            } catch (const aio::TimeoutError&) {
              continue;
            } catch (const aio::CancelledError&) {
              continue;
            }
            aio::Semaphore::Guard guard(sem);
            ++entered;
            max_holders = std::max(max_holders, ++holders);
            try {
              co_await aio::sleep(std::chrono::microseconds(r() % 100));
            } catch (const aio::CancelledError&) {
            }
            --holders;
          }
        };
        std::vector<aio::TaskHandle<void>> tasks;
        for (int i = 0; i < 200; ++i) tasks.push_back(aio::create_task(worker(rng())));
        for (int round = 0; round < 400; ++round) {
          co_await aio::sleep(std::chrono::microseconds(rng() % 50));
          tasks[rng() % tasks.size()].cancel();
        }
        co_await join_all(tasks);
        CHECK(entered > 0);
        CHECK(max_holders <= permits);
        CHECK(holders == 0);
        CHECK(sem.value() == permits);
        CHECK(sem.waiters() == 0);
      }(),
      60s);
}

// ------------------------------------------------------------------ Barrier

// test_barrier_parties
TEST_CASE("a barrier needs at least one party", "[locks][barrier]") {
  CHECK_THROWS_AS(aio::Barrier(0), aio::ValueError);
  CHECK_THROWS_AS(aio::Barrier(-4), aio::ValueError);
  aio::Barrier b(5);
  CHECK(b.parties() == 5);
  CHECK(b.describe() == "Barrier [filling, waiters:0/5]");
}

// test_filling_one_task_twice
TEST_CASE("a barrier of one party lets each task through at once", "[locks][barrier]") {
  run_test([]() -> Task<> {
    aio::Barrier barrier(1);
    auto t1 = aio::create_task(barrier.wait());
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 0);
    auto t2 = aio::create_task(barrier.wait());
    co_await aio::sleep(0s);
    CHECK((t1.done() && t2.done()));
    CHECK(t1.result() == t2.result());
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  }());
}

// test_filling_task_by_task, test_repr
TEST_CASE("n_waiting counts the tasks waiting for the round to fill", "[locks][barrier]") {
  run_test([]() -> Task<> {
    aio::Barrier barrier(3);
    auto t1 = aio::create_task(barrier.wait());
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 1);
    auto t2 = aio::create_task(barrier.wait());
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 2);
    CHECK(barrier.describe() == "Barrier [filling, waiters:2/3]");
    auto t3 = aio::create_task(barrier.wait());
    co_await aio::sleep(0s);
    CHECK(barrier.describe().find("draining") != std::string::npos);
    co_await t1.join();
    co_await t2.join();
    co_await t3.join();
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  }());
}

// test_filling_tasks_check_return_value, test_filling_tasks_wait_twice
TEST_CASE("barrier wait returns each arrival index 0..N-1 once per round", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier(N);
    std::vector<std::size_t> first;
    auto coro = [&]() -> Task<std::size_t> {
      auto i = co_await barrier.wait();
      first.push_back(i);
      co_return co_await barrier.wait();
    };
    std::vector<aio::TaskHandle<std::size_t>> tasks;
    for (int i = 0; i < N; ++i) tasks.push_back(aio::create_task(coro()));
    auto second = co_await join_all(tasks);
    std::sort(first.begin(), first.end());
    std::sort(second.begin(), second.end());
    std::vector<std::size_t> expected{0, 1, 2, 3, 4};
    CHECK(first == expected);
    CHECK(second == expected);
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  }());
}

// test_draining_state
TEST_CASE("tasks leave the barrier draining until the last one is out", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier(N);
    std::vector<bool> draining;
    auto coro = [&]() -> Task<int> {
      co_await barrier.wait();
      draining.push_back(barrier.describe().find("draining") != std::string::npos);
      co_return 0;
    };
    std::vector<aio::TaskHandle<int>> tasks;
    for (int i = 0; i < N; ++i) tasks.push_back(aio::create_task(coro()));
    co_await join_all(tasks);
    REQUIRE(draining.size() == N);
    CHECK_FALSE(draining.back());
    CHECK(std::all_of(draining.begin(), draining.end() - 1, [](bool b) { return b; }));
  }());
}

// test_filling_tasks_cancel_one
TEST_CASE("a task cancelled while the barrier fills leaves the round", "[locks][barrier]") {
  run_test([]() -> Task<> {
    aio::Barrier barrier(3);
    int results = 0;
    auto coro = [&]() -> Task<> {
      co_await barrier.wait();
      ++results;
    };
    auto t1 = aio::create_task(coro());
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 1);
    auto t2 = aio::create_task(coro());
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 2);

    t1.cancel();
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 1);
    CHECK_THROWS_AS(co_await t1.join(), aio::CancelledError);
    CHECK(t1.cancelled());

    auto t3 = aio::create_task(coro());
    co_await aio::sleep(0s);
    CHECK(barrier.n_waiting() == 2);
    auto t4 = aio::create_task(coro());
    co_await t2.join();
    co_await t3.join();
    co_await t4.join();
    CHECK(results == 3);
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
  }());
}

// test_reset_barrier, test_abort_barrier
TEST_CASE("reset on an idle barrier keeps it usable and abort breaks it", "[locks][barrier]") {
  run_test([]() -> Task<> {
    aio::Barrier barrier(1);
    co_await barrier.reset();
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(barrier.broken());
    co_await barrier.abort();
    CHECK(barrier.broken());
    CHECK(barrier.describe() == "Barrier [broken]");
    CHECK_THROWS_AS(co_await barrier.wait(), aio::BrokenBarrierError);
    co_await barrier.reset();
    CHECK_FALSE(barrier.broken());
    CHECK(co_await barrier.wait() == 0);
  }());
}

// test_reset_barrier_while_tasks_waiting
TEST_CASE("reset while tasks wait raises BrokenBarrierError in each of them", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier(N);
    int broken = 0;
    auto coro = [&]() -> Task<int> {
      try {
        co_await barrier.wait();
      } catch (const aio::BrokenBarrierError&) {
        ++broken;
      }
      co_return 0;
    };
    std::vector<aio::TaskHandle<int>> tasks;
    for (int i = 0; i < N - 1; ++i) tasks.push_back(aio::create_task(coro()));
    co_await aio::sleep(0s);
    auto resetter = aio::create_task(barrier.reset());
    co_await join_all(tasks);
    co_await resetter.join();
    CHECK(broken == N - 1);
    CHECK(barrier.n_waiting() == 0);
    CHECK(barrier.describe().find("resetting") == std::string::npos);
    CHECK_FALSE(barrier.broken());
  }());
}

// test_reset_barrier_while_tasks_waiting_and_waiting_again
TEST_CASE("tasks broken by a reset can meet at the barrier again", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier(N);
    int results1 = 0;
    int results2 = 0;
    auto coro1 = [&]() -> Task<int> {
      try {
        co_await barrier.wait();
      } catch (const aio::BrokenBarrierError&) {
        ++results1;
      }
      co_await barrier.wait();
      ++results2;
      co_return 0;
    };
    auto coro2 = [&]() -> Task<> {
      co_await barrier.wait();
      ++results2;
    };
    std::vector<aio::TaskHandle<int>> tasks;
    for (int i = 0; i < N - 1; ++i) tasks.push_back(aio::create_task(coro1()));
    auto resetter = aio::create_task(barrier.reset());
    co_await aio::sleep(0s);
    auto last = aio::create_task(coro2());
    co_await join_all(tasks);
    co_await resetter.join();
    co_await last.join();
    CHECK_FALSE(barrier.broken());
    CHECK(results1 == N - 1);
    CHECK(results2 == N);
    CHECK(barrier.n_waiting() == 0);
  }());
}

// test_abort_barrier_when_tasks_half_draining_half_blocking
TEST_CASE("abort while some tasks drain and others block breaks the blocked ones", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier(N);
    int results1 = 0;
    int results2 = 0;
    const int blocking_tasks = N / 2;
    int count = 0;
    auto coro = [&]() -> Task<int> {
      bool broken_first = false;
      try {
        co_await barrier.wait();
      } catch (const aio::BrokenBarrierError&) {
        broken_first = true;
        ++results1;
      }
      if (!broken_first) {
        ++count;
        if (count > blocking_tasks) {
          co_await barrier.abort();
        } else {
          try {
            co_await barrier.wait();
          } catch (const aio::BrokenBarrierError&) {
            ++results2;
          }
        }
      }
      co_return 0;
    };
    std::vector<aio::TaskHandle<int>> tasks;
    for (int i = 0; i < N; ++i) tasks.push_back(aio::create_task(coro()));
    co_await join_all(tasks);
    CHECK(barrier.broken());
    CHECK(results1 == blocking_tasks);  // still draining when the abort came
    CHECK(results2 == N - blocking_tasks - 1);  // blocked for the next round
    CHECK(barrier.n_waiting() == 0);
  }());
}

// test_abort_barrier_when_exception
TEST_CASE("a task that fails between rounds aborts the barrier for the others", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier(N);
    int results1 = 0;
    int results2 = 0;
    auto coro = [&]() -> Task<int> {
      bool failed = false;
      try {
        auto i = co_await barrier.wait();
        if (i == N / 2) throw aio::RuntimeError("boom");
        co_await barrier.wait();
        ++results1;
      } catch (const aio::BrokenBarrierError&) {
        ++results2;
      } catch (const aio::RuntimeError&) {
        failed = true;
      }
      if (failed) co_await barrier.abort();
      co_return 0;
    };
    std::vector<aio::TaskHandle<int>> tasks;
    for (int i = 0; i < N; ++i) tasks.push_back(aio::create_task(coro()));
    co_await join_all(tasks);
    CHECK(barrier.broken());
    CHECK(results1 == 0);
    CHECK(results2 == N - 1);
    CHECK(barrier.n_waiting() == 0);
  }());
}

// test_abort_barrier_when_exception_then_resetting
TEST_CASE("an aborted barrier works again after reset", "[locks][barrier]") {
  run_test([]() -> Task<> {
    constexpr int N = 5;
    aio::Barrier barrier1(N);
    aio::Barrier barrier2(N);
    int results1 = 0;
    int results2 = 0;
    int results3 = 0;
    auto coro = [&]() -> Task<int> {
      bool failed = false;
      try {
        auto i = co_await barrier1.wait();
        if (i == N / 2) throw aio::RuntimeError("boom");
        co_await barrier1.wait();
        ++results1;
      } catch (const aio::BrokenBarrierError&) {
        ++results2;
      } catch (const aio::RuntimeError&) {
        failed = true;
      }
      if (failed) co_await barrier1.abort();
      // Everyone has left barrier1 before the reset, and nobody enters it
      // before the reset is done.
      auto i = co_await barrier2.wait();
      if (i == N / 2) co_await barrier1.reset();
      co_await barrier2.wait();
      co_await barrier1.wait();
      ++results3;
      co_return 0;
    };
    std::vector<aio::TaskHandle<int>> tasks;
    for (int i = 0; i < N; ++i) tasks.push_back(aio::create_task(coro()));
    co_await join_all(tasks);
    CHECK_FALSE(barrier1.broken());
    CHECK(results1 == 0);
    CHECK(results2 == N - 1);
    CHECK(results3 == N);
    CHECK(barrier1.n_waiting() == 0);
  }());
}
