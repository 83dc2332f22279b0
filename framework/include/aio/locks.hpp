// aio/locks.hpp — public. Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier.
//
// The synchronisation primitives of asyncio's locks.py (CPython 3.13), with
// the same semantics and the same waiter hand-off rules:
//   - Lock               FIFO mutual exclusion; a woken waiter is never barged
//   - Event              a flag that tasks wait for
//   - Condition          wait/notify over a Lock (its own or a given one)
//   - Semaphore          a counter of permits, FIFO
//   - BoundedSemaphore   a Semaphore that refuses to be released too often
//   - Barrier            N tasks meet, then all go on
//   - ReleaseGuard<M>    the RAII guard returned by scoped()
//
// Threading: every primitive belongs to the loop that uses it and is not
// thread-safe, which is what makes it cheap (no atomics, no allocation: a
// waiting task parks a detail::Waiter that lives in its own coroutine frame).
//
// Hand-off rules (why the code looks the way it does): waking a task only
// schedules it; the woken task takes the lock or the permit itself when it
// runs. A task that is woken and then cancelled before it runs passes its
// wake-up on to the next waiter, so a cancellation never loses a wake-up and
// never leaks a permit (CPython bpo-27585, bpo-32734, gh-90155).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/this_coro.hpp>

#include <aio/detail/wait_list.hpp>
#include <aio/exceptions.hpp>
#include <aio/tasks.hpp>

namespace aio {

// Releases what it holds (a Lock, a Condition's lock, a Semaphore permit)
// when destroyed; returned by scoped(). Move-only.
//
// Example:
//   auto guard = co_await lock.scoped();   // released at the end of scope
template <class M>
class [[nodiscard]] ReleaseGuard {
 public:
  ReleaseGuard() = default;
  explicit ReleaseGuard(M& m) noexcept : m_(&m) {}
  ReleaseGuard(ReleaseGuard&& other) noexcept : m_(std::exchange(other.m_, nullptr)) {}
  ReleaseGuard& operator=(ReleaseGuard&& other) noexcept {
    if (this != &other) {
      reset();
      m_ = std::exchange(other.m_, nullptr);
    }
    return *this;
  }
  ReleaseGuard(const ReleaseGuard&) = delete;
  ReleaseGuard& operator=(const ReleaseGuard&) = delete;
  ~ReleaseGuard() { reset(); }

  // Releases now instead of at the end of the scope.
  void release() { reset(); }
  bool owns() const noexcept { return m_ != nullptr; }

 private:
  void reset() {
    if (M* m = std::exchange(m_, nullptr)) m->release();
  }
  M* m_ = nullptr;
};

// A FIFO mutual-exclusion lock, asyncio.Lock. Not owned by a task: any task
// may release it. When released with waiters queued, the first waiter is
// woken and the lock stays reserved for it until it runs: a task arriving in
// between queues behind it instead of barging in.
class Lock {
 public:
  using Guard = ReleaseGuard<Lock>;

  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Waits until the lock is free and this task's turn has come, then takes it.
  //
  // Cancellation: raises CancelledError and leaves the lock as if this task
  // had never waited; if it had already been woken, the lock passes to the
  // next waiter.
  [[nodiscard]] Task<void> acquire();

  // Frees the lock and wakes the first waiter.
  // Throws: RuntimeError if the lock is not locked.
  void release();

  bool locked() const noexcept { return locked_; }

  // acquire(), then a guard that releases when it goes out of scope.
  // Cancellation: as acquire(); no guard is returned, nothing is held.
  [[nodiscard]] Task<Guard> scoped();

  // Tasks in acquire() that have not yet returned (queued or woken).
  std::size_t waiters() const noexcept { return waiters_.size() + (handoff_ ? 1 : 0); }

  // "Lock [locked, waiters:2]", as asyncio's repr.
  std::string describe() const;

 private:
  void wake_first();

