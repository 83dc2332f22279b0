// Lock, Event, Condition, Semaphore and Barrier: ports of CPython 3.13's
// Lib/asyncio/locks.py onto detail::WaitList.
//
// One difference in bookkeeping: a CPython waiter stays in `_waiters` until
// its task runs, whereas WaitList unlinks a waiter when it is woken or
// cancelled. What CPython finds by scanning `_waiters` for done futures is
// kept here as a counter of woken-but-not-yet-resumed waiters (handoff_,
// woken_), so every decision is O(1).
#include <aio/locks.hpp>

#include <asio/this_coro.hpp>

#include <limits>

namespace aio {

namespace {

std::string with_waiters(std::string head, std::size_t waiters) {
  if (waiters) head += ", waiters:" + std::to_string(waiters);
  return head;
}

}  // namespace

// ---------------------------------------------------------------- Lock

Task<void> Lock::acquire() {
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
    co_await detail::raise_cancelled();
  // Fair: take the lock only if nobody is queued or on the way to it.
  if (!locked_ && !handoff_ && waiters_.empty()) {
    locked_ = true;
    co_return;
  }
  detail::Waiter w;
  co_await detail::park(waiters_, w);
  if (w.cancelled) co_await detail::raise_cancelled();
  // release() woke us and reserved the lock for us.
  handoff_ = false;
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state)) {
    // Woken, then cancelled before we ran: hand the lock to the next waiter
    // (CPython bpo-27585: otherwise it would stay free with tasks queued).
    wake_first();
    co_await detail::raise_cancelled();
  }
  locked_ = true;
}

void Lock::release() {
  if (!locked_) throw RuntimeError("Lock is not acquired.");
  locked_ = false;
  wake_first();
}

Task<Lock::Guard> Lock::scoped() {
  co_await acquire();
  co_return Guard(*this);
}

void Lock::wake_first() {
  if (!locked_ && !handoff_ && waiters_.wake_one()) handoff_ = true;
}

std::string Lock::describe() const {
  return with_waiters(std::string("Lock [") + (locked_ ? "locked" : "unlocked"), waiters()) + "]";
}

// ---------------------------------------------------------------- Event

void Event::set() {
  if (value_) return;
  value_ = true;
  woken_ += waiters_.wake_all();
}

Task<void> Event::wait() {
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
    co_await detail::raise_cancelled();
  if (value_) co_return;
  detail::Waiter w;
  co_await detail::park(waiters_, w);
  if (w.cancelled) co_await detail::raise_cancelled();
  --woken_;
  // Woken, then cancelled before we ran: asyncio raises too. Nothing to pass
  // on: set() woke every waiter.
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
    co_await detail::raise_cancelled();
}

std::string Event::describe() const {
  return with_waiters(std::string("Event [") + (value_ ? "set" : "unset"), waiters()) + "]";
}

// ---------------------------------------------------------------- Condition

Condition::Condition() : own_(std::in_place), lock_(&*own_) {}

Condition::Condition(Lock& lock) noexcept : lock_(&lock) {}

Task<void> Condition::wait() {
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
    co_await detail::raise_cancelled();
  if (!locked()) throw RuntimeError("cannot wait on un-acquired lock");
  release();
  detail::Waiter w;
  co_await detail::park(waiters_, w);
  bool cancelled = w.cancelled;
  if (w.woken) {
    --woken_;
    cancelled = detail::cancel_requested(co_await asio::this_coro::cancellation_state);
  }
  // The caller holds the lock when wait() returns or throws, whatever
  // happens: re-acquire even when cancelled, and absorb cancellations that
  // arrive while re-acquiring (they are reported once, below).
  if (cancelled) co_await asio::this_coro::reset_cancellation_state();
  for (;;) {
    try {
      co_await lock_->acquire();
      break;
    } catch (const CancelledError&) {
      cancelled = true;
    }
  }
  if (cancelled) {
    // A notification that reached us must not be lost: pass it on. (CPython
    // notifies one on any failure; we know whether we were notified.)
    if (w.woken) wake(1);
    throw CancelledError();
  }
}

void Condition::notify(std::size_t n) {
  if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
  wake(n);
}

void Condition::notify_all() { notify(waiters_.size()); }

void Condition::wake(std::size_t n) {
  for (std::size_t i = 0; i < n && waiters_.wake_one(); ++i) ++woken_;
}

std::string Condition::describe() const {
  return with_waiters(std::string("Condition [") + (locked() ? "locked" : "unlocked"), waiters()) +
         "]";
}

