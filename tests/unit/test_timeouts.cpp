// Behaviours of aio/timeouts.hpp, from CPython's test_waitfor.py and test_timeouts.py.
#include <harness.hpp>

#include <string>
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
