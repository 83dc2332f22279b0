// Behaviours of aio/compose.hpp, from CPython's test_tasks.py (gather, wait, as_completed, shield).
#include <harness.hpp>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

namespace {
Task<int> value_after(std::chrono::milliseconds d, int v) {
  co_await aio::sleep(d);
  co_return v;
}
Task<int> fail_after(std::chrono::milliseconds d) {
  co_await aio::sleep(d);
  throw aio::ValueError("child failed");
}
}  // namespace

TEST_CASE("gather returns results in argument order when they complete out of order", "[compose]") {
  run_test([]() -> Task<> {
    auto [a, b, c] = co_await aio::gather(value_after(15ms, 1), value_after(1ms, 2), value_after(8ms, 3));
    CHECK(a == 1);
    CHECK(b == 2);
    CHECK(c == 3);
  }());
}

TEST_CASE("gather of a vector keeps the order of the vector", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(value_after(std::chrono::milliseconds(5 - i), i));
    auto out = co_await aio::gather(std::move(tasks));
    CHECK(out == std::vector<int>{0, 1, 2, 3, 4});
  }());
}

TEST_CASE("gather of void tasks gives monostate results", "[compose]") {
  run_test([]() -> Task<> {
    int n = 0;
    auto bump = [&]() -> Task<> {
      ++n;
      co_return;
    };
    auto r = co_await aio::gather(bump(), bump());
    (void)r;
    CHECK(n == 2);
  }());
}

TEST_CASE("a gather failure cancels the siblings, waits for them, then rethrows", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<std::string> log;
    auto sibling = [&]() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        log.push_back("sibling cancelled");
        throw;
      }
      co_return 0;
    };
    try {
      co_await aio::gather(sibling(), fail_after(2ms));
      FAIL("gather did not throw");
    } catch (const aio::ValueError& e) {
      log.push_back(e.what());
    }
    CHECK(log == std::vector<std::string>{"sibling cancelled", "child failed"});
  }());
}

TEST_CASE("gather_settled keeps each exception in its place", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(3ms, 1));
    tasks.push_back(fail_after(1ms));
    tasks.push_back(value_after(1ms, 3));
    auto out = co_await aio::gather_settled(std::move(tasks));
    REQUIRE(out.size() == 3);
    CHECK(out[0].ok());
    CHECK(out[0].value() == 1);
    CHECK_FALSE(out[1].ok());
    CHECK_THROWS_AS(out[1].value(), aio::ValueError);
    CHECK(out[2].value() == 3);
  }());
}

TEST_CASE("cancelling a gather cancels every child", "[compose]") {
  run_test([]() -> Task<> {
    int cancelled = 0;
    auto child = [&]() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        ++cancelled;
        throw;
      }
      co_return 0;
    };
    auto g = aio::create_task(aio::gather(child(), child(), child()));
    co_await aio::sleep(2ms);
    g.cancel();
    CHECK_THROWS_AS(co_await g.join(), aio::CancelledError);
    CHECK(cancelled == 3);
  }());
}

TEST_CASE("wait FIRST_COMPLETED returns as soon as one task is done", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> ts{aio::create_task(value_after(1ms, 1)), aio::create_task(value_after(50ms, 2))};
    auto [done, pending] = co_await aio::wait(ts, aio::ReturnWhen::FIRST_COMPLETED);
    CHECK(done.size() == 1);
    CHECK(pending.size() == 1);
    CHECK(done[0].result() == 1);
    co_await pending[0].join();
  }());
}

TEST_CASE("wait FIRST_EXCEPTION returns at the first failure", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> ts{aio::create_task(fail_after(1ms)), aio::create_task(value_after(50ms, 2))};
    auto [done, pending] = co_await aio::wait(ts, aio::ReturnWhen::FIRST_EXCEPTION);
    CHECK(done.size() == 1);
    CHECK(done[0].exception() != nullptr);
    CHECK(pending.size() == 1);
    pending[0].cancel();
    CHECK_THROWS_AS(co_await pending[0].join(), aio::CancelledError);
  }());
}