// ---------------------------------------------------------------- Semaphore

namespace {

std::size_t checked_value(std::ptrdiff_t value) {
  if (value < 0) throw ValueError("Semaphore initial value must be >= 0");
  return static_cast<std::size_t>(value);
}

}  // namespace

Semaphore::Semaphore(std::ptrdiff_t value) : Semaphore(value, false) {}

Semaphore::Semaphore(std::ptrdiff_t value, bool bounded)
    : value_(checked_value(value)),
      bound_(bounded ? value_ : std::numeric_limits<std::size_t>::max()) {}

Task<void> Semaphore::acquire() {
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
    co_await detail::raise_cancelled();
  if (!locked()) {
    --value_;
    co_return;
  }
  detail::Waiter w;
  co_await detail::park(waiters_, w);
  if (w.cancelled) {
    wake_up_while_free();
    co_await detail::raise_cancelled();
  }
  // wake_up_next() reserved a permit for us (value_ was decremented then).
  --woken_;
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state)) {
    // Woken, then cancelled before we ran: give the permit back and on.
    ++value_;
    wake_up_while_free();
    co_await detail::raise_cancelled();
  }
  // Tasks that queued behind us while permits were free (FIFO made them
  // wait for us) may go now.
  wake_up_while_free();
}

void Semaphore::release() {
  if (value_ + woken_ >= bound_) throw ValueError("BoundedSemaphore released too many times");
  ++value_;
  wake_up_next();
}

Task<Semaphore::Guard> Semaphore::scoped() {
  co_await acquire();
  co_return Guard(*this);
}

bool Semaphore::wake_up_next() {
  if (value_ == 0 || !waiters_.wake_one()) return false;
  --value_;
  ++woken_;
  return true;
}

void Semaphore::wake_up_while_free() {
  while (wake_up_next()) {
  }
}

std::string Semaphore::describe() const {
  std::string s = locked() ? "Semaphore [locked" : "Semaphore [unlocked, value:" + std::to_string(value_);
  return with_waiters(std::move(s), waiters()) + "]";
}

// ---------------------------------------------------------------- Barrier

namespace {

std::size_t checked_parties(std::ptrdiff_t parties) {
  if (parties < 1) throw ValueError("parties must be >= 1");
  return static_cast<std::size_t>(parties);
}

}  // namespace

Barrier::Barrier(std::ptrdiff_t parties) : parties_(checked_parties(parties)) {}

Task<std::size_t> Barrier::wait() {
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
    co_await detail::raise_cancelled();
  auto guard = co_await cond_.scoped();
  co_await block();  // while the previous round drains or resets
  std::size_t index = count_++;
  try {
    if (index + 1 == parties_) {
      release_round();
    } else {
      co_await wait_released();
    }
  } catch (...) {
    --count_;
    exit_round();
    throw;
  }
  --count_;
  exit_round();
  co_return index;
}

Task<void> Barrier::block() {
  auto ready = [this] { return state_ != State::draining && state_ != State::resetting; };
  co_await cond_.wait_for(ready);
  if (state_ == State::broken) throw BrokenBarrierError();
}

Task<void> Barrier::wait_released() {
  auto released = [this] { return state_ != State::filling; };
  co_await cond_.wait_for(released);
  if (state_ == State::broken || state_ == State::resetting) throw BrokenBarrierError();
}

void Barrier::release_round() {
  state_ = State::draining;
  cond_.notify_all();
}

void Barrier::exit_round() {
  // The last task out lets the tasks blocked by draining or resetting in.
  if (count_ == 0) {
    if (state_ == State::resetting || state_ == State::draining) state_ = State::filling;
    cond_.notify_all();
  }
}

Task<void> Barrier::reset() {
  auto guard = co_await cond_.scoped();
  if (count_ > 0) {
    state_ = State::resetting;
  } else {
    state_ = State::filling;
  }
  cond_.notify_all();
}

Task<void> Barrier::abort() {
  auto guard = co_await cond_.scoped();
  state_ = State::broken;
  cond_.notify_all();
}

std::string Barrier::describe() const {
  static constexpr const char* names[] = {"filling", "draining", "resetting", "broken"};
  std::string s = std::string("Barrier [") + names[static_cast<int>(state_)];
  if (state_ != State::broken) s += ", waiters:" + std::to_string(n_waiting()) + "/" + std::to_string(parties_);
  return s + "]";
}

}  // namespace aio
