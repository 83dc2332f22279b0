// tests/support/harness.hpp — how every async unit test runs.
//
// run_test() runs a coroutine on a fresh aio loop under two guards: a
// wait_for that fails a hung test with the names of the tasks still alive,
// and a watchdog thread that aborts the process if even the cancellation
// hangs. After the test body it checks that no task was left behind.
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <aio/aio.hpp>

namespace aio::test {

using namespace std::chrono_literals;

class Watchdog {
 public:
  explicit Watchdog(std::chrono::steady_clock::duration limit)
      : thread_([this, limit] {
          std::unique_lock lock(m_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: test still running after its limit; aborting\n");
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

inline std::string live_tasks() {
  std::string out;
  for (auto& n : aio::all_task_names()) out += n + " ";
  return out;
}

template <class T>
aio::Task<T> guarded(aio::Task<T> body, std::chrono::steady_clock::duration limit, bool check_leftovers) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await aio::wait_for(std::move(body), limit);
    } else {
      auto v = co_await aio::wait_for(std::move(body), limit);
      if (check_leftovers) {
        INFO("tasks left behind: " << live_tasks());
        CHECK(aio::all_tasks_count() == 1);
      }
      co_return v;
    }
  } catch (const aio::TimeoutError&) {
    FAIL("test hung; tasks alive: " << live_tasks());
  }
  if constexpr (std::is_void_v<T>) {
    if (check_leftovers) {
      INFO("tasks left behind: " << live_tasks());
      CHECK(aio::all_tasks_count() == 1);
    }
  }
}

// Awaits `t` and returns the E it threw, or nullopt if it threw nothing:
// CHECK((co_await caught<aio::TimeoutError>(f())).has_value()).
template <class E, class T>
aio::Task<std::optional<E>> caught(aio::Task<T> t) {
  try {
    co_await std::move(t);
  } catch (const E& e) {
    co_return e;
  }
  co_return std::nullopt;
}

// Runs `body` on a fresh loop; fails the test if it hangs or leaves tasks.
template <class T>
T run_test(aio::Task<T> body, std::chrono::steady_clock::duration limit = 20s, bool check_leftovers = true) {
  Watchdog dog(limit * 2 + 5s);
  aio::Runner runner;
  return runner.run(guarded(std::move(body), limit, check_leftovers));
}

}  // namespace aio::test