TEST_CASE("wait ALL_COMPLETED returns when all are done", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> ts{aio::create_task(value_after(3ms, 1)), aio::create_task(value_after(1ms, 2))};
    auto [done, pending] = co_await aio::wait(ts);
    CHECK(done.size() == 2);
    CHECK(pending.empty());
  }());
}

TEST_CASE("as_completed yields tasks in completion order", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> ts{aio::create_task(value_after(12ms, 1)), aio::create_task(value_after(1ms, 2)),
                                         aio::create_task(value_after(6ms, 3))};
    auto it = aio::as_completed(ts);
    std::vector<int> order;
    while (auto t = co_await it.next()) order.push_back(t->result());
    CHECK(order == std::vector<int>{2, 3, 1});
  }());
}

TEST_CASE("cancelling the waiter of shield leaves the shielded task running", "[compose]") {
  run_test([]() -> Task<> {
    auto h = aio::create_task(value_after(10ms, 5));
    auto waiter = aio::create_task(aio::shield(h));
    co_await aio::sleep(1ms);
    waiter.cancel();
    CHECK_THROWS_AS(co_await waiter.join(), aio::CancelledError);
    CHECK_FALSE(h.cancelled());
    CHECK(co_await h.join() == 5);
  }());
}

TEST_CASE("a cancellation pending when gather begins cancels its children", "[compose]") {
  run_test([]() -> Task<> {
    int finished = 0;
    auto child = [&]() -> Task<int> {
      co_await aio::sleep(5ms);
      ++finished;
      co_return 0;
    };
    auto body = [&]() -> Task<> {
      co_await asio::post(asio::use_awaitable);  // not an aio wait: the cancel stays pending
      co_await aio::gather(child(), child());
    };
    auto g = aio::create_task(body());
    co_await aio::sleep(0s);
    g.cancel();
    CHECK_THROWS_AS(co_await g.join(), aio::CancelledError);
    co_await aio::sleep(10ms);
    CHECK(finished == 0);
  }());
}

TEST_CASE("wait with a timeout returns what finished in time and leaves the rest pending, not cancelled",
          "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> tasks{aio::create_task(value_after(1ms, 1)),
                                            aio::create_task(value_after(10s, 2))};
    auto [done, pending] = co_await aio::wait(tasks, aio::ReturnWhen::ALL_COMPLETED, 50ms);
    CHECK(done.size() == 1);
    REQUIRE(pending.size() == 1);
    CHECK_FALSE(pending[0].cancelled());
    CHECK_FALSE(pending[0].done());
    pending[0].cancel();
    CHECK_THROWS_AS(co_await pending[0].join(), aio::CancelledError);
  }());
}

TEST_CASE("wait with a timeout returns as soon as its condition holds", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> tasks{aio::create_task(value_after(1ms, 1))};
    auto start = std::chrono::steady_clock::now();
    auto [done, pending] = co_await aio::wait(tasks, aio::ReturnWhen::ALL_COMPLETED, 10s);
    CHECK(done.size() == 1);
    CHECK(pending.empty());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }());
}

TEST_CASE("as_completed with a timeout hands out what finished, then raises TimeoutError", "[compose]") {
  run_test([]() -> Task<> {
    std::vector<aio::TaskHandle<int>> tasks{aio::create_task(value_after(1ms, 1)),
                                            aio::create_task(value_after(10s, 2))};
    auto it = aio::as_completed(tasks, 50ms);
    auto first = co_await it.next();
    REQUIRE(first.has_value());
    CHECK(first->result() == 1);
    CHECK_THROWS_AS(co_await it.next(), aio::TimeoutError);
    CHECK_FALSE(tasks[1].done());
    tasks[1].cancel();
    CHECK_THROWS_AS(co_await tasks[1].join(), aio::CancelledError);
  }());
}
