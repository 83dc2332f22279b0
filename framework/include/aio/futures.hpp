// aio/futures.hpp — public. Future<T>: bridges callbacks to coroutines (loop.create_future()).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <aio/detail/future_state.hpp>
#include <aio/tasks.hpp>

namespace aio {

// A result that somebody sets later. Copies share the state.
// Concurrency: loop-local; from another thread, set it through
// Loop::call_soon_threadsafe.
template <class T = void>
class Future {
 public:
  Future() : st_(std::make_shared<detail::FutureState<T>>()) {}

  template <class U = T>
    requires(!std::is_void_v<U>)
  void set_result(U v) {
    st_->set_value(std::move(v));
  }
  template <class U = T>
    requires std::is_void_v<U>
  void set_result() {
    st_->set_value();
  }
  void set_exception(std::exception_ptr e) { st_->set_exception(std::move(e)); }
  bool cancel(std::string msg = {}) { return st_->cancel(std::move(msg)); }
  bool done() const noexcept { return st_->done(); }
  bool cancelled() const noexcept { return st_->cancelled(); }

  // InvalidStateError when not done; CancelledError when cancelled.
  T result() const {
    auto& v = st_->value();
    if constexpr (!std::is_void_v<T>) return v; else (void)v;
  }
  void add_done_callback(std::function<void(const Future&)> cb) {
    Future self = *this;
    st_->add_done_callback([self, cb = std::move(cb)] { cb(self); });
  }

  // Waits for the result.
  // Cancellation: cancelling the waiter cancels the future (as awaiting a
  // future does in asyncio); the waiter raises CancelledError.
  [[nodiscard]] Task<T> wait() const {
    auto st = st_;
    co_await detail::await_done(*st, true);
    if constexpr (std::is_void_v<T>) {
      st->value();
    } else {
      co_return st->value();
    }
  }

 private:
  std::shared_ptr<detail::FutureState<T>> st_;
};

}  // namespace aio
