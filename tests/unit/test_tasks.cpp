// Behaviours of aio/tasks.hpp, ported from CPython's test_tasks.py where they exist there.
#include <harness.hpp>
#include <log_capture.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

namespace {
Task<int> answer_after(std::chrono::milliseconds d, int v) {
  co_await aio::sleep(d);
  co_return v;
}
}  // namespace

TEST_CASE("a created task runs and its handle gives the result", "[tasks]") {
  run_test([]() -> Task<> {
    auto h = aio::create_task(answer_after(1ms, 42), "answer");
    CHECK_FALSE(h.done());
    CHECK(h.get_name() == "answer");
    CHECK(co_await h.join() == 42);
    CHECK(h.done());
    CHECK(h.result() == 42);
    CHECK(h.exception() == nullptr);
  }());
}

TEST_CASE("result() before the task is done throws InvalidStateError", "[tasks]") {
  run_test([]() -> Task<> {
    auto h = aio::create_task(answer_after(5ms, 1));
    CHECK_THROWS_AS(h.result(), aio::InvalidStateError);
    CHECK_THROWS_AS(h.exception(), aio::InvalidStateError);
    co_await h.join();
  }());
}

TEST_CASE("cancel() on a done task returns false", "[tasks]") {
  run_test([]() -> Task<> {
    auto h = aio::create_task(answer_after(0ms, 1));
    co_await h.join();
    CHECK_FALSE(h.cancel());
    CHECK_FALSE(h.cancelled());
  }());
}

TEST_CASE("cancelling a sleeping task raises CancelledError inside it and marks it cancelled", "[tasks]") {
  run_test([]() -> Task<> {
    bool saw_cancel = false;
    auto body = [&]() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        saw_cancel = true;
        throw;
      }
      co_return 1;
    };
    auto h = aio::create_task(body());
    co_await aio::sleep(0s);
    CHECK(h.cancel("stop"));
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK(saw_cancel);
    CHECK(h.cancelled());
    CHECK_THROWS_AS(h.result(), aio::CancelledError);
  }());
}

TEST_CASE("a task cancelled before it starts never runs its body", "[tasks]") {
  run_test([]() -> Task<> {
    bool ran = false;
    auto body = [&]() -> Task<> {
      ran = true;
      co_return;
    };
    auto h = aio::create_task(body());
    h.cancel();
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK_FALSE(ran);
  }());
}

TEST_CASE("a cancelled task may await its clean-up after catching CancelledError", "[tasks]") {
  run_test([]() -> Task<> {
    std::vector<std::string> log;
    auto body = [&]() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        log.push_back("cancelled");
      }
      co_await aio::sleep(1ms);  // clean-up that waits
      log.push_back("cleaned");
      co_return 7;
    };
    auto h = aio::create_task(body());
    co_await aio::sleep(0s);
    h.cancel();
    CHECK(co_await h.join() == 7);  // it swallowed the cancellation
    CHECK(log == std::vector<std::string>{"cancelled", "cleaned"});
  }());
}

TEST_CASE("CancelledError is not caught by catch (const std::exception&)", "[tasks]") {
  run_test([]() -> Task<> {
    bool swallowed = false;
    auto body = [&]() -> Task<> {
      try {
        co_await aio::sleep(10s);
      } catch (const std::exception&) {
        swallowed = true;
      }
    };
    auto h = aio::create_task(body());
    co_await aio::sleep(0s);
    h.cancel();
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK_FALSE(swallowed);
  }());
}

TEST_CASE("a raw Asio operation awaited with use_task raises CancelledError", "[tasks]") {
  run_test([]() -> Task<> {
    bool got = false;
    auto body = [&]() -> Task<> {
      asio::steady_timer t(co_await asio::this_coro::executor, 10s);
      try {
        co_await t.async_wait(aio::use_task);
      } catch (const aio::CancelledError&) {
        got = true;
        throw;
      }
    };
    auto h = aio::create_task(body());
    co_await aio::sleep(1ms);
    h.cancel();
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK(got);
  }());
}

