// Behaviours of aio/queues.hpp, ported from CPython 3.13's Lib/test/test_asyncio/test_queues.py
// with its exact expectations (the CPython test name is given in each comment).
#include <harness.hpp>

#include <aio/queues.hpp>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

namespace {
using Ints = std::vector<int>;
}  // namespace

// ------------------------------------------------------------------ basics

// test_empty, test_full, test_maxsize (accessors)
TEST_CASE("empty, full, qsize and maxsize report the queue's state", "[queues]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    CHECK(q.empty());
    CHECK_FALSE(q.full());
    CHECK(q.maxsize() == 0);
    co_await q.put(1);
    CHECK_FALSE(q.empty());
    CHECK(q.qsize() == 1);
    CHECK(co_await q.get() == 1);
    CHECK(q.empty());

    aio::Queue<int> bounded(1);
    co_await bounded.put(1);
    CHECK(bounded.full());
    CHECK(bounded.describe() == "<Queue maxsize=1 qsize=1 tasks=1>");
  }());
}

// test_order (Queue, LifoQueue, PriorityQueue)
TEST_CASE("items come out FIFO, LIFO or smallest first", "[queues]") {
  run_test([]() -> Task<> {
    aio::Queue<int> fifo;
    aio::LifoQueue<int> lifo;
    aio::PriorityQueue<int> prio;
    const int items[] = {1, 3, 2};
    for (int i : items) {
      co_await fifo.put(i);
      co_await lifo.put(i);
      co_await prio.put(i);
    }
    Ints a, b, c;
    for (int i = 0; i < 3; ++i) {
      a.push_back(co_await fifo.get());
      b.push_back(co_await lifo.get());
      c.push_back(co_await prio.get());
    }
    CHECK(a == Ints{1, 3, 2});
    CHECK(b == Ints{2, 3, 1});
    CHECK(c == Ints{1, 2, 3});
  }());
}

TEST_CASE("a priority queue orders by its Compare, and equal priorities by a sequence number", "[queues]") {
  run_test([]() -> Task<> {
    aio::PriorityQueue<int, std::greater<int>> largest_first;
    const int items[] = {5, 1, 9, 3};
    for (int i : items) largest_first.put_nowait(i);
    Ints out;
    while (!largest_first.empty()) out.push_back(largest_first.get_nowait());
    CHECK(out == Ints{9, 5, 3, 1});

    aio::PriorityQueue<std::pair<int, int>> jobs;
    jobs.put_nowait({2, 0});
    jobs.put_nowait({1, 1});
    jobs.put_nowait({2, 2});
    jobs.put_nowait({1, 3});
    std::vector<std::pair<int, int>> got;
    for (int i = 0; i < 4; ++i) got.push_back(co_await jobs.get());
    CHECK(got == std::vector<std::pair<int, int>>{{1, 1}, {1, 3}, {2, 0}, {2, 2}});
    CHECK(jobs.describe() == "<PriorityQueue maxsize=0 qsize=0 tasks=4>");
  }());
}

// test_maxsize
TEST_CASE("put waits while the queue holds maxsize items", "[queues]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(2);
    CHECK(q.maxsize() == 2);
    Ints have_been_put;
    auto putter = [&]() -> Task<bool> {
      for (int i = 0; i < 3; ++i) {
        co_await q.put(i);
        have_been_put.push_back(i);
      }
      co_return true;
    };
    auto t = aio::create_task(putter());
    for (int i = 0; i < 2; ++i) co_await aio::sleep(0s);

    CHECK(have_been_put == Ints{0, 1});  // blocked after two items
    CHECK(q.putters_waiting() == 1);
    CHECK(co_await q.get() == 0);

    co_await aio::sleep(0s);  // the putter resumes and puts the last item
    CHECK(have_been_put == Ints{0, 1, 2});
    CHECK(co_await q.get() == 1);
    CHECK(co_await q.get() == 2);
    CHECK((t.done() && t.result()));
  }());
}

