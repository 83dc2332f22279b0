// aio/tasks.hpp — public. Task<T>, TaskHandle<T>, create_task, sleep and the task registry.
//
// A Task<T> is a lazy coroutine (Asio's awaitable): nothing runs until it is
// awaited or handed to create_task. create_task schedules it on the running
// loop and returns a TaskHandle, asyncio's Task: the loop owns the task until
// it ends, so dropping the handle never stops it (no "task was destroyed but
// it is pending" surprise). Ready tasks run in FIFO order, as in asyncio.
//
// Cancellation model. handle.cancel() asks the task to stop: the aio wait it
// is suspended in (sleep, queue get, lock acquire, stream read, join, ...)
// raises aio::CancelledError; if it is not waiting, the next aio wait raises
// it. One cancel() raises one CancelledError: a task may catch it, await its
// clean-up and go on, exactly as in asyncio. CancelledError is not a
// std::exception, so `catch (const std::exception&)` does not swallow it.
// Raw Asio operations awaited with aio::use_task behave the same; with
// asio::use_awaitable they report cancellation the Asio way
// (std::system_error with asio::error::operation_aborted), and a task that
// ends that way after cancel() still counts as cancelled.
//
// Threading: a task and its handle belong to the loop thread that created
// them; nothing here is thread-safe (use Loop::call_soon_threadsafe).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <aio/detail/spawn.hpp>
#include <aio/detail/task_state.hpp>
#include <aio/exceptions.hpp>
#include <aio/use_task.hpp>

namespace aio {

// A lazy coroutine producing T. Every aio function that waits returns one.
template <class T = void>
using Task = asio::awaitable<T>;

template <class T>
class TaskHandle;

namespace detail {

bool is_operation_aborted(const std::exception_ptr& e) noexcept;

// A task's coroutine, the bottom of its own stack (detail/spawn.hpp): no
// co_spawn entry frame, and the thread's cancellation slot is the task's own
// signal, which is how current_task() finds it. It catches everything.
template <class T>
EntryPoint run_task(std::shared_ptr<TaskState<T>> st, asio::awaitable<T> body) {
  // aio delivers cancellation itself, as CancelledError, at aio waits.
  co_await asio::this_coro::throw_if_cancelled(false);
  st->started = true;
  std::optional<Stored<T>> result;
  std::exception_ptr error;
  bool cancelled = cancel_requested(co_await asio::this_coro::cancellation_state);
  if (!cancelled) {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(body);
        result.emplace();
      } else {
        result.emplace(co_await std::move(body));
      }
    } catch (const CancelledError&) {
      cancelled = true;
    } catch (...) {
      error = std::current_exception();
      cancelled = st->cancelling > 0 && is_operation_aborted(error);
    }
  }
  try {
    if (cancelled)
      st->end_cancelled();
    else if (error)
      st->end_failed(std::move(error));
    else
      st->end_with(std::move(*result));
  } catch (...) {
    // A done callback could not be queued (out of memory): the task has
    // ended all the same, and nothing may leave the bottom of the stack.
  }
}

}  // namespace detail

// A scheduled task, like asyncio.Task. Copies share the task.
template <class T = void>
class TaskHandle {
 public:
  TaskHandle() = default;

  bool valid() const noexcept { return static_cast<bool>(st_); }
  bool done() const noexcept { return st_->done(); }
  bool cancelled() const noexcept { return st_->cancelled(); }

  // Requests cancellation; false if the task is already done. Each call
  // counts (cancelling()), but a task that has not yet seen the first one
  // gets a single CancelledError, as in asyncio.
  bool cancel(std::string msg = {}) { return st_->cancel(std::move(msg)); }

  // asyncio's Task.cancelling(): cancellation requests not yet withdrawn.
  unsigned cancelling() const noexcept { return st_->cancelling; }
  // asyncio's Task.uncancel(): withdraws one request; returns what remains.
  // For code that catches the CancelledError its own request caused (a
  // timeout, a task group), so that another request still propagates.
  unsigned uncancel() noexcept { return st_->uncancel(); }

  // The task's value; rethrows its exception; CancelledError if it was
  // cancelled; InvalidStateError if it is not done.
  T result() const {
    auto& v = st_->value();
    if constexpr (std::is_void_v<T>) {
      (void)v;
    } else if constexpr (std::is_copy_constructible_v<T>) {
      return v;
    } else {
      return std::move(v);
    }
  }

