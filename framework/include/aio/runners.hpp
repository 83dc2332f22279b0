// aio/runners.hpp — public. run(), Runner, Loop, get_running_loop, to_thread, signals.
//
// A Loop is a thin face of one asio::io_context driven by one thread, as an
// asyncio event loop is. Only call_soon_threadsafe may be called from other
// threads. Multi-core programs run one Loop per thread (see aio-echo
// --threads) and share nothing.
#pragma once

#include <asio/associated_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <aio/detail/task_index.hpp>
#include <aio/tasks.hpp>

namespace aio {

// Returned by Loop::call_later; cancel() before it fires stops the callback.
class TimerHandle {
 public:
  TimerHandle() = default;
  explicit TimerHandle(std::shared_ptr<asio::steady_timer> t) : timer_(std::move(t)) {}
  void cancel();
  bool cancelled() const noexcept { return cancelled_; }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
  bool cancelled_ = false;
};

class Loop {
 public:
  Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  ~Loop();

  asio::io_context& context() noexcept { return ctx_; }

  // Runs `f` on a later loop turn, after what is already ready (FIFO).
  void call_soon(std::function<void()> f);
  // The one thread-safe member: wakes the loop and runs `f` on it.
  void call_soon_threadsafe(std::function<void()> f);
  TimerHandle call_later(std::chrono::steady_clock::duration delay, std::function<void()> f);
  // Monotonic time in seconds, as loop.time().
  double time() const;
  // Makes the current run() return after the running step.
  void stop();
  bool is_running() const noexcept { return running_; }

  std::size_t all_tasks_count() const noexcept { return task_count_; }
  std::vector<std::string> all_task_names() const;
  void cancel_all_tasks();

  // Debug mode (asyncio's debug=True): steps longer than this are logged.
  bool debug = false;
  std::chrono::steady_clock::duration slow_callback_duration = std::chrono::milliseconds(100);

 private:
  friend class Runner;
  friend void detail::register_task(detail::LoopState&, detail::TaskStateBase&);
  friend class detail::TaskStateBase;
  friend struct detail::FindCurrentTask;
  friend std::vector<AnyTask> all_tasks();

  void run_until_done(detail::FutureStateBase& main);

  // One thread runs the loop and only it starts socket operations, so the
  // reactor's per-descriptor mutex is dead weight (two uncontended lock pairs
  // per read). The scheduler stays locked: call_soon_threadsafe and to_thread
  // completions post from other threads.
  asio::io_context ctx_{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  detail::TaskStateBase* tasks_head_ = nullptr;
  std::size_t task_count_ = 0;
  detail::TaskIndex task_index_;
  bool running_ = false;
};

// The loop running on this thread; RuntimeError when none is.
Loop& get_running_loop();

// asyncio.Runner: owns a loop; run() may be called several times.
class Runner {
 public:
  explicit Runner(bool debug = false);
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner();

  // Runs `main` to completion on this thread, then cancels the tasks it left
  // and waits for them. Returns main's value or rethrows its exception.
  // RuntimeError if a loop is already running on this thread.
  template <class T>
  T run(Task<T> main) {
    Scope scope(*this);
    auto h = create_task(std::move(main), "main");
    loop_->run_until_done(*h.state());
    return h.result();
  }

  Loop& get_loop();
  void close();

 private:
  struct Scope {
    explicit Scope(Runner& r);
    ~Scope();
    Loop* previous;
  };
  std::unique_ptr<Loop> loop_;
};

// asyncio.run(): a fresh loop on this thread runs `main`.
template <class T>
T run(Task<T> main) {
  Runner runner;
  return runner.run(std::move(main));
}

// asyncio.run_coroutine_threadsafe: the bridge into a loop from another
// thread. Schedules `task` as a task of `loop` (which runs, or will run, on
// its own thread) and returns a std::future for its result. The one call
// here, with Loop::call_soon_threadsafe, that other threads may make.
//
// Throws (from the future's get()): what the task throws; CancelledError if
// it was cancelled (for example because the loop's run() ended first);
// std::future_error (broken_promise) if the loop was destroyed before the
// task could start.
template <class T>
std::future<T> run_coroutine_threadsafe(Task<T> task, Loop& loop) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  auto body = std::make_shared<Task<T>>(std::move(task));
  loop.call_soon_threadsafe([promise, body] {
    auto h = create_task(std::move(*body));
    h.add_done_callback([promise](const TaskHandle<T>& done) {
      try {
        if constexpr (std::is_void_v<T>) {
          done.result();
          promise->set_value();
        } else {
          promise->set_value(done.result());
        }
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    });
  });
  return future;
}

namespace detail {
asio::thread_pool& default_pool();
}

// Runs `f` on `pool` (nullptr: the default pool) and resumes the caller on
// its loop with the result or the exception.
//
// Cancellation: a thread cannot be interrupted; `f` runs to completion, then
// the waiter raises CancelledError and the result is discarded. Because the
// waiter waits for `f`, `f` may safely refer to the caller's locals.
template <class F>
[[nodiscard]] Task<std::invoke_result_t<F&>> run_in_executor(asio::thread_pool* pool, F f) {
  using R = std::invoke_result_t<F&>;
  co_await detail::check_cancelled();
  asio::thread_pool& p = pool ? *pool : detail::default_pool();
  std::optional<detail::Stored<R>> result;
  std::exception_ptr error;
  auto start = [&p, &f, &result, &error](auto handler) {
    auto work = asio::make_work_guard(asio::get_associated_executor(handler));
    auto job = [&f, &result, &error, h = std::move(handler), work = std::move(work)]() mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          f();
          result.emplace();
        } else {
          result.emplace(f());
        }
      } catch (...) {
        error = std::current_exception();
      }
      // The work guard travels with the completion and dies on the loop
      // thread: released here, it could touch an io_context that the loop
      // thread has already finished and destroyed.
      auto ex = asio::get_associated_executor(h);
      asio::post(ex, [h = std::move(h), work = std::move(work)]() mutable { std::move(h)(); });
    };
    asio::post(p, std::move(job));
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(start, asio::use_awaitable);
  co_await detail::check_cancelled();
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

// asyncio.to_thread: run_in_executor on the default pool.
template <class F>
[[nodiscard]] Task<std::invoke_result_t<F&>> to_thread(F f) {
  return run_in_executor(nullptr, std::move(f));
}

// Waits until one of `signals` is delivered to the process; returns it.
// The signals are handled by the loop while anybody waits for them.
//
// Cancellation: stops waiting; a signal delivered later is not reported.
[[nodiscard]] Task<int> wait_for_signal(std::vector<int> signals);
[[nodiscard]] inline Task<int> wait_for_signal(std::initializer_list<int> signals) {
  return wait_for_signal(std::vector<int>(signals));
}

}  // namespace aio