TEST_CASE("a raw Asio operation with use_awaitable ends the task as cancelled", "[tasks]") {
  run_test([]() -> Task<> {
    auto body = []() -> Task<> {
      asio::steady_timer t(co_await asio::this_coro::executor, 10s);
      co_await t.async_wait(asio::use_awaitable);
    };
    auto h = aio::create_task(body());
    co_await aio::sleep(1ms);
    h.cancel();
    CHECK_THROWS_AS(co_await h.join(), aio::CancelledError);
    CHECK(h.cancelled());
  }());
}

TEST_CASE("sleep(0) interleaves two tasks in FIFO order", "[tasks]") {
  run_test([]() -> Task<> {
    std::vector<std::string> order;
    auto worker = [&](std::string name) -> Task<> {
      for (int i = 0; i < 3; ++i) {
        order.push_back(name + std::to_string(i));
        co_await aio::sleep(0s);
      }
    };
    auto a = aio::create_task(worker("a"));
    auto b = aio::create_task(worker("b"));
    co_await a.join();
    co_await b.join();
    CHECK(order == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
  }());
}

TEST_CASE("tasks start in the order they were created, after the creator yields", "[tasks]") {
  run_test([]() -> Task<> {
    std::vector<int> order;
    auto w = [&](int i) -> Task<> {
      order.push_back(i);
      co_return;
    };
    auto a = aio::create_task(w(1));
    auto b = aio::create_task(w(2));
    auto c = aio::create_task(w(3));
    order.push_back(0);  // nothing ran yet
    co_await c.join();
    co_await a.join();
    co_await b.join();
    CHECK(order == std::vector<int>{0, 1, 2, 3});
  }());
}

TEST_CASE("a task whose handle was dropped still runs to completion", "[tasks]") {
  run_test([]() -> Task<> {
    bool finished = false;
    auto body = [&]() -> Task<> {
      co_await aio::sleep(2ms);
      finished = true;
    };
    { (void)aio::create_task(body()); }
    co_await aio::sleep(20ms);
    CHECK(finished);
  }());
}

TEST_CASE("an exception in a task is kept and rethrown by join and result", "[tasks]") {
  run_test([]() -> Task<> {
    auto body = []() -> Task<int> {
      co_await aio::sleep(0s);
      throw aio::ValueError("bad");
    };
    auto h = aio::create_task(body());
    CHECK_THROWS_AS(co_await h.join(), aio::ValueError);
    CHECK(h.exception() != nullptr);
    CHECK_THROWS_WITH(h.result(), "bad");
  }());
}

TEST_CASE("done callbacks run on the loop once the task is done", "[tasks]") {
  run_test([]() -> Task<> {
    int calls = 0;
    auto h = aio::create_task(answer_after(1ms, 5));
    h.add_done_callback([&](const aio::TaskHandle<int>& t) { calls += t.result(); });
    co_await h.join();
    CHECK(calls == 0);  // scheduled, not yet run
    co_await aio::sleep(0s);
    CHECK(calls == 5);
    h.add_done_callback([&](const aio::TaskHandle<int>&) { ++calls; });
    co_await aio::sleep(0s);
    CHECK(calls == 6);
  }());
}

TEST_CASE("cancelling a task waiting in join cancels the joined task too", "[tasks]") {
  run_test([]() -> Task<> {
    auto inner = aio::create_task(answer_after(10s, 1), "inner");
    auto outer_body = [](aio::TaskHandle<int> t) -> Task<int> { co_return co_await t.join(); };
    auto outer = aio::create_task(outer_body(inner), "outer");
    co_await aio::sleep(1ms);
    outer.cancel();
    CHECK_THROWS_AS(co_await outer.join(), aio::CancelledError);
    CHECK(inner.cancelled());
  }());
}

TEST_CASE("all_tasks_count and all_task_names list the live tasks", "[tasks]") {
  run_test([]() -> Task<> {
    auto before = aio::all_tasks_count();
    auto h = aio::create_task(answer_after(5ms, 1), "sleeper");
    CHECK(aio::all_tasks_count() == before + 1);
    auto names = aio::all_task_names();
    CHECK(std::find(names.begin(), names.end(), "sleeper") != names.end());
    co_await h.join();
    CHECK(aio::all_tasks_count() == before);
  }());
}

TEST_CASE("create_task outside a running loop throws RuntimeError", "[tasks]") {
  CHECK_THROWS_AS(aio::create_task(answer_after(0ms, 1)), aio::RuntimeError);
}

TEST_CASE("a cancellation pending when join begins cancels the joined task too", "[tasks]") {
  run_test([]() -> Task<> {
    auto inner = aio::create_task(answer_after(10s, 1), "inner");
    auto outer_body = [](aio::TaskHandle<int> t) -> Task<int> {
      co_await asio::post(asio::use_awaitable);  // not an aio wait: the cancel stays pending
      co_return co_await t.join();
    };
    auto outer = aio::create_task(outer_body(inner), "outer");
    co_await aio::sleep(0s);  // outer is now inside the raw post
    outer.cancel();
    CHECK_THROWS_AS(co_await outer.join(), aio::CancelledError);
    CHECK(inner.cancelled());
  }());
}

// Task introspection: current_task, all_tasks, cancelling/uncancel.

TEST_CASE("current_task inside a created task is that task", "[tasks]") {
  run_test([]() -> Task<> {
    aio::AnyTask seen;
    auto body = [&]() -> Task<> {
      seen = co_await aio::current_task();
    };
    auto h = aio::create_task(body(), "worker");
    co_await h.join();
    REQUIRE(seen.valid());
    CHECK(seen == aio::AnyTask(h));
    CHECK(seen.get_name() == "worker");
    CHECK(seen.done());
  }());
}

TEST_CASE("current_task in nested coroutines is the task they run in, and differs between tasks", "[tasks]") {
  run_test([]() -> Task<> {
    auto me = co_await aio::current_task();
    auto deeper = []() -> Task<aio::AnyTask> { co_return co_await aio::current_task(); };
    CHECK(co_await deeper() == me);
    // The other task hands its AnyTask out through a variable, not as its
    // result: a task whose result holds its own state would never be freed.
    aio::AnyTask theirs;
    auto record = [&]() -> Task<> { theirs = co_await deeper(); };
    auto other = aio::create_task(record());
    co_await other.join();
    CHECK_FALSE(theirs == me);
    CHECK(theirs == aio::AnyTask(other));
  }());
}

TEST_CASE("current_task in a coroutine started by asio::co_spawn is no task", "[tasks]") {
  run_test([]() -> Task<> {
    bool valid = true;
    aio::Event done;
    auto bare = [&]() -> Task<> {
      auto t = co_await aio::current_task();
      valid = t.valid();
      done.set();
    };
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, bare(), asio::detached);
    co_await done.wait();
    CHECK_FALSE(valid);
  }());
}

