// aio/timeouts.hpp — public. Timeout (asyncio.timeout / timeout_at), wait_for and timeout_at.
//
// A Timeout is a deadline over a block of awaits in the current task, as
// `async with asyncio.timeout(d) as cm:` is. C++ has no async scope exit, so
// the block is the coroutine handed to run():
//
//   aio::Timeout deadline(10s);
//   co_await deadline.run([&]() -> aio::Task<void> {
//     while (auto line = co_await reader.readline(); !line.empty()) {
//       handle(line);
//       deadline.reschedule(std::chrono::steady_clock::now() + 10s);  // idle, not total
//     }
//   }());
//
// The body runs in the calling task, not in a child task: on expiry the
// task itself is cancelled (Task::cancel()), and run() turns the resulting
// CancelledError into TimeoutError only if no other cancellation request is
// outstanding, by asyncio's count (cancelling()/uncancel()). So nested
// deadlines that expire in the same loop turn both hold: the inner block
// lets the CancelledError through and the outer one raises TimeoutError,
// and a cancellation from elsewhere is never mistaken for a timeout.
#pragma once

#include <asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <aio/tasks.hpp>

namespace aio {

namespace detail {
struct TimeoutState;
}

class Timeout {
 public:
  using clock = std::chrono::steady_clock;

  // asyncio.timeout_at(when); std::nullopt: no deadline until reschedule().
  explicit Timeout(std::optional<clock::time_point> when);
  // asyncio.timeout(delay), counted from now.
  explicit Timeout(clock::duration delay) : Timeout(clock::now() + delay) {}
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  ~Timeout();

  // The deadline, or nullopt for none.
  std::optional<clock::time_point> when() const noexcept;
  // Moves the deadline (nullopt: none). A deadline already past expires on
  // the next loop turn. RuntimeError unless run() is under way and the
  // deadline has not yet expired, as asyncio's.
  void reschedule(std::optional<clock::time_point> when);
  // True once the deadline has expired (whether or not run() raised).
  bool expired() const noexcept;

  // Runs `body` in the calling task under the deadline and returns its value.
  // A Timeout runs one body; RuntimeError on a second run() and outside a
  // task (a coroutine started by asio::co_spawn).
  //
  // Throws: TimeoutError when the deadline expired and the body ended with
  // the CancelledError it caused; whatever the body throws otherwise. A body
  // that swallows the cancellation and returns has its value returned.
  // Cancellation: a cancellation from elsewhere passes through as
  // CancelledError, even when the deadline expired in the same turn.
  template <class T>
  [[nodiscard]] Task<T> run(Task<T> body);

 private:
  std::shared_ptr<detail::TimeoutState> st_;
};

namespace detail {
void timeout_enter(const std::shared_ptr<TimeoutState>& st, TaskStateBase* task);
// Ends the block: the exception to raise (TimeoutError in place of the
// CancelledError the deadline caused), and whether the task's undelivered
// cancellation must be withdrawn.
std::exception_ptr timeout_leave(TimeoutState& st, std::exception_ptr error, bool& withdraw);
}  // namespace detail

template <class T>
Task<T> Timeout::run(Task<T> body) {
  auto st = st_;
  detail::TaskStateBase* task = nullptr;
  co_await detail::FindCurrentTask{&task};
  detail::timeout_enter(st, task);
  std::optional<detail::Stored<T>> result;
  std::exception_ptr error;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(body);
      result.emplace();
    } else {
      result.emplace(co_await std::move(body));
    }
  } catch (...) {
    error = std::current_exception();
  }
  bool withdraw = false;
  error = detail::timeout_leave(*st, std::move(error), withdraw);
  if (withdraw) co_await asio::this_coro::reset_cancellation_state();
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

// Runs `task` with a deadline: Timeout(deadline).run(task), in the calling
// task (no child task). A deadline already past raises TimeoutError without
// starting the task, as asyncio's wait_for with a timeout of 0 or less.
//
// Throws: TimeoutError; whatever the task throws.
// Cancellation: as Timeout::run.
template <class T>
[[nodiscard]] Task<T> timeout_at(Task<T> task, std::chrono::steady_clock::time_point deadline) {
  if (deadline <= std::chrono::steady_clock::now()) throw TimeoutError();
  Timeout timeout(deadline);
  co_return co_await timeout.run(std::move(task));
}

template <class T>
[[nodiscard]] Task<T> wait_for(Task<T> task, std::chrono::steady_clock::duration timeout) {
  return timeout_at(std::move(task), std::chrono::steady_clock::now() + timeout);
}

}  // namespace aio
