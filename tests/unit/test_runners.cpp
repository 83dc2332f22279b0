// Behaviours of aio/runners.hpp, from CPython's test_runners.py and test_events.py.
#include <harness.hpp>
#include <log_capture.hpp>

#include <atomic>
#include <csignal>
#include <future>
#include <thread>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

TEST_CASE("run returns the value of main", "[runners]") {
  auto main = []() -> Task<int> {
    co_await aio::sleep(1ms);
    co_return 5;
  };
  CHECK(aio::run(main()) == 5);
}

TEST_CASE("run rethrows the exception of main", "[runners]") {
  auto main = []() -> Task<> {
    co_await aio::sleep(0s);
    throw aio::ValueError("from main");
  };
  CHECK_THROWS_AS(aio::run(main()), aio::ValueError);
}

TEST_CASE("run cancels the tasks main left behind and waits for them", "[runners]") {
  bool cleaned = false;
  auto leftover = [&]() -> Task<> {
    try {
      co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
      cleaned = true;
      throw;
    }
  };
  auto main = [&]() -> Task<> {
    (void)aio::create_task(leftover());
    co_await aio::sleep(1ms);
  };
  aio::test::Watchdog dog(20s);
  aio::run(main());
  CHECK(cleaned);
}

TEST_CASE("run inside a running loop throws RuntimeError", "[runners]") {
  run_test([]() -> Task<> {
    auto inner = []() -> Task<> { co_return; };
    CHECK_THROWS_AS(aio::run(inner()), aio::RuntimeError);
    co_return;
  }());
}

TEST_CASE("a Runner can run several mains on the same loop", "[runners]") {
  aio::Runner runner;
  auto one = []() -> Task<int> { co_return 1; };
  auto two = []() -> Task<int> {
    co_await aio::sleep(1ms);
    co_return 2;
  };
  CHECK(runner.run(one()) == 1);
  CHECK(runner.run(two()) == 2);
  runner.close();
  CHECK_THROWS_AS(runner.get_loop(), aio::RuntimeError);
}

TEST_CASE("get_running_loop outside a loop throws RuntimeError", "[runners]") {
  CHECK_THROWS_AS(aio::get_running_loop(), aio::RuntimeError);
}

TEST_CASE("to_thread runs the function on another thread and resumes on the loop thread", "[runners]") {
  run_test([]() -> Task<> {
    auto loop_thread = std::this_thread::get_id();
    std::thread::id worker;
    int v = co_await aio::to_thread([&] {
      worker = std::this_thread::get_id();
      return 41 + 1;
    });
    CHECK(v == 42);
    CHECK(worker != loop_thread);
    CHECK(std::this_thread::get_id() == loop_thread);
  }());
}

TEST_CASE("to_thread rethrows the function's exception on the loop", "[runners]") {
  run_test([]() -> Task<> {
    auto bad = []() -> int { throw aio::ValueError("in thread"); };
    CHECK_THROWS_AS(co_await aio::to_thread(bad), aio::ValueError);
  }());
}

TEST_CASE("call_soon_threadsafe from another thread runs the callback on the loop", "[runners]") {
  run_test([]() -> Task<> {
    auto& loop = aio::get_running_loop();
    auto loop_thread = std::this_thread::get_id();
    aio::Future<std::thread::id> ran_on;
    std::thread t([&] { loop.call_soon_threadsafe([&] { ran_on.set_result(std::this_thread::get_id()); }); });
    auto id = co_await ran_on.wait();
    t.join();
    CHECK(id == loop_thread);
  }());
}

TEST_CASE("call_soon runs callbacks in FIFO order and call_later after its delay", "[runners]") {
  run_test([]() -> Task<> {
    auto& loop = aio::get_running_loop();
    std::vector<int> order;
    double t0 = loop.time();
    loop.call_later(5ms, [&] { order.push_back(3); });
    loop.call_soon([&] { order.push_back(1); });
    loop.call_soon([&] { order.push_back(2); });
    auto cancelled = loop.call_later(1ms, [&] { order.push_back(99); });
    cancelled.cancel();
    co_await aio::sleep(20ms);
    CHECK(order == std::vector<int>{1, 2, 3});
    CHECK(loop.time() - t0 >= 0.005);
  }());
}

TEST_CASE("wait_for_signal returns the signal raised in the process", "[runners]") {
  run_test([]() -> Task<> {
    auto waiter = aio::create_task(aio::wait_for_signal({SIGUSR1, SIGUSR2}));
    co_await aio::sleep(1ms);
    std::raise(SIGUSR1);
    CHECK(co_await waiter.join() == SIGUSR1);
  }());
}

TEST_CASE("debug mode logs a loop step slower than slow_callback_duration without failing", "[runners]") {
  aio::test::LogCapture log;
  aio::Runner runner(true);
  runner.get_loop().slow_callback_duration = 5ms;
  auto blocking = []() -> Task<int> {
    std::this_thread::sleep_for(20ms);
    co_return 1;
  };
  CHECK(runner.run(blocking()) == 1);
  auto text = log.text();
  INFO(text);
  CHECK(text.find("warning slow loop step") != std::string::npos);
}

TEST_CASE("without debug mode a slow step is not logged", "[runners]") {
  aio::test::LogCapture log;
  aio::Runner runner(false);
  runner.get_loop().slow_callback_duration = 5ms;
  auto blocking = []() -> Task<int> {
    std::this_thread::sleep_for(20ms);
    co_return 1;
  };
  CHECK(runner.run(blocking()) == 1);
  CHECK(log.text().find("slow loop step") == std::string::npos);
}

TEST_CASE("run_coroutine_threadsafe runs a coroutine on a loop from another thread", "[runners]") {
  aio::Runner runner;
  auto& loop = runner.get_loop();
  std::thread other;
  std::future<int> value, failure, cancelled;
  auto main = [&]() -> Task<int> {
    aio::Event stop;
    other = std::thread([&] {
      auto add = []() -> Task<int> {
        co_await aio::sleep(1ms);
        co_return 41 + 1;
      };
      value = aio::run_coroutine_threadsafe(add(), loop);
      CHECK(value.get() == 42);
      auto bad = []() -> Task<int> {
        co_await aio::sleep(1ms);
        throw aio::ValueError("bad");
      };
      failure = aio::run_coroutine_threadsafe(bad(), loop);
      CHECK_THROWS_AS(failure.get(), aio::ValueError);
      auto cancel_self = []() -> Task<int> {
        auto me = co_await aio::current_task();
        me.cancel();
        co_await aio::sleep(10s);
        co_return 0;
      };
      cancelled = aio::run_coroutine_threadsafe(cancel_self(), loop);
      CHECK_THROWS_AS(cancelled.get(), aio::CancelledError);
      auto set = [&stop] { stop.set(); };
      loop.call_soon_threadsafe(set);
    });
    co_await stop.wait();
    co_return 1;
  };
  CHECK(runner.run(main()) == 1);
  other.join();
}