TEST_CASE("all_tasks lists the live tasks as handles that can cancel them", "[tasks]") {
  run_test([]() -> Task<> {
    auto a = aio::create_task(aio::sleep(10s), "sleeper-a");
    auto b = aio::create_task(aio::sleep(10s), "sleeper-b");
    co_await aio::sleep(0s);
    std::vector<std::string> names;
    for (auto& t : aio::all_tasks()) names.push_back(t.get_name());
    CHECK(std::count(names.begin(), names.end(), "sleeper-a") == 1);
    CHECK(std::count(names.begin(), names.end(), "sleeper-b") == 1);
    for (auto& t : aio::all_tasks())
      if (t.get_name().rfind("sleeper-", 0) == 0) CHECK(t.cancel());
    CHECK_THROWS_AS(co_await a.join(), aio::CancelledError);
    CHECK_THROWS_AS(co_await b.join(), aio::CancelledError);
    for (auto& t : aio::all_tasks()) CHECK(t.get_name().rfind("sleeper-", 0) != 0);
  }());
}

TEST_CASE("cancelling counts every cancel request and uncancel withdraws them one at a time", "[tasks]") {
  // CPython test_tasks.py::test_uncancel_basic / cancelling.
  run_test([]() -> Task<> {
    aio::Event go;
    unsigned during = 0;
    auto body = [&]() -> Task<int> {
      try {
        co_await aio::sleep(10s);
      } catch (const aio::CancelledError&) {
        during = 1;
      }
      auto me = co_await aio::current_task();
      during = me.cancelling();
      CHECK(me.uncancel() == 1);
      CHECK(me.uncancel() == 0);
      CHECK(me.uncancel() == 0);
      co_return 5;
    };
    auto h = aio::create_task(body());
    CHECK(h.cancelling() == 0);
    co_await aio::sleep(0s);
    CHECK(h.cancel());
    CHECK(h.cancel());
    CHECK(h.cancelling() == 2);
    CHECK(co_await h.join() == 5);  // two requests, one CancelledError
    CHECK(during == 2);
    CHECK(h.cancelling() == 0);
  }());
}

