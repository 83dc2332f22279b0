// aio/timeouts.hpp — public. wait_for and timeout_at.
#pragma once

#include <asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <system_error>

#include <aio/tasks.hpp>

namespace aio {

// Runs `task` with a deadline. On expiry the task is cancelled and awaited:
// its clean-up has run before TimeoutError reaches the caller, and if it
// finished anyway (it swallowed the cancellation), its value is returned.
// A deadline already past (wait_for with 0 or less) raises TimeoutError
// without starting the task, as asyncio does.
//
// Throws: TimeoutError; whatever the task throws.
// Cancellation: cancels the task, waits for it, raises CancelledError.
template <class T>
[[nodiscard]] Task<T> timeout_at(Task<T> task, std::chrono::steady_clock::time_point deadline) {
  if (deadline <= std::chrono::steady_clock::now()) throw TimeoutError();
  auto h = create_task(std::move(task));
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  auto on_expiry = [h, expired](std::error_code ec) mutable {
    if (ec || h.done() || h.state()->cancel_requested) return;
    *expired = true;
    h.cancel("timeout");
  };
  timer.async_wait(std::move(on_expiry));
  try {
    co_return co_await h.join();
  } catch (const CancelledError&) {
    if (*expired) throw TimeoutError();
    throw;
  }
}

template <class T>
[[nodiscard]] Task<T> wait_for(Task<T> task, std::chrono::steady_clock::duration timeout) {
  return timeout_at(std::move(task), std::chrono::steady_clock::now() + timeout);
}

}  // namespace aio