  detail::WaitList waiters_;
  bool locked_ = false;
  bool handoff_ = false;  // a woken waiter is on its way to take the lock
};

// A flag that tasks can wait for, asyncio.Event. set() wakes every task
// waiting at that moment, even if clear() follows before they run.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes every waiter; a no-op if already set.
  void set();
  // Resets the flag; tasks woken by an earlier set() still return.
  void clear() noexcept { value_ = false; }
  bool is_set() const noexcept { return value_; }

  // Returns at once if the flag is set, else waits for set().
  //
  // Cancellation: raises CancelledError; nothing is lost (a set() that
  // woke this task has woken every other waiter too).
  [[nodiscard]] Task<void> wait();

  // Tasks in wait() that have not yet returned (queued or woken).
  std::size_t waiters() const noexcept { return waiters_.size() + woken_; }

  // "Event [set, waiters:1]".
  std::string describe() const;

 private:
  detail::WaitList waiters_;
  std::size_t woken_ = 0;  // woken by set(), not yet resumed
  bool value_ = false;
};

// A condition variable, asyncio.Condition: tasks wait() until notified,
// holding the lock before and after. Built over its own Lock or over one it
// is given (which must outlive it).
class Condition {
 public:
  Condition();
  explicit Condition(Lock& lock) noexcept;
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // The underlying lock's acquire().
  // Cancellation: as Lock::acquire().
  [[nodiscard]] Task<void> acquire() { return lock_->acquire(); }
  // The underlying lock's release(). Throws: RuntimeError if not locked.
  void release() { lock_->release(); }
  bool locked() const noexcept { return lock_->locked(); }
  // The underlying lock's scoped().
  // Cancellation: as Lock::acquire().
  [[nodiscard]] Task<Lock::Guard> scoped() { return lock_->scoped(); }

  // Releases the lock, waits until notified, re-acquires the lock. May wake
  // spuriously, so callers re-check their condition (or use wait_for).
  //
  // Throws: RuntimeError if the lock is not locked.
  // Cancellation: the lock is re-acquired before CancelledError is raised,
  // even when the cancellation comes while re-acquiring, so the caller's
  // clean-up always runs with the lock held. A notification that reached
  // this task is passed on to the next waiter.
  [[nodiscard]] Task<void> wait();

  // Waits until pred() is truthy and returns its last value. The lock must
  // be held unless pred() is truthy at once.
  //
  // Throws: RuntimeError from wait() if the lock is not locked.
  // Cancellation: as wait(): raises CancelledError with the lock held.
  template <class Pred>
  [[nodiscard]] Task<std::decay_t<std::invoke_result_t<Pred&>>> wait_for(Pred pred) {
    if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
      co_await detail::raise_cancelled();
    auto result = pred();
    while (!result) {
      co_await wait();
      result = pred();
    }
    co_return result;
  }

  // Wakes up to n waiters; each returns once it has re-acquired the lock.
  // Throws: RuntimeError if the lock is not locked.
  void notify(std::size_t n = 1);
  // Wakes every waiter. Throws: RuntimeError if the lock is not locked.
  void notify_all();

  // Tasks in wait() not yet notified, plus notified ones not yet resumed.
  std::size_t waiters() const noexcept { return waiters_.size() + woken_; }

  // "Condition [locked, waiters:1]".
  std::string describe() const;

 private:
  void wake(std::size_t n);

  std::optional<Lock> own_;
  Lock* lock_;
  detail::WaitList waiters_;
  std::size_t woken_ = 0;  // notified, not yet resumed
};

// A counter of permits, asyncio.Semaphore. acquire() takes one, waiting in
// FIFO order while there is none; release() gives one back. A permit freed
// while tasks wait is reserved for the first of them.
class Semaphore {
 public:
  using Guard = ReleaseGuard<Semaphore>;