TEST_CASE("a task that failed and whose exception nobody retrieved is logged with its name", "[tasks]") {
  aio::test::LogCapture log;
  run_test([]() -> Task<> {
    auto fails = []() -> Task<> {
      throw aio::ValueError("boom");
      co_return;
    };
    {
      auto h = aio::create_task(fails(), "forgotten");
      co_await aio::sleep(1ms);
      CHECK(h.done());
    }
    co_await aio::sleep(0s);
  }());
  auto text = log.text();
  CHECK(text.find("Task exception was never retrieved") != std::string::npos);
  CHECK(text.find("forgotten") != std::string::npos);
  CHECK(text.find("boom") != std::string::npos);
}

TEST_CASE("a failed task whose exception was retrieved, by join or exception(), is not logged", "[tasks]") {
  aio::test::LogCapture log;
  run_test([]() -> Task<> {
    auto fails = []() -> Task<> {
      throw aio::ValueError("boom");
      co_return;
    };
    {
      auto joined = aio::create_task(fails(), "joined");
      CHECK_THROWS_AS(co_await joined.join(), aio::ValueError);
      auto asked = aio::create_task(fails(), "asked");
      co_await aio::sleep(1ms);
      CHECK(asked.exception() != nullptr);
    }
    co_await aio::sleep(0s);
  }());
  CHECK(log.text().find("never retrieved") == std::string::npos);
}

TEST_CASE("a server connection's handler runs in a task of its own that current_task and all_tasks show",
          "[tasks]") {
  run_test([]() -> Task<> {
    aio::AnyTask handler_task;
    aio::Event entered;
    auto handler = [&](aio::StreamReader reader, aio::StreamWriter) -> Task<> {
      handler_task = co_await aio::current_task();
      entered.set();
      co_await reader.read();  // until the client goes, or the task is cancelled
    };
    auto server = co_await aio::start_server(handler, "127.0.0.1", 0);
    auto [reader, writer] = co_await aio::open_connection("127.0.0.1", server.port());
    co_await entered.wait();
    REQUIRE(handler_task.valid());
    CHECK(handler_task.get_name() == "aio-connection");
    auto me = co_await aio::current_task();
    CHECK_FALSE(handler_task == me);
    bool listed = false;
    for (auto& t : aio::all_tasks()) listed = listed || t == handler_task;
    CHECK(listed);
    CHECK(handler_task.cancel());  // ends the connection: the client sees EOF
    CHECK((co_await reader.read()).empty());
    server.close();
    co_await server.wait_closed();
    CHECK(handler_task.done());
  }());
}