  // The task's exception or nullptr; InvalidStateError if not done,
  // CancelledError if cancelled (as asyncio).
  std::exception_ptr exception() const {
    st_->check_done();
    if (st_->cancelled()) throw CancelledError(st_->cancel_message());
    return st_->error();
  }

  std::string get_name() const { return st_->name; }
  void set_name(std::string name) { st_->name = std::move(name); }

  // Scheduled on the loop once the task is done (at once if it is).
  void add_done_callback(std::function<void(const TaskHandle&)> cb) {
    TaskHandle self = *this;
    st_->add_done_callback([self, cb = std::move(cb)] { cb(self); });
  }

  // Waits for the task and returns its result or rethrows its exception.
  //
  // Cancellation: cancelling the waiter cancels the task too and waits for
  // it to finish; the task's outcome is what join() then returns or throws
  // (CancelledError if it ended cancelled). Use shield() to keep it running.
  [[nodiscard]] Task<T> join() const {
    auto st = st_;
    co_await detail::await_done(*st, true);
    if constexpr (std::is_void_v<T>) {
      st->value();
    } else {
      co_return TaskHandle(st).result();
    }
  }

  // Internal: the shared state.
  const std::shared_ptr<detail::TaskState<T>>& state() const noexcept { return st_; }
  explicit TaskHandle(std::shared_ptr<detail::TaskState<T>> st) : st_(std::move(st)) {}

 private:
  std::shared_ptr<detail::TaskState<T>> st_;
};

// Schedules `task` on the running loop. RuntimeError outside a running loop.
template <class T>
TaskHandle<T> create_task(Task<T> task, std::string name = {}) {
  auto& loop = detail::require_running_loop();
  auto st = std::make_shared<detail::TaskState<T>>(std::move(name));
  detail::register_task(loop, *st);
  auto slot = st->signal.slot();
  detail::launch(detail::run_task<T>(st, std::move(task)), detail::loop_context(loop).get_executor(), slot);
  return TaskHandle<T>(std::move(st));
}

// Any task of the loop, whatever its result type: what current_task() and
// all_tasks() hand out (asyncio's Task, seen without its result). Server
// connections are tasks too. Copies share the task; an invalid AnyTask
// (valid() false) stands for "no task", asyncio's None.
class AnyTask {
 public:
  AnyTask() = default;
  template <class T>
  AnyTask(const TaskHandle<T>& h) : st_(h.valid() ? h.state()->share() : nullptr) {}  // NOLINT: implicit, as a base
  explicit AnyTask(std::shared_ptr<detail::TaskStateBase> st) : st_(std::move(st)) {}

  bool valid() const noexcept { return static_cast<bool>(st_); }
  bool done() const noexcept { return st_->ended; }
  bool cancel(std::string msg = {}) { return st_->cancel_task(std::move(msg)); }
  unsigned cancelling() const noexcept { return st_->cancelling; }
  unsigned uncancel() noexcept { return st_->uncancel(); }
  std::string get_name() const { return st_->task_name(); }
  // Connections keep their fixed name ("aio-connection").
  void set_name(std::string name) { st_->set_task_name(std::move(name)); }

  friend bool operator==(const AnyTask& a, const AnyTask& b) noexcept { return a.st_ == b.st_; }

  detail::TaskStateBase* state() const noexcept { return st_.get(); }

 private:
  std::shared_ptr<detail::TaskStateBase> st_;
};

// asyncio.current_task(): the task the caller runs in; invalid when the
// coroutine was started by asio::co_spawn rather than by aio.
// RuntimeError outside a running loop.
[[nodiscard]] Task<AnyTask> current_task();

// asyncio.all_tasks(): the loop's tasks that have not finished, oldest first.
std::vector<AnyTask> all_tasks();

// Suspends the calling task for `delay`. sleep(0s) yields once: every task
// that is ready runs before the caller resumes.
//
// Cancellation: raises CancelledError at once; nothing is lost.
[[nodiscard]] Task<void> sleep(std::chrono::steady_clock::duration delay);

// Tasks of the running loop that have not finished, and their names.
std::size_t all_tasks_count();
std::vector<std::string> all_task_names();

}  // namespace aio
