// Behaviours of aio/taskgroups.hpp, from CPython's test_taskgroups.py.
#include <harness.hpp>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

TEST_CASE("TaskGroup results are available after join", "[taskgroups]") {
  run_test([]() -> Task<> {
    auto work = [](int v) -> Task<int> {
      co_await aio::sleep(std::chrono::milliseconds(v));
      co_return v * 10;
    };
    aio::TaskGroup tg;
    auto a = tg.create_task(work(2));
    auto b = tg.create_task(work(1));
    co_await tg.join();
    CHECK(a.result() == 20);
    CHECK(b.result() == 10);
  }());
}

TEST_CASE("a child failure cancels its siblings and join rethrows it", "[taskgroups]") {
  run_test([]() -> Task<> {
    bool sibling_cancelled = false;
    auto sibling = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        sibling_cancelled = true;
        throw;
      }
    };
    auto failing = []() -> Task<> {
      co_await aio::sleep(1ms);
      throw aio::ValueError("child");
    };
    aio::TaskGroup tg;
    tg.create_task(sibling());
    tg.create_task(failing());
    CHECK_THROWS_AS(co_await tg.join(), aio::ValueError);
    CHECK(sibling_cancelled);
  }());
}

TEST_CASE("two failures give an ExceptionGroup holding both", "[taskgroups]") {
  run_test([]() -> Task<> {
    // As CPython's test_taskgroup_06: the second child fails while it is
    // being cancelled because of the first.
    auto first = []() -> Task<> {
      co_await aio::sleep(1ms);
      throw aio::ValueError("failure 1");
    };
    auto second = []() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
      }
      throw aio::ValueError("failure 2");
    };
    aio::TaskGroup tg;
    tg.create_task(first());
    tg.create_task(second());
    try {
      co_await tg.join();
      FAIL("join did not throw");
    } catch (const aio::ExceptionGroup& eg) {
      REQUIRE(eg.exceptions.size() == 2);
      std::vector<std::string> msgs;
      for (auto& e : eg.exceptions) {
        try {
          std::rethrow_exception(e);
        } catch (const aio::ValueError& v) {
          msgs.push_back(v.what());
        }
      }
      CHECK(msgs == std::vector<std::string>{"failure 1", "failure 2"});
    }
  }());
}

TEST_CASE("cancelling the task in join cancels every child", "[taskgroups]") {
  run_test([]() -> Task<> {
    int cancelled = 0;
    auto child = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        ++cancelled;
        throw;
      }
    };
    auto parent = [&]() -> Task<> {
      aio::TaskGroup tg;
      tg.create_task(child());
      tg.create_task(child());
      co_await tg.join();
    };
    auto h = aio::create_task(parent());
    co_await aio::sleep(2ms);
    h.cancel();
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK(cancelled == 2);
  }());
}

TEST_CASE("create_task after join throws RuntimeError", "[taskgroups]") {
  run_test([]() -> Task<> {
    aio::TaskGroup tg;
    co_await tg.join();
    auto nothing = []() -> Task<> { co_return; };
    CHECK_THROWS_AS(tg.create_task(nothing()), aio::RuntimeError);
  }());
}

TEST_CASE("a TaskGroup dropped without join cancels its children", "[taskgroups]") {
  run_test([]() -> Task<> {
    auto flag = std::make_shared<bool>(false);
    auto child = [](std::shared_ptr<bool> f) -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        *f = true;
        throw;
      }
    };
    {
      aio::TaskGroup tg;
      tg.create_task(child(flag));
      co_await aio::sleep(1ms);
    }
    co_await aio::sleep(1ms);
    CHECK(*flag);
  }());
}

// CPython test_taskgroups.py::test_taskgroup_no_create_task_after_failure
TEST_CASE("create_task after a child failed raises RuntimeError and never starts the task", "[taskgroups]") {
  run_test([]() -> Task<> {
    bool late_started = false, refused = false;
    aio::TaskGroup tg;
    auto late = [&]() -> Task<> {
      late_started = true;
      co_return;
    };
    auto failing = []() -> Task<> {
      co_await aio::sleep(1ms);
      throw aio::ValueError("child");
    };
    auto sibling = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        try {
          tg.create_task(late());
        } catch (const aio::RuntimeError&) {
          refused = true;
        }
        throw;
      }
    };
    tg.create_task(failing());
    tg.create_task(sibling());
    auto failure = co_await aio::test::caught<aio::ValueError>(tg.join());
    CHECK(failure.has_value());
    CHECK(refused);
    co_await aio::sleep(5ms);
    CHECK_FALSE(late_started);
  }());
}

TEST_CASE("create_task while the task in join() is being cancelled raises RuntimeError", "[taskgroups]") {
  run_test([]() -> Task<> {
    bool refused = false;
    aio::TaskGroup tg;
    auto noop = []() -> Task<> { co_return; };
    auto child = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        try {
          tg.create_task(noop());
        } catch (const aio::RuntimeError&) {
          refused = true;
        }
        throw;
      }
    };
    tg.create_task(child());
    auto joiner = aio::create_task(tg.join());
    co_await aio::sleep(5ms);
    joiner.cancel();
    auto cancelled = co_await aio::test::caught<aio::CancelledError>(joiner.join());
    CHECK(cancelled.has_value());
    CHECK(refused);
  }());
}