// test_nonblocking_get_exception, test_nonblocking_put_exception, test_nonblocking_get/put
TEST_CASE("get_nowait on an empty queue throws QueueEmpty and put_nowait on a full one QueueFull", "[queues]") {
  aio::Queue<int> q(1);
  CHECK_THROWS_AS(q.get_nowait(), aio::QueueEmpty);
  q.put_nowait(1);
  CHECK_THROWS_AS(q.put_nowait(2), aio::QueueFull);
  CHECK(q.get_nowait() == 1);
  aio::LifoQueue<int> lifo(1);
  CHECK_THROWS_AS(lifo.get_nowait(), aio::QueueEmpty);
  lifo.put_nowait(1);
  CHECK_THROWS_AS(lifo.put_nowait(2), aio::QueueFull);
  aio::PriorityQueue<int> prio(1);
  CHECK_THROWS_AS(prio.get_nowait(), aio::QueueEmpty);
  prio.put_nowait(1);
  CHECK_THROWS_AS(prio.put_nowait(2), aio::QueueFull);
}

TEST_CASE("move-only items travel through every kind of queue", "[queues]") {
  run_test([]() -> Task<> {
    aio::Queue<std::unique_ptr<int>> fifo(1);
    auto p = std::make_unique<int>(42);
    fifo.put_nowait(std::move(p));
    auto refused = std::make_unique<int>(7);
    CHECK_THROWS_AS(fifo.put_nowait(std::move(refused)), aio::QueueFull);
    REQUIRE(refused);  // QueueFull leaves the item with the caller
    CHECK(*refused == 7);
    auto putter = aio::create_task(fifo.put(std::move(refused)));
    auto first = co_await fifo.get();
    CHECK(*first == 42);
    co_await putter.join();
    CHECK(*(co_await fifo.get()) == 7);

    aio::LifoQueue<std::unique_ptr<int>> lifo;
    co_await lifo.put(std::make_unique<int>(1));
    co_await lifo.put(std::make_unique<int>(2));
    CHECK(*(co_await lifo.get()) == 2);

    auto by_value = [](const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) { return *a < *b; };
    aio::PriorityQueue<std::unique_ptr<int>, decltype(by_value)> prio(0, by_value);
    co_await prio.put(std::make_unique<int>(3));
    co_await prio.put(std::make_unique<int>(1));
    CHECK(*(co_await prio.get()) == 1);
  }());
}

// ------------------------------------------------------------------ get

// test_blocking_get_wait
TEST_CASE("get waits for an item put later", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    bool finished = false;
    auto queue_get = [&]() -> Task<int> {
      int res = co_await q.get();
      finished = true;
      co_return res;
    };
    auto t = aio::create_task(queue_get());
    co_await aio::sleep(0s);
    CHECK_FALSE(finished);
    auto put_later = [&] { q.put_nowait(1); };
    aio::get_running_loop().call_later(10ms, put_later);
    CHECK(co_await t.join() == 1);
    CHECK(finished);
  }());
}

// test_get_with_waiting_putters
TEST_CASE("get wakes the waiting putters in order", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<std::string> q(1);
    auto a = aio::create_task(q.put("a"));
    auto b = aio::create_task(q.put("b"));
    CHECK(co_await q.get() == "a");
    CHECK(co_await q.get() == "b");
    co_await a.join();
    co_await b.join();
  }());
}

// test_get_cancelled_race
TEST_CASE("an item put after a getter is cancelled goes to the next getter", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<std::string> q;
    auto t1 = aio::create_task(q.get());
    auto t2 = aio::create_task(q.get());
    co_await aio::sleep(0s);
    t1.cancel();
    co_await aio::sleep(0s);
    CHECK(t1.done());
    co_await q.put("a");
    co_await aio::sleep(0s);
    CHECK(co_await t2.join() == "a");
  }());
}

// test_get_cancel_drop_one_pending_reader
TEST_CASE("a getter woken and then cancelled leaves its item in the queue", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    auto reader = aio::create_task(q.get());
    co_await aio::sleep(0s);
    q.put_nowait(1);
    q.put_nowait(2);
    reader.cancel();
    int result = 0;
    try {
      result = co_await reader.join();
    } catch (const aio::CancelledError&) {
      // try again
      reader = aio::create_task(q.get());
    }
    if (result == 0) result = co_await reader.join();
    CHECK(result == 1);  // 2 would mean 1 was dropped
  }());
}

// test_get_cancel_drop_many_pending_readers
TEST_CASE("get hands the item to the next waiter when the first is cancelled", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    auto reader1 = aio::create_task(q.get());
    auto reader2 = aio::create_task(q.get());
    auto reader3 = aio::create_task(q.get());
    co_await aio::sleep(0s);
    q.put_nowait(1);
    q.put_nowait(2);
    reader1.cancel();
    CHECK_THROWS_AS(co_await reader1.join(), aio::CancelledError);
    int r3 = co_await reader3.join();
    int r2 = co_await reader2.join();
    CHECK(r2 + r3 == 3);  // {1, 2} in either order
    CHECK(r2 != r3);
  }());
}