  // Throws: ValueError if value is negative.
  explicit Semaphore(std::ptrdiff_t value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Takes a permit, waiting for one (and for the tasks queued earlier).
  //
  // Cancellation: raises CancelledError and takes no permit; a permit that
  // was already reserved for this task goes back and on to the next waiter.
  [[nodiscard]] Task<void> acquire();

  // Gives a permit back and wakes the first waiter.
  // Throws: ValueError from a BoundedSemaphore released too many times.
  void release();

  // True when acquire() would wait: no permit free, or tasks (not
  // cancelled) are queued or woken ahead of a newcomer.
  bool locked() const noexcept { return value_ == 0 || woken_ > 0 || !waiters_.empty(); }

  // acquire(), then a guard that releases the permit at the end of scope.
  // Cancellation: as acquire(); no guard is returned, no permit is held.
  [[nodiscard]] Task<Guard> scoped();

  // Free permits not reserved for a woken waiter (asyncio's _value).
  std::size_t value() const noexcept { return value_; }
  // Tasks in acquire() that have not yet returned (queued or woken).
  std::size_t waiters() const noexcept { return waiters_.size() + woken_; }

  // "Semaphore [unlocked, value:2]" or "Semaphore [locked, waiters:1]".
  std::string describe() const;

 protected:
  Semaphore(std::ptrdiff_t value, bool bounded);

 private:
  bool wake_up_next();
  void wake_up_while_free();

  detail::WaitList waiters_;
  std::size_t value_;
  std::size_t bound_;      // release() above it throws; SIZE_MAX when unbounded
  std::size_t woken_ = 0;  // woken waiters whose permit is reserved
};

// A Semaphore that throws ValueError when released more often than
// acquired, asyncio.BoundedSemaphore. The bound holds through a Semaphore&
// too (the check is data, not a virtual override). A permit reserved for a
// woken waiter counts as taken, so releasing into it is refused as well.
class BoundedSemaphore : public Semaphore {
 public:
  // Throws: ValueError if value is negative.
  explicit BoundedSemaphore(std::ptrdiff_t value = 1) : Semaphore(value, true) {}
};

// Lets `parties` tasks meet: each wait() blocks until the last one arrives,
// then all go on, asyncio.Barrier. The barrier is reusable: tasks arriving
// while it drains wait for the next round.
class Barrier {
 public:
  // Throws: ValueError if parties < 1.
  explicit Barrier(std::ptrdiff_t parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Waits until `parties` tasks have called wait(); returns this task's
  // arrival index, 0 .. parties-1 (unique within a round).
  //
  // Throws: BrokenBarrierError if the barrier is broken (abort()) or reset
  // while this task waits.
  // Cancellation: raises CancelledError and leaves the round as if this task
  // had not arrived (n_waiting() drops by one).
  [[nodiscard]] Task<std::size_t> wait();

  // Returns the barrier to its empty state; tasks waiting in it get
  // BrokenBarrierError.
  // Cancellation: may wait for the internal lock; raises CancelledError
  // without resetting.
  [[nodiscard]] Task<void> reset();

  // Breaks the barrier: waiting and future wait() calls throw
  // BrokenBarrierError until reset().
  // Cancellation: may wait for the internal lock; raises CancelledError
  // without breaking.
  [[nodiscard]] Task<void> abort();

  std::size_t parties() const noexcept { return parties_; }
  // Tasks waiting for the current round to fill.
  std::size_t n_waiting() const noexcept { return state_ == State::filling ? count_ : 0; }
  bool broken() const noexcept { return state_ == State::broken; }

  // "Barrier [filling, waiters:2/5]", "Barrier [broken]".
  std::string describe() const;

 private:
  enum class State { filling, draining, resetting, broken };

  Task<void> block();
  Task<void> wait_released();
  void release_round();
  void exit_round();

  Condition cond_;
  std::size_t parties_;
  std::size_t count_ = 0;  // tasks inside wait()
  State state_ = State::filling;
};

}  // namespace aio
