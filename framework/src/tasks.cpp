// Task bookkeeping: the per-loop registry of live tasks, futures' completion,
// sleep, and the cancellation helpers shared by every aio wait.
#include <aio/tasks.hpp>

#include <asio/steady_timer.hpp>

#include <system_error>

#include <aio/runners.hpp>

namespace aio {

bool is_cancellation(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (const std::system_error& err) {
    return err.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

namespace detail {

bool is_operation_aborted(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& err) {
    return err.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

void FutureStateBase::add_done_callback(std::function<void()> f) {
  if (!done_) {
    callbacks_.push_back(std::move(f));
    return;
  }
  asio::post(loop_context(require_running_loop()), std::move(f));
}

void FutureStateBase::finish() {
  done_ = true;
  auto internal = std::move(internal_callbacks_);
  for (auto& f : internal) f();
  waiters_.wake_all();
  if (!callbacks_.empty()) {
    auto& ctx = loop_context(require_running_loop());
    for (auto& f : callbacks_) asio::post(ctx, std::move(f));
    callbacks_.clear();
  }
}

asio::awaitable<void> await_done(FutureStateBase& st, bool forward_cancel) {
  bool forwarded = false;
  if (co_await cancel_pending()) {
    // A cancellation that arrived before this wait began is forwarded like
    // one that arrives during it: raising here would leave `st` running
    // orphaned (a just-created child of wait_for, say).
    if (!forward_cancel || st.done()) co_await raise_cancelled();
    co_await asio::this_coro::reset_cancellation_state();
    forwarded = true;
    st.cancel({});
  }
  if (st.done()) co_return;
  Waiter w;
  if (forward_cancel) {
    w.on_cancel = [](Waiter&, void* arg) { static_cast<FutureStateBase*>(arg)->cancel({}); };
    w.on_cancel_arg = &st;
  }
  co_await park(st.waiters(), w);
  if (w.cancelled) co_await raise_cancelled();
  if (w.cancel_forwarded || forwarded) {
    // The awaited task's outcome answers the cancellation (asyncio: a task
    // that swallows its CancelledError hands its value to the awaiter).
    co_await asio::this_coro::reset_cancellation_state();
    co_return;
  }
  co_await check_cancelled();
}

TaskStateBase::~TaskStateBase() { unregister(); }

void TaskStateBase::request_cancel() {
  cancel_requested = true;
  signal.emit(asio::cancellation_type::terminal);
}

void TaskStateBase::unregister() {
  if (!loop) return;
  if (prev) prev->next = next; else loop->tasks_head_ = next;
  if (next) next->prev = prev;
  prev = next = nullptr;
  --loop->task_count_;
  loop = nullptr;
}

void register_task(LoopState& loop, TaskStateBase& t) noexcept {
  t.loop = &loop;
  t.prev = nullptr;
  t.next = loop.tasks_head_;
  if (loop.tasks_head_) loop.tasks_head_->prev = &t;
  loop.tasks_head_ = &t;
  ++loop.task_count_;
}

std::string next_task_name() {
  static thread_local std::size_t counter = 0;
  return "Task-" + std::to_string(++counter);
}

asio::io_context& loop_context(LoopState& loop) noexcept { return loop.context(); }

}  // namespace detail

Task<void> sleep(std::chrono::steady_clock::duration delay) {
  co_await detail::check_cancelled();
  if (delay <= delay.zero()) {
    co_await asio::post(asio::use_awaitable);
    co_await detail::check_cancelled();
    co_return;
  }
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(use_task);
}

std::size_t all_tasks_count() { return get_running_loop().all_tasks_count(); }
std::vector<std::string> all_task_names() { return get_running_loop().all_task_names(); }

}  // namespace aio