// test_why_are_getters_waiting
TEST_CASE("a producer and a consumer on a queue of one finish together", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(1);
    auto consumer = [&](int n) -> Task<> {
      for (int i = 0; i < n; ++i) co_await q.get();
    };
    auto producer = [&](int n) -> Task<> {
      for (int i = 0; i < n; ++i) co_await q.put(i);
    };
    aio::TaskGroup tg;
    tg.create_task(producer(5));
    tg.create_task(consumer(5));
    co_await tg.join();
    CHECK(q.empty());
  }());
}

// test_cancelled_getters_not_being_held_in_self_getters
TEST_CASE("a get timed out by wait_for is not kept among the getters", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(5);
    CHECK_THROWS_AS(co_await aio::wait_for(q.get(), 10ms), aio::TimeoutError);
    CHECK(q.getters_waiting() == 0);
  }());
}

TEST_CASE("wait_for on get with a cancellation already pending takes no item", "[queues][get]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    aio::TaskHandle<void> self;
    bool cancelled = false;
    auto consumer = [&]() -> Task<> {
      self.cancel();  // pending when wait_for starts
      try {
        (void)co_await aio::wait_for(q.get(), 1s);
      } catch (const aio::CancelledError&) {
        cancelled = true;
      }
    };
    self = aio::create_task(consumer());
    co_await aio::sleep(0s);
    q.put_nowait(7);
    co_await self.join();
    co_await aio::sleep(1ms);
    CHECK(cancelled);
    CHECK(q.qsize() == 1);
  }());
}

// ------------------------------------------------------------------ put

// test_blocking_put_wait
TEST_CASE("put waits for a free slot made later", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(1);
    bool finished = false;
    auto queue_put = [&]() -> Task<> {
      co_await q.put(1);
      co_await q.put(2);
      finished = true;
    };
    auto get_later = [&] { (void)q.get_nowait(); };
    aio::get_running_loop().call_later(10ms, get_later);
    auto t = aio::create_task(queue_put());
    co_await aio::sleep(0s);
    CHECK_FALSE(finished);
    co_await t.join();
    CHECK(finished);
  }());
}

// test_put_with_waiting_getters
TEST_CASE("put hands the item to a waiting getter", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<std::string> q;
    auto t = aio::create_task(q.get());
    co_await aio::sleep(0s);
    co_await q.put("a");
    CHECK(co_await t.join() == "a");
  }());
}

// test_put_cancel_drop
TEST_CASE("a putter woken and then cancelled inserts nothing and a retry succeeds", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(1);
    q.put_nowait(1);
    auto writer = aio::create_task(q.put(2));  // has to wait: qsize == maxsize
    co_await aio::sleep(0s);
    CHECK(q.get_nowait() == 1);  // wakes the writer
    writer.cancel();
    try {
      co_await writer.join();
    } catch (const aio::CancelledError&) {
      writer = aio::create_task(q.put(2));  // try again
    }
    co_await writer.join();
    CHECK(q.get_nowait() == 2);
    CHECK(q.qsize() == 0);
  }());
}

// test_put_cancelled_race
TEST_CASE("a putter cancelled while queued does not take the next free slot", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<std::string> q(1);
    auto put_a = aio::create_task(q.put("a"));
    auto put_b = aio::create_task(q.put("b"));
    auto put_c = aio::create_task(q.put("X"));
    co_await aio::sleep(0s);
    CHECK(put_a.done());
    CHECK_FALSE(put_b.done());

    put_c.cancel();
    co_await aio::sleep(0s);
    CHECK(put_c.done());
    CHECK(q.get_nowait() == "a");
    co_await aio::sleep(0s);
    CHECK(q.get_nowait() == "b");
    co_await put_b.join();
    CHECK(q.empty());
  }());
}

// test_put_cancelled (a put that never had to wait)
TEST_CASE("a put on an unbounded queue completes at once", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    auto queue_put = [&]() -> Task<bool> {
      co_await q.put(1);
      co_return true;
    };
    auto t = aio::create_task(queue_put());
    CHECK(co_await q.get() == 1);
    CHECK((t.done() && t.result()));
  }());
}

