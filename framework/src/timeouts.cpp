// Timeout: the deadline's timer and asyncio's state machine (CPython's
// timeouts.py: created, entered, expiring, expired, exited).
#include <aio/timeouts.hpp>

#include <system_error>

#include <aio/runners.hpp>

namespace aio {
namespace detail {

struct TimeoutState {
  enum class Phase { created, entered, expiring, expired, exited };
  Phase phase = Phase::created;
  std::optional<Timeout::clock::time_point> when;
  TaskStateBase* task = nullptr;
  unsigned entry_cancelling = 0;
  // A fired handler may already be queued when the timer is moved or
  // cancelled: it only acts if its generation is still the current one.
  unsigned generation = 0;
  std::optional<asio::steady_timer> timer;
};

namespace {

void arm(const std::shared_ptr<TimeoutState>& st) {
  const unsigned gen = ++st->generation;
  if (!st->when) {
    st->timer->cancel();
    return;
  }
  st->timer->expires_at(*st->when);
  st->timer->async_wait([st, gen](std::error_code ec) {
    if (ec || gen != st->generation || st->phase != TimeoutState::Phase::entered) return;
    st->phase = TimeoutState::Phase::expiring;
    st->task->cancel_task({});
  });
}

}  // namespace

void timeout_enter(const std::shared_ptr<TimeoutState>& st, TaskStateBase* task) {
  if (st->phase != TimeoutState::Phase::created) throw RuntimeError("Timeout has already been entered");
  if (!task) throw RuntimeError("Timeout should be used inside a task");
  st->task = task;
  st->entry_cancelling = task->cancelling;
  st->phase = TimeoutState::Phase::entered;
  st->timer.emplace(loop_context(require_running_loop()));
  arm(st);
}

std::exception_ptr timeout_leave(TimeoutState& st, std::exception_ptr error, bool& withdraw) {
  ++st.generation;
  if (st.timer) st.timer->cancel();
  if (st.phase == TimeoutState::Phase::expiring) {
    st.phase = TimeoutState::Phase::expired;
    const unsigned left = st.task->uncancel();
    if (left <= st.entry_cancelling && is_cancellation(error)) error = std::make_exception_ptr(TimeoutError());
    // The request this deadline made may not have been delivered (the body
    // ended without waiting again): with no other request left, withdraw it
    // so that the task's next wait does not raise for it.
    withdraw = left == 0;
  } else if (st.phase == TimeoutState::Phase::entered) {
    st.phase = TimeoutState::Phase::exited;
  }
  st.task = nullptr;
  return error;
}

}  // namespace detail

Timeout::Timeout(std::optional<clock::time_point> when) : st_(std::make_shared<detail::TimeoutState>()) {
  st_->when = when;
}

Timeout::~Timeout() = default;

std::optional<Timeout::clock::time_point> Timeout::when() const noexcept { return st_->when; }

bool Timeout::expired() const noexcept {
  using Phase = detail::TimeoutState::Phase;
  return st_->phase == Phase::expiring || st_->phase == Phase::expired;
}

void Timeout::reschedule(std::optional<clock::time_point> when) {
  using Phase = detail::TimeoutState::Phase;
  switch (st_->phase) {
    case Phase::entered:
      break;
    case Phase::created:
      throw RuntimeError("Timeout has not been entered");
    case Phase::expiring:
      throw RuntimeError("Cannot change state of expiring Timeout");
    case Phase::expired:
      throw RuntimeError("Cannot change state of expired Timeout");
    case Phase::exited:
      throw RuntimeError("Cannot change state of exited Timeout");
  }
  st_->when = when;
  detail::arm(st_);
}

}  // namespace aio
