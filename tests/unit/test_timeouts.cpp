// Behaviours of aio/timeouts.hpp, from CPython's test_waitfor.py and test_timeouts.py.
#include <harness.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

TEST_CASE("wait_for returns the value when the task finishes before the deadline", "[timeouts]") {
  run_test([]() -> Task<> {
    auto quick = []() -> Task<int> {
      co_await aio::sleep(1ms);
      co_return 3;
    };
    auto start = std::chrono::steady_clock::now();
    CHECK(co_await aio::wait_for(quick(), 5s) == 3);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
  }());
}

TEST_CASE("wait_for times out, and the inner task's clean-up has run before TimeoutError", "[timeouts]") {
  run_test([]() -> Task<> {
    std::vector<std::string> log;
    auto slow = [&]() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        log.push_back("cancelled");
        throw;
      }
      co_return 1;
    };
    bool timed_out = false;
    try {
      co_await aio::wait_for(slow(), 10ms);
    } catch (const aio::TimeoutError&) {
      timed_out = true;
      log.push_back("timeout");
    }
    CHECK(timed_out);
    CHECK(log == std::vector<std::string>{"cancelled", "timeout"});
  }());
}

TEST_CASE("wait_for waits for an inner clean-up that itself awaits", "[timeouts]") {
  run_test([]() -> Task<> {
    bool cleaned = false;
    auto slow = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        cleaned = false;
      }
      co_await aio::sleep(5ms);  // asynchronous clean-up
      cleaned = true;
      throw aio::CancelledError();
    };
    CHECK_THROWS_AS(co_await aio::wait_for(slow(), 5ms), aio::TimeoutError);
    CHECK(cleaned);
  }());
}

TEST_CASE("wait_for returns the value of an inner task that swallows the cancellation", "[timeouts]") {
  run_test([]() -> Task<> {
    auto stubborn = []() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
      }
      co_return 42;
    };
    CHECK(co_await aio::wait_for(stubborn(), 5ms) == 42);
  }());
}

TEST_CASE("cancelling the waiter of wait_for cancels the inner task", "[timeouts]") {
  run_test([]() -> Task<> {
    bool inner_cancelled = false;
    auto inner = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        inner_cancelled = true;
        throw;
      }
    };
    auto outer = aio::create_task(aio::wait_for(inner(), 5s));
    co_await aio::sleep(2ms);
    outer.cancel();
    CHECK_THROWS_AS(co_await outer.join(), aio::CancelledError);
    CHECK(inner_cancelled);
    CHECK(outer.cancelled());
  }());
}

TEST_CASE("shield keeps the task running past a timeout", "[timeouts]") {
  run_test([]() -> Task<> {
    auto work = []() -> Task<int> {
      co_await aio::sleep(20ms);
      co_return 9;
    };
    auto h = aio::create_task(work());
    CHECK_THROWS_AS(co_await aio::wait_for(aio::shield(h), 2ms), aio::TimeoutError);
    CHECK_FALSE(h.done());
    CHECK(co_await h.join() == 9);
  }());
}

TEST_CASE("timeout_at uses an absolute deadline", "[timeouts]") {
  run_test([]() -> Task<> {
    auto forever = []() -> Task<> { co_await aio::sleep(10s); };
    auto deadline = std::chrono::steady_clock::now() + 5ms;
    CHECK_THROWS_AS(co_await aio::timeout_at(forever(), deadline), aio::TimeoutError);
    CHECK(std::chrono::steady_clock::now() >= deadline);
  }());
}

TEST_CASE("an exception of the inner task passes through wait_for", "[timeouts]") {
  run_test([]() -> Task<> {
    auto failing = []() -> Task<> {
      co_await aio::sleep(0s);
      throw aio::ValueError("boom");
    };
    CHECK_THROWS_AS(co_await aio::wait_for(failing(), 1s), aio::ValueError);
  }());
}

// CPython test_waitfor.py::test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started
TEST_CASE("wait_for with a timeout of 0 or less raises TimeoutError without starting the task", "[timeouts]") {
  run_test([]() -> Task<> {
    bool started = false;
    auto body = [&]() -> Task<int> {
      started = true;
      co_return 1;
    };
    const std::vector<std::chrono::milliseconds> timeouts = {0ms, -1ms, -1000ms};
    for (auto t : timeouts) {
      auto timed_out = co_await aio::test::caught<aio::TimeoutError>(aio::wait_for(body(), t));
      CHECK(timed_out.has_value());
    }
    co_await aio::sleep(5ms);
    CHECK_FALSE(started);
    CHECK(co_await aio::wait_for(body(), 1s) == 1);  // a positive timeout still runs it
    CHECK(started);
  }());
}