// test_why_are_putters_waiting
TEST_CASE("putters blocked on a full queue all get in as a getter drains it", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(2);
    auto putter = [&](int item) -> Task<> { co_await q.put(item); };
    auto getter = [&]() -> Task<> {
      co_await aio::sleep(0s);
      auto n = q.qsize();
      for (std::size_t i = 0; i < n; ++i) (void)q.get_nowait();
    };
    aio::TaskGroup tg;
    tg.create_task(getter());
    for (int i = 0; i < 4; ++i) tg.create_task(putter(i));
    co_await tg.join();
    CHECK(q.qsize() == 2);
  }());
}

// test_cancelled_puts_not_being_held_in_self_putters, test_cancelled_put_silence_value_error_exception
TEST_CASE("a cancelled put is not kept among the putters", "[queues][put]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q(1);
    q.put_nowait(1);
    auto put_task = aio::create_task(q.put(1));
    co_await aio::sleep(0s);
    CHECK(q.putters_waiting() == 1);
    CHECK(q.describe() == "<Queue maxsize=1 qsize=1 putters[1] tasks=1>");
    put_task.cancel();
    CHECK_THROWS_AS(co_await put_task.join(), aio::CancelledError);
    CHECK(q.putters_waiting() == 0);

    // Cancelled after get_nowait() woke it: still CancelledError, nothing put.
    put_task = aio::create_task(q.put(2));
    co_await aio::sleep(0s);
    (void)q.get_nowait();
    put_task.cancel();
    CHECK_THROWS_AS(co_await put_task.join(), aio::CancelledError);
    CHECK(q.empty());
  }());
}

// ------------------------------------------------------------------ task_done and join

// test_task_done_underflow
TEMPLATE_TEST_CASE("task_done called more often than put throws ValueError", "[queues][join]", aio::Queue<int>,
                   aio::LifoQueue<int>, aio::PriorityQueue<int>) {
  TestType q;
  CHECK_THROWS_AS(q.task_done(), aio::ValueError);
}

// test_task_done
TEMPLATE_TEST_CASE("join returns once every item is marked done by two workers", "[queues][join]",
                   aio::Queue<int>, aio::LifoQueue<int>, aio::PriorityQueue<int>) {
  run_test([]() -> Task<> {
    TestType q;
    for (int i = 0; i < 100; ++i) q.put_nowait(i);
    int accumulator = 0;
    bool running = true;
    auto worker = [&]() -> Task<> {
      while (running) {
        int item = co_await q.get();
        accumulator += item;
        q.task_done();
      }
    };
    aio::TaskGroup tg;
    tg.create_task(worker());
    tg.create_task(worker());
    co_await q.join();
    CHECK(accumulator == 4950);
    CHECK(q.unfinished_tasks() == 0);
    // close the workers
    running = false;
    q.put_nowait(0);
    q.put_nowait(0);
    co_await tg.join();
  }());
}

// test_join_empty_queue
TEMPLATE_TEST_CASE("join on a queue with nothing unfinished returns at once", "[queues][join]", aio::Queue<int>,
                   aio::LifoQueue<int>, aio::PriorityQueue<int>) {
  run_test([]() -> Task<> {
    TestType q;
    co_await q.join();
    co_await q.join();
  }());
}

TEST_CASE("a cancelled join leaves no joiner behind", "[queues][join]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    q.put_nowait(1);
    CHECK_THROWS_AS(co_await aio::wait_for(q.join(), 5ms), aio::TimeoutError);
    CHECK(q.joiners_waiting() == 0);
    (void)q.get_nowait();
    q.task_done();
    co_await aio::wait_for(q.join(), 1s);
  }());
}

// ------------------------------------------------------------------ shutdown

// test_format (shutdown)
TEST_CASE("describe shows a shut-down queue", "[queues][shutdown]") {
  aio::Queue<int> q;
  q.shutdown();
  CHECK(q.describe() == "<Queue maxsize=0 qsize=0 shutdown>");
  CHECK(q.is_shutdown());
}

