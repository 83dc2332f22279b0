// aio/detail/future_state.hpp — internal. The shared state behind Future<T> and TaskHandle<T>.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <aio/detail/wait_list.hpp>
#include <aio/exceptions.hpp>

namespace aio::detail {

template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

class FutureStateBase {
 public:
  virtual ~FutureStateBase() = default;

  bool done() const noexcept { return done_; }
  bool cancelled() const noexcept { return cancelled_; }
  // Ended with an exception; looking does not count as retrieving it.
  bool failed() const noexcept { return !cancelled_ && error_; }
  const std::string& cancel_message() const noexcept { return cancel_message_; }
  // Asking for the exception counts as retrieving it (no "never retrieved" log).
  std::exception_ptr error() const noexcept {
    retrieved_ = true;
    return error_;
  }

  // Requests cancellation. A plain future is cancelled at once; a task is
  // asked to stop and finishes when its coroutine has unwound.
  virtual bool cancel(std::string msg) {
    if (done_) return false;
    cancel_message_ = std::move(msg);
    finish_cancelled();
    return true;
  }

  void set_exception(std::exception_ptr e) {
    if (done_) throw InvalidStateError("future is already done");
    error_ = std::move(e);
    finish();
  }

  // Internal: run synchronously when the state is done (TaskGroup, gather, wait).
  void on_done(std::function<void()> f) {
    if (done_) f(); else internal_callbacks_.push_back(std::move(f));
  }
  // Public done callbacks are scheduled on the loop (asyncio's call_soon).
  void add_done_callback(std::function<void()> f);

  void rethrow_if_failed() const {
    if (cancelled_) throw CancelledError(cancel_message_);
    retrieved_ = true;
    if (error_) std::rethrow_exception(error_);
  }

  WaitList& waiters() noexcept { return waiters_; }

 protected:
  void finish_cancelled() {
    cancelled_ = true;
    finish();
  }
  void finish();

  bool done_ = false;
  bool cancelled_ = false;
  std::string cancel_message_;
  std::exception_ptr error_;
  mutable bool retrieved_ = false;
  WaitList waiters_;
  std::vector<std::function<void()>> internal_callbacks_;
  std::vector<std::function<void()>> callbacks_;
};

template <class T>
class FutureState : public FutureStateBase {
 public:
  template <class... A>
  void set_value(A&&... a) {
    if (done_) throw InvalidStateError("future is already done");
    value_.emplace(std::forward<A>(a)...);
    finish();
  }

  void check_done() const {
    if (!done_) throw InvalidStateError("result is not set");
  }

  // The result, or the stored exception rethrown, or CancelledError.
  Stored<T>& value() {
    check_done();
    rethrow_if_failed();
    return *value_;
  }

 private:
  std::optional<Stored<T>> value_;
};

// Waits until `st` is done. With forward_cancel (awaiting a task or a
// future), cancelling the waiter cancels `st` and keeps waiting for it to
// finish, as awaiting a task does in asyncio; without it (shield), the waiter
// leaves at once with CancelledError and `st` goes on.
asio::awaitable<void> await_done(FutureStateBase& st, bool forward_cancel);

}  // namespace aio::detail
