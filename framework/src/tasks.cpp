// Task bookkeeping: the per-loop registry of live tasks, futures' completion,
// sleep, and the cancellation helpers shared by every aio wait.
#include <aio/tasks.hpp>

#include <asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

#include <aio/detail/private_access.hpp>
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

bool TaskStateBase::cancel_task(std::string) {
  if (ended) return false;
  request_cancel();
  return true;
}

void TaskStateBase::request_cancel() {
  ++cancelling;
  signal.emit(asio::cancellation_type::terminal);
}

void TaskStateBase::unregister() {
  if (!loop) return;
  ended = true;
  if (prev) prev->next = next; else loop->tasks_head_ = next;
  if (next) next->prev = prev;
  prev = next = nullptr;
  --loop->task_count_;
  loop->task_index_.erase(this);
  loop = nullptr;
}

void register_task(LoopState& loop, TaskStateBase& t) {
  loop.task_index_.insert(&t);
  t.loop = &loop;
  t.prev = nullptr;
  t.next = loop.tasks_head_;
  if (loop.tasks_head_) loop.tasks_head_->prev = &t;
  loop.tasks_head_ = &t;
  ++loop.task_count_;
}

void report_unretrieved(const std::string& name, const std::exception_ptr& error) noexcept {
  try {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::error("Task exception was never retrieved: task {} failed: {}", name, e.what());
    } catch (...) {
      spdlog::error("Task exception was never retrieved: task {} failed with a non-standard exception", name);
    }
  } catch (...) {
    // Logging itself failed; a destructor must not throw.
  }
}

// Asio 1.22 keeps what current_task() needs in private members: the thread
// a frame runs on, the cancellation slot the thread was started with, and
// the signal that slot belongs to (private_access.hpp).
namespace {
using EntryFrame = asio::detail::awaitable_frame<asio::detail::awaitable_thread_entry_point, asio::any_io_executor>;
struct AttachedThread {
  using type = CoroThread* CoroFrame::*;
  friend type member_of(AttachedThread);
};
template struct Grant<AttachedThread, &CoroFrame::attached_thread_>;
struct ParentSlot {
  using type = asio::cancellation_slot EntryFrame::*;
  friend type member_of(ParentSlot);
};
template struct Grant<ParentSlot, &EntryFrame::parent_cancellation_slot_>;
struct SlotSignal {
  using type = asio::detail::cancellation_handler_base** asio::cancellation_slot::*;
  friend type member_of(SlotSignal);
};
template struct Grant<SlotSignal, &asio::cancellation_slot::handler_>;
}  // namespace

CoroThread* FindCurrentTask::operator()(CoroFrame* frame) const noexcept {
  *out = nullptr;
  CoroThread* thread = frame->*member_of(AttachedThread{});
  LoopState* loop = running_loop_state();
  if (!thread || !loop) return nullptr;
  const asio::cancellation_slot& slot = thread->entry_point()->*member_of(ParentSlot{});
  // A slot points at its signal's only member, so at the signal itself.
  const void* signal = slot.*member_of(SlotSignal{});
  *out = loop->task_index_.find(signal);
  return nullptr;  // not handed on: the pump loop resumes the frame at once
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

Task<AnyTask> current_task() {
  detail::require_running_loop();
  detail::TaskStateBase* st = nullptr;
  co_await detail::FindCurrentTask{&st};
  co_return st ? AnyTask(st->share()) : AnyTask();
}

std::vector<AnyTask> all_tasks() {
  auto& loop = get_running_loop();
  std::vector<AnyTask> out;
  out.reserve(loop.all_tasks_count());
  for (auto* t = loop.tasks_head_; t; t = t->next) out.emplace_back(t->share());
  std::reverse(out.begin(), out.end());
  return out;
}
std::vector<std::string> all_task_names() { return get_running_loop().all_task_names(); }

}  // namespace aio