// test_shutdown_empty
TEMPLATE_TEST_CASE("shutting down an empty queue wakes getters with QueueShutDown", "[queues][shutdown]",
                   aio::Queue<std::string>, aio::LifoQueue<std::string>, aio::PriorityQueue<std::string>) {
  run_test([]() -> Task<> {
    TestType q;
    auto get_task = aio::create_task(q.get());
    co_await aio::sleep(0s);  // get task pending before shutdown

    q.shutdown(false);  // unfinished tasks: 0 -> 0
    CHECK(q.qsize() == 0);
    co_await q.join();

    co_await aio::sleep(0s);
    CHECK(get_task.done());
    CHECK_THROWS_AS(co_await get_task.join(), aio::QueueShutDown);

    CHECK_THROWS_AS(co_await q.put("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(q.put_nowait("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(co_await q.get(), aio::QueueShutDown);
    CHECK_THROWS_AS(q.get_nowait(), aio::QueueShutDown);
  }());
}

// test_shutdown_nonempty
TEMPLATE_TEST_CASE("shutting down a non-empty queue fails putters and lets getters drain it", "[queues][shutdown]",
                   aio::Queue<std::string>, aio::LifoQueue<std::string>, aio::PriorityQueue<std::string>) {
  run_test([]() -> Task<> {
    TestType q(1);
    q.put_nowait("data");
    auto join_task = aio::create_task(q.join());
    auto put_task = aio::create_task(q.put("data2"));

    co_await aio::sleep(0s);
    CHECK_FALSE(put_task.done());

    q.shutdown(false);  // unfinished tasks: 1 -> 1
    CHECK(q.qsize() == 1);

    co_await aio::sleep(0s);
    CHECK(put_task.done());
    CHECK_THROWS_AS(co_await put_task.join(), aio::QueueShutDown);

    CHECK(co_await q.get() == "data");  // the queued item still comes out

    co_await aio::sleep(0s);
    CHECK_FALSE(join_task.done());

    CHECK_THROWS_AS(co_await q.put("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(q.put_nowait("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(co_await q.get(), aio::QueueShutDown);
    CHECK_THROWS_AS(q.get_nowait(), aio::QueueShutDown);

    q.task_done();  // the one unfinished task
    co_await aio::sleep(0s);
    CHECK(join_task.done());
    co_await join_task.join();
    CHECK_THROWS_AS(q.task_done(), aio::ValueError);
  }());
}

// test_shutdown_immediate
TEMPLATE_TEST_CASE("an immediate shutdown discards the items and releases join", "[queues][shutdown]",
                   aio::Queue<std::string>, aio::LifoQueue<std::string>, aio::PriorityQueue<std::string>) {
  run_test([]() -> Task<> {
    TestType q;
    q.put_nowait("data");
    auto join_task = aio::create_task(q.join());

    q.shutdown(true);  // unfinished tasks: 1 -> 0
    CHECK(q.qsize() == 0);

    co_await aio::sleep(0s);
    CHECK(join_task.done());
    co_await join_task.join();

    CHECK_THROWS_AS(co_await q.put("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(q.put_nowait("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(co_await q.get(), aio::QueueShutDown);
    CHECK_THROWS_AS(q.get_nowait(), aio::QueueShutDown);
    CHECK_THROWS_AS(q.task_done(), aio::ValueError);  // no unfinished tasks
  }());
}

// test_shutdown_immediate_with_unfinished
TEMPLATE_TEST_CASE("an immediate shutdown keeps the tasks already taken unfinished", "[queues][shutdown]",
                   aio::Queue<std::string>, aio::LifoQueue<std::string>, aio::PriorityQueue<std::string>) {
  run_test([]() -> Task<> {
    TestType q;
    q.put_nowait("data");
    q.put_nowait("data");
    auto join_task = aio::create_task(q.join());
    CHECK(co_await q.get() == "data");

    q.shutdown(true);  // unfinished tasks: 2 -> 1
    CHECK(q.qsize() == 0);

    co_await aio::sleep(0s);
    CHECK_FALSE(join_task.done());

    CHECK_THROWS_AS(co_await q.put("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(q.put_nowait("data"), aio::QueueShutDown);
    CHECK_THROWS_AS(co_await q.get(), aio::QueueShutDown);
    CHECK_THROWS_AS(q.get_nowait(), aio::QueueShutDown);

    q.task_done();  // the one unfinished task
    CHECK_THROWS_AS(q.task_done(), aio::ValueError);

    co_await aio::sleep(0s);
    CHECK(join_task.done());
    co_await join_task.join();
  }());
}

TEST_CASE("an immediate shutdown wakes waiting getters with QueueShutDown", "[queues][shutdown]") {
  run_test([]() -> Task<> {
    aio::Queue<int> q;
    auto g1 = aio::create_task(q.get());
    auto g2 = aio::create_task(q.get());
    co_await aio::sleep(0s);
    CHECK(q.getters_waiting() == 2);
    q.shutdown(true);
    CHECK(q.getters_waiting() == 0);
    CHECK_THROWS_AS(co_await g1.join(), aio::QueueShutDown);
    CHECK_THROWS_AS(co_await g2.join(), aio::QueueShutDown);
  }());
}

// ------------------------------------------------------------------ stress

TEST_CASE("every item is delivered exactly once under random cancellations and timeouts",
          "[queues][stress]") {
  run_test(
      []() -> Task<> {
        constexpr int producers = 1000;
        constexpr int consumers = 1000;
        constexpr int per_producer = 5;
        constexpr int total = producers * per_producer;
        aio::Queue<int> q(4);
        std::mt19937 rng(424242);
        std::vector<int> seen(total, 0);
        int put_timeouts = 0, put_cancels = 0, get_timeouts = 0, get_cancels = 0;

        auto producer = [&](int first, unsigned seed) -> Task<> {
          std::mt19937 r(seed);
          for (int item = first; item < first + per_producer;) {
            try {
              if (r() % 2) {
                co_await aio::wait_for(q.put(item), std::chrono::microseconds(r() % 500));
              } else {
                co_await q.put(item);
              }
              ++item;  // inserted; a put that raised inserted nothing
            } catch (const aio::TimeoutError&) {
              ++put_timeouts;
            } catch (const aio::CancelledError&) {
              ++put_cancels;
            }
          }
        };
        auto consumer = [&](unsigned seed) -> Task<> {
          std::mt19937 r(seed);
          for (;;) {
            try {
              int item = 0;
              if (r() % 2) {
                item = co_await aio::wait_for(q.get(), std::chrono::microseconds(r() % 500));
              } else {
                item = co_await q.get();
              }
              ++seen[static_cast<std::size_t>(item)];
              q.task_done();
              if (r() % 2) co_await aio::sleep(0s);  // some work
            } catch (const aio::TimeoutError&) {
              ++get_timeouts;
            } catch (const aio::CancelledError&) {
              ++get_cancels;
            } catch (const aio::QueueShutDown&) {
              co_return;
            }
          }
        };

        std::vector<aio::TaskHandle<void>> prod, cons;
        for (int p = 0; p < producers; ++p) prod.push_back(aio::create_task(producer(p * per_producer, rng())));
        for (int c = 0; c < consumers; ++c) cons.push_back(aio::create_task(consumer(rng())));

        // Chaos: cancel random live producers and consumers while items flow.
        auto pick_live = [&](std::vector<aio::TaskHandle<void>>& tasks) -> aio::TaskHandle<void>* {
          for (int tries = 0; tries < 8; ++tries) {
            auto& t = tasks[rng() % tasks.size()];
            if (!t.done()) return &t;
          }
          return nullptr;
        };
        auto producers_done = [&] {
          for (auto& t : prod)
            if (!t.done()) return false;
          return true;
        };
        int chaos_cancels = 0;
        for (int round = 0; round < 20000 && !producers_done(); ++round) {
          if (round % 4 == 0) {
            co_await aio::sleep(std::chrono::microseconds(rng() % 100));
          } else {
            co_await aio::sleep(0s);
          }
          for (int k = 0; k < 20; ++k) {
            auto* victim = pick_live(rng() % 2 ? prod : cons);
            if (victim && victim->cancel()) ++chaos_cancels;
          }
        }
        for (auto& t : prod) co_await t.join();
        co_await q.join();  // every item put was taken and marked done
        q.shutdown();
        for (auto& t : cons) co_await t.join();

        int delivered = 0, duplicated = 0, lost = 0;
        for (int n : seen) {
          delivered += n;
          if (n > 1) ++duplicated;
          if (n == 0) ++lost;
        }
        INFO("chaos cancels " << chaos_cancels << ", put timeouts " << put_timeouts << ", put cancels " << put_cancels << ", get timeouts "
                             << get_timeouts << ", get cancels " << get_cancels);
        CHECK(lost == 0);
        CHECK(duplicated == 0);
        CHECK(delivered == total);
        CHECK(q.empty());
        CHECK(q.getters_waiting() == 0);
        CHECK(q.putters_waiting() == 0);
        // The run really exercised the cancellation paths.
        CHECK(put_timeouts + put_cancels > 0);
        CHECK(get_timeouts + get_cancels > 0);
      }(),
      120s);
}