// Timeout blocks, from CPython's test_timeouts.py.

TEST_CASE("Timeout raises TimeoutError when its block outlives the deadline, and says it expired", "[timeouts]") {
  run_test([]() -> Task<> {
    aio::Timeout t(10ms);
    auto before = t.when();
    CHECK_THROWS_AS(co_await t.run(aio::sleep(10s)), aio::TimeoutError);
    CHECK(t.expired());
    CHECK(t.when() == before);
  }());
}

TEST_CASE("Timeout that does not expire returns the block's value and is not expired", "[timeouts]") {
  run_test([]() -> Task<> {
    aio::Timeout t(10s);
    auto body = []() -> Task<int> {
      co_await aio::sleep(1ms);
      co_return 7;
    };
    CHECK(co_await t.run(body()) == 7);
    CHECK_FALSE(t.expired());
  }());
}

TEST_CASE("Timeout with no deadline never expires", "[timeouts]") {
  run_test([]() -> Task<> {
    aio::Timeout t(std::nullopt);
    CHECK_FALSE(t.when().has_value());
    co_await t.run(aio::sleep(5ms));
    CHECK_FALSE(t.expired());
  }());
}

TEST_CASE("Timeout of zero starts the block and cancels it at its first wait", "[timeouts]") {
  run_test([]() -> Task<> {
    bool started = false;
    auto body = [&]() -> Task<> {
      started = true;
      co_await aio::sleep(10s);
    };
    aio::Timeout t(0s);
    CHECK_THROWS_AS(co_await t.run(body()), aio::TimeoutError);
    CHECK(started);
  }());
}

TEST_CASE("Timeout::reschedule extends a running deadline and can remove it", "[timeouts]") {
  run_test([]() -> Task<> {
    aio::Timeout t(30ms);
    auto body = [&]() -> Task<int> {
      for (int i = 0; i < 5; ++i) {
        co_await aio::sleep(20ms);  // each step alone fits; all five do not
        t.reschedule(std::chrono::steady_clock::now() + 30ms);
      }
      t.reschedule(std::nullopt);
      co_await aio::sleep(40ms);
      co_return 5;
    };
    CHECK(co_await t.run(body()) == 5);
    CHECK_FALSE(t.expired());
  }());
}

TEST_CASE("Timeout::reschedule to the past expires on the next loop turn", "[timeouts]") {
  run_test([]() -> Task<> {
    aio::Timeout t(10s);
    auto body = [&]() -> Task<> {
      t.reschedule(std::chrono::steady_clock::now() - 1s);
      co_await aio::sleep(10s);
    };
    CHECK_THROWS_AS(co_await t.run(body()), aio::TimeoutError);
  }());
}

TEST_CASE("Timeout refuses reschedule outside its block and a second run", "[timeouts]") {
  run_test([]() -> Task<> {
    aio::Timeout t(10s);
    CHECK_THROWS_AS(t.reschedule(std::chrono::steady_clock::now()), aio::RuntimeError);
    co_await t.run(aio::sleep(1ms));
    CHECK_THROWS_AS(t.reschedule(std::chrono::steady_clock::now()), aio::RuntimeError);
    CHECK_THROWS_AS(co_await t.run(aio::sleep(1ms)), aio::RuntimeError);
  }());
}

TEST_CASE("Timeout outside an aio task (a bare co_spawn) raises RuntimeError", "[timeouts]") {
  run_test([]() -> Task<> {
    bool refused = false;
    aio::Event done;
    auto bare = [&]() -> Task<> {
      aio::Timeout t(1s);
      try {
        co_await t.run(aio::sleep(1ms));
      } catch (const aio::RuntimeError&) {
        refused = true;
      }
      done.set();
    };
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, bare(), asio::detached);
    co_await done.wait();
    CHECK(refused);
  }());
}

TEST_CASE("a cancellation from elsewhere is not turned into TimeoutError", "[timeouts]") {
  run_test([]() -> Task<> {
    auto guarded_sleep = []() -> Task<> {
      aio::Timeout t(10s);
      co_await t.run(aio::sleep(10s));
    };
    auto h = aio::create_task(guarded_sleep());
    co_await aio::sleep(5ms);
    h.cancel();
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK(h.cancelled());
  }());
}

