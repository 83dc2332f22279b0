// aio/compose.hpp — public. gather, gather_settled, wait, as_completed, shield.
//
// Every combinator here runs its tasks as children on the running loop and
// never leaves one orphaned: where asyncio's gather leaves the other awaitables
// running after a failure, aio cancels them and waits for them to finish,
// because in C++ they may hold references into the caller's frame.
#pragma once

#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <aio/detail/child_set.hpp>
#include <aio/tasks.hpp>
#include <aio/timeouts.hpp>

namespace aio {

// The result of one task of gather_settled: a value or an exception
// (CancelledError for a cancelled child), as return_exceptions=True gives.
template <class T>
class Outcome {
 public:
  using value_type = detail::Stored<T>;
  explicit Outcome(value_type v) : v_(std::move(v)) {}
  explicit Outcome(std::exception_ptr e) : v_(std::move(e)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  // The value; rethrows the exception when !ok().
  value_type& value() {
    if (!ok()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  std::exception_ptr error() const noexcept { return ok() ? nullptr : std::get<1>(v_); }

 private:
  std::variant<value_type, std::exception_ptr> v_;
};

namespace detail {

template <class T>
Stored<T> take_value(const TaskHandle<T>& h) {
  auto& v = h.state()->value();
  if constexpr (std::is_copy_constructible_v<Stored<T>>) return v; else return std::move(v);
}

inline void rethrow_group_failure(const ChildSet& set) {
  if (set.outer_cancelled()) throw CancelledError();
  if (!set.errors().empty()) std::rethrow_exception(set.errors().front());
  if (set.any_cancelled()) throw CancelledError();
}

}  // namespace detail

// Runs the tasks concurrently; returns their results in argument order
// (void results become std::monostate).
//
// Throws: the first failure, after cancelling the other tasks and waiting for
// them; CancelledError if a child was cancelled.
// Cancellation: cancels every child, waits for them, raises CancelledError.
template <class... T>
[[nodiscard]] Task<std::tuple<detail::Stored<T>...>> gather(Task<T>... tasks) {
  auto set = std::make_shared<detail::ChildSet>(true);
  std::tuple<TaskHandle<T>...> handles{set->spawn(std::move(tasks))...};
  co_await set->wait_all();
  detail::rethrow_group_failure(*set);
  co_return std::apply(
      [](auto&... h) { return std::tuple<detail::Stored<T>...>(detail::take_value(h)...); }, handles);
}

// gather over a vector: results in the order of `tasks`.
template <class T>
[[nodiscard]] Task<std::vector<detail::Stored<T>>> gather(std::vector<Task<T>> tasks) {
  auto set = std::make_shared<detail::ChildSet>(true);
  std::vector<TaskHandle<T>> handles;
  handles.reserve(tasks.size());
  for (auto& t : tasks) handles.push_back(set->spawn(std::move(t)));
  co_await set->wait_all();
  detail::rethrow_group_failure(*set);
  std::vector<detail::Stored<T>> out;
  out.reserve(handles.size());
  for (auto& h : handles) out.push_back(detail::take_value(h));
  co_return out;
}

// gather(return_exceptions=True): every task runs to its end; each outcome
// keeps its place. Cancellation: cancels every child, waits, raises.
template <class T>
[[nodiscard]] Task<std::vector<Outcome<T>>> gather_settled(std::vector<Task<T>> tasks) {
  auto set = std::make_shared<detail::ChildSet>(false);
  std::vector<TaskHandle<T>> handles;
  handles.reserve(tasks.size());
  for (auto& t : tasks) handles.push_back(set->spawn(std::move(t)));
  co_await set->wait_all();
  if (set->outer_cancelled()) throw CancelledError();
  std::vector<Outcome<T>> out;
  out.reserve(handles.size());
  for (auto& h : handles) {
    try {
      out.emplace_back(detail::take_value(h));
    } catch (const CancelledError& e) {
      out.emplace_back(std::make_exception_ptr(e));
    } catch (...) {
      out.emplace_back(std::current_exception());
    }
  }
  co_return out;
}

enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };

template <class T>
using DoneAndPending = std::pair<std::vector<TaskHandle<T>>, std::vector<TaskHandle<T>>>;

namespace detail {
struct WaitState {
  WaitList waiters;
  std::size_t remaining = 0;
  bool satisfied = false;
  ReturnWhen when = ReturnWhen::ALL_COMPLETED;
  void on_child(const FutureStateBase& child) {
    --remaining;
    bool failed = child.failed();
    if (when == ReturnWhen::FIRST_COMPLETED || remaining == 0 ||
        (when == ReturnWhen::FIRST_EXCEPTION && failed))
      satisfied = true;
    if (satisfied) waiters.wake_all();
  }
};
}  // namespace detail

// asyncio.wait: waits until `when` holds, or until `timeout` has passed
// (std::nullopt: no limit); returns (done, pending). The tasks are never
// cancelled, and a timeout is not an error: the tasks not done are pending.
// Cancellation: stops waiting; the tasks go on.
template <class T>
[[nodiscard]] Task<DoneAndPending<T>> wait(const std::vector<TaskHandle<T>>& tasks,
                                           ReturnWhen when = ReturnWhen::ALL_COMPLETED,
                                           std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt) {
  co_await detail::check_cancelled();
  auto ws = std::make_shared<detail::WaitState>();
  ws->when = when;
  bool ready = tasks.empty();
  for (auto& t : tasks) {
    if (t.done()) {
      if (when == ReturnWhen::FIRST_COMPLETED) ready = true;
      if (when == ReturnWhen::FIRST_EXCEPTION && t.state()->failed()) ready = true;
    } else {
      ++ws->remaining;
    }
  }
  if (ws->remaining == 0) ready = true;
  if (timeout && *timeout <= timeout->zero()) ready = true;
  if (!ready) {
    for (auto& t : tasks)
      if (!t.done()) {
        detail::FutureStateBase* raw = t.state().get();
        t.state()->on_done([ws, raw] { ws->on_child(*raw); });
      }
    std::optional<asio::steady_timer> timer;
    if (timeout) {
      timer.emplace(co_await asio::this_coro::executor, *timeout);
      timer->async_wait([ws](std::error_code ec) {
        if (ec || ws->satisfied) return;
        ws->satisfied = true;
        ws->waiters.wake_all();
      });
    }
    detail::Waiter w;
    co_await detail::park(ws->waiters, w);
    if (timer) timer->cancel();
    if (w.cancelled) co_await detail::raise_cancelled();
  }
  DoneAndPending<T> out;
  for (auto& t : tasks) (t.done() ? out.first : out.second).push_back(t);
  co_return out;
}

// asyncio.as_completed: hands out the tasks in the order they finish.
//
//   auto it = aio::as_completed(tasks);
//   while (auto t = co_await it.next()) use(t->result());
//
// With a timeout, counted from as_completed(), next() raises TimeoutError
// once it has passed and no finished task is left to hand out, as asyncio's
// iterator does; the tasks are not cancelled.
template <class T>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<TaskHandle<T>> tasks,
                       std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt)
      : st_(std::make_shared<State>()) {
    if (timeout) deadline_ = std::chrono::steady_clock::now() + *timeout;
    st_->left = tasks.size();
    for (auto& t : tasks) {
      auto st = st_;
      t.state()->on_done([st, t] {
        st->done.push_back(t);
        st->waiters.wake_one();
      });
    }
  }

