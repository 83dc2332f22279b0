// aio/detail/wait_list.hpp — internal. The one way an aio primitive parks a task.
//
// A Waiter lives in the waiting coroutine's frame (no allocation); a WaitList
// is an intrusive FIFO of them. Waking only schedules the waiter: like
// CPython's locks.py and queues.py, the woken task takes the item or permit
// itself when it runs, so a waiter that is woken and then cancelled can pass
// its wake-up on instead of losing it.
//
// Resumption is always posted to the loop, never run inside wake_one(), so a
// primitive's state is consistent before any woken task runs (asyncio's
// call_soon), and wakers never recurse into the woken coroutine.
#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <cstddef>
#include <optional>
#include <utility>

#include <aio/exceptions.hpp>

namespace aio::detail {

class WaitList;

using ResumeHandler = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

struct Waiter {
  Waiter() = default;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Called instead of the default (unlink and resume as cancelled) when the
  // waiting task is cancelled; used where cancelling the waiter must cancel
  // what it waits for (TaskHandle::join, Future::wait) and keep waiting.
  void (*on_cancel)(Waiter&, void*) = nullptr;
  void* on_cancel_arg = nullptr;

  bool woken = false;      // resumed by wake_one/wake_all
  bool cancelled = false;  // resumed because its task was cancelled while queued
  bool cancel_forwarded = false;  // on_cancel ran

  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  WaitList* list = nullptr;  // set while queued
  std::optional<ResumeHandler> handler;

  bool queued() const noexcept { return list != nullptr; }

  // Schedules the waiting coroutine to resume; idempotent. Posted to the
  // handler's own executor (post(h), not post(ex, h): the latter wraps the
  // handler in a work_dispatcher that dispatches a second time).
  void resume() {
    if (!handler) return;
    auto h = std::move(*handler);
    handler.reset();
    asio::post(std::move(h));
  }
};

// One posted operation that resumes a chain of woken waiters in FIFO order
// (wake_all): no allocation per waiter. The chain runs through Waiter::next
// (free once a waiter is off its list); each waiter keeps its handler, and
// with it its suspended frames, until the batch runs it. A batch destroyed
// without running (loop shut down) destroys them, as a dropped handler would.
class ResumeBatch {
 public:
  explicit ResumeBatch(Waiter* head) noexcept : head_(head) {}
  ResumeBatch(ResumeBatch&& o) noexcept : head_(std::exchange(o.head_, nullptr)) {}
  ResumeBatch(const ResumeBatch&) = delete;
  ResumeBatch& operator=(const ResumeBatch&) = delete;
  ResumeBatch& operator=(ResumeBatch&&) = delete;
  ~ResumeBatch() { run(false); }

  void operator()() { run(true); }

 private:
  // Reads each link before touching its waiter: resuming (or destroying) a
  // waiter's handler may free the frame the Waiter lives in.
  void run(bool invoke) {
    while (Waiter* w = head_) {
      head_ = w->next;
      w->next = nullptr;
      if (!w->handler) continue;  // resumed some other way meanwhile
      auto h = std::move(*w->handler);
      w->handler.reset();
      if (invoke) std::move(h)();
    }
  }

  Waiter* head_;
};

class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  Waiter* front() const noexcept { return head_; }

  void push_back(Waiter& w) noexcept {
    w.list = this;
    w.prev = tail_;
    w.next = nullptr;
    if (tail_) tail_->next = &w; else head_ = &w;
    tail_ = &w;
    ++size_;
  }

  void remove(Waiter& w) noexcept {
    if (w.list != this) return;
    if (w.prev) w.prev->next = w.next; else head_ = w.next;
    if (w.next) w.next->prev = w.prev; else tail_ = w.prev;
    w.prev = w.next = nullptr;
    w.list = nullptr;
    --size_;
  }

  // Wakes the first waiter; false if there was none.
  bool wake_one() {
    Waiter* w = head_;
    if (!w) return false;
    remove(*w);
    w->woken = true;
    w->resume();
    return true;
  }

  // Wakes every waiter; they resume one after the other, in FIFO order, from
  // one posted operation (no allocation per waiter).
  std::size_t wake_all() {
    Waiter* first = head_;
    if (!first) return 0;
    const std::size_t n = size_;
    for (Waiter* w = first; w; w = w->next) {
      w->list = nullptr;
      w->prev = nullptr;
      w->woken = true;
    }
    head_ = tail_ = nullptr;
    size_ = 0;
    if (n == 1) {
      first->resume();
      return 1;
    }
    auto ex = asio::get_associated_executor(*first->handler);
    asio::post(ex, ResumeBatch(first));
    return n;
  }

  template <class F>
  void for_each(F&& f) const {
    for (Waiter* w = head_; w; w = w->next) f(*w);
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

struct CancelWaiter {
  Waiter* w;
  void operator()(asio::cancellation_type) const {
    if (w->on_cancel) {
      w->cancel_forwarded = true;
      w->on_cancel(*w, w->on_cancel_arg);
      return;
    }
    if (!w->queued()) return;  // already woken: the wake-up stands
    w->list->remove(*w);
    w->cancelled = true;
    w->resume();
  }
};

struct ParkInitiation {
  WaitList* list;
  Waiter* w;
  template <class Handler>
  void operator()(Handler&& h) const {
    w->handler.emplace(std::forward<Handler>(h));
    list->push_back(*w);
    auto slot = asio::get_associated_cancellation_slot(*w->handler);
    if (slot.is_connected()) slot.template emplace<CancelWaiter>(CancelWaiter{w});
  }
};

// Parks the calling task on `list` until woken (w.woken) or cancelled while
// queued (w.cancelled). Never throws by itself; callers decide what a
// cancellation means for their primitive.
[[nodiscard]] inline asio::awaitable<void> park(WaitList& list, Waiter& w) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(ParkInitiation{&list, &w},
                                                                       asio::use_awaitable);
}

// The frame-free spelling of check_cancelled() and cancel_pending(), used on
// every hot path (streams, locks, queues):
//   if (cancel_requested(co_await asio::this_coro::cancellation_state))
//     co_await raise_cancelled();
// Same semantics, but `co_await this_coro::cancellation_state` needs no
// coroutine frame, where calling check_cancelled() costs one (bench_sync:
// a Queue hand-off took 95 ns with the helper coroutines and 46 ns without).
inline bool cancel_requested(const asio::cancellation_state& cs) noexcept {
  return cs.cancelled() != asio::cancellation_type::none;
}

// True when the calling task has a cancellation request not yet delivered.
[[nodiscard]] inline asio::awaitable<bool> cancel_pending() {
  auto cs = co_await asio::this_coro::cancellation_state;
  co_return cs.cancelled() != asio::cancellation_type::none;
}

// Delivers a cancellation as aio::CancelledError. The task's cancellation
// state is cleared first, so the task may still await while it cleans up:
// like asyncio, one cancel() raises one CancelledError.
[[nodiscard]] inline asio::awaitable<void> raise_cancelled() {
  co_await asio::this_coro::reset_cancellation_state();
  throw CancelledError();
}

// Raises CancelledError if a cancellation is pending; used on entry of every
// aio wait and after every wake-up.
[[nodiscard]] inline asio::awaitable<void> check_cancelled() {
  auto cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none) {
    co_await asio::this_coro::reset_cancellation_state();
    throw CancelledError();
  }
}

}  // namespace aio::detail