TEST_CASE("a block that swallows the deadline's cancellation returns its value", "[timeouts]") {
  run_test([]() -> Task<> {
    auto stubborn = []() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
      }
      co_return 42;
    };
    aio::Timeout t(5ms);
    CHECK(co_await t.run(stubborn()) == 42);
    CHECK(t.expired());
    co_await aio::sleep(1ms);  // no cancellation is left pending
  }());
}

TEST_CASE("a deadline that expires while the block computes is withdrawn when the block ends without waiting",
          "[timeouts]") {
  run_test([]() -> Task<> {
    auto busy = []() -> Task<int> {
      co_await aio::sleep(0s);
      std::this_thread::sleep_for(20ms);  // the timer fires here, on the loop's next turn
      co_return 1;
    };
    aio::Timeout t(5ms);
    CHECK(co_await t.run(busy()) == 1);
    auto me = co_await aio::current_task();
    CHECK(me.cancelling() == 0);
    co_await aio::sleep(1ms);  // must not raise CancelledError
  }());
}

TEST_CASE("nested timeouts with a busy loop: the outer deadline stops the sleep after the inner one",
          "[timeouts]") {
  // CPython test_timeouts.py::test_nested_timeouts_loop_busy.
  run_test([]() -> Task<> {
    auto start = std::chrono::steady_clock::now();
    auto body = []() -> Task<> {
      bool inner_timed_out = false;
      try {
        aio::Timeout inner(10ms);
        auto crunch = []() -> Task<> {
          std::this_thread::sleep_for(10ms);  // pretend to crunch numbers
          co_await aio::sleep(1s);
        };
        co_await inner.run(crunch());
      } catch (const aio::TimeoutError&) {
        inner_timed_out = true;
      }
      CHECK(inner_timed_out);
      co_await aio::sleep(10s);  // interrupted by the outer deadline
    };
    aio::Timeout outer(100ms);
    CHECK_THROWS_AS(co_await outer.run(body()), aio::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
  }());
}

TEST_CASE("nested wait_for whose deadlines both pass in one busy turn: the outer one is not lost", "[timeouts]") {
  run_test([]() -> Task<> {
    auto start = std::chrono::steady_clock::now();
    auto inner = []() -> Task<> {
      auto block = []() -> Task<> {
        co_await aio::sleep(0s);
        std::this_thread::sleep_for(150ms);  // both deadlines pass while the loop is busy
        co_await aio::sleep(1s);
      };
      try {
        co_await aio::wait_for(block(), 10ms);
      } catch (const aio::TimeoutError&) {
        // A block that handles its own timeout and goes on must still meet
        // the outer deadline.
      }
      co_await aio::sleep(10s);
    };
    CHECK_THROWS_AS(co_await aio::wait_for(inner(), 100ms), aio::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }());
}

TEST_CASE("nested timeouts: the inner deadline expiring first is the inner block's TimeoutError", "[timeouts]") {
  run_test([]() -> Task<> {
    bool inner_caught = false;
    auto body = [&]() -> Task<int> {
      try {
        co_await aio::wait_for(aio::sleep(10s), 5ms);
      } catch (const aio::TimeoutError&) {
        inner_caught = true;
      }
      co_return 3;
    };
    CHECK(co_await aio::wait_for(body(), 5s) == 3);
    CHECK(inner_caught);
  }());
}

TEST_CASE("a timeout inside clean-up after a cancellation keeps the task's cancellation count", "[timeouts]") {
  // CPython test_timeouts.py::test_timeout_after_cancellation.
  run_test([]() -> Task<> {
    auto task = []() -> Task<int> {
      bool cancelled = false;
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        cancelled = true;
      }
      if (!cancelled) co_return 0;
      auto me = co_await aio::current_task();
      CHECK(me.cancelling() == 1);
      bool timed_out = false;
      try {
        co_await aio::wait_for(aio::sleep(10s), 5ms);
      } catch (const aio::TimeoutError&) {
        timed_out = true;
      }
      CHECK(timed_out);
      CHECK(me.cancelling() == 1);
      co_return 9;
    };
    auto h = aio::create_task(task());
    co_await aio::sleep(1ms);
    h.cancel();
    CHECK(co_await h.join() == 9);
  }());
}