  // The next finished task, or nullopt when all were handed out.
  // Throws: TimeoutError past the timeout.
  // Cancellation: stops waiting; no task is lost (the next call gets it).
  [[nodiscard]] Task<std::optional<TaskHandle<T>>> next() {
    if (deadline_ && st_->done.empty() && st_->left > 0) return timeout_at(next_unbounded(), *deadline_);
    return next_unbounded();
  }

 private:
  Task<std::optional<TaskHandle<T>>> next_unbounded() {
    auto st = st_;
    co_await detail::check_cancelled();
    if (st->left == 0) co_return std::nullopt;
    while (st->done.empty()) {
      detail::Waiter w;
      co_await detail::park(st->waiters, w);
      if (w.cancelled) co_await detail::raise_cancelled();
    }
    auto t = st->done.front();
    st->done.pop_front();
    --st->left;
    co_return t;
  }

  struct State {
    std::deque<TaskHandle<T>> done;
    std::size_t left = 0;
    detail::WaitList waiters;
  };
  std::shared_ptr<State> st_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

template <class T>
AsCompleted<T> as_completed(std::vector<TaskHandle<T>> tasks,
                            std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt) {
  return AsCompleted<T>(std::move(tasks), timeout);
}

// Waits for `task` without letting the waiter's cancellation reach it.
// Cancellation: the waiter raises CancelledError at once; `task` goes on.
template <class T>
[[nodiscard]] Task<T> shield(TaskHandle<T> task) {
  auto st = task.state();
  co_await detail::await_done(*st, false);
  if constexpr (std::is_void_v<T>) {
    st->value();
  } else {
    co_return task.result();
  }
}

}  // namespace aio
