#include <aio/detail/child_set.hpp>

namespace aio::detail {

void ChildSet::add(std::shared_ptr<FutureStateBase> child) {
  ++pending_;
  children_.push_back(child);
  FutureStateBase* raw = child.get();
  child->on_done([self = shared_from_this(), raw] { self->child_done(*raw); });
}

void ChildSet::child_done(FutureStateBase& child) {
  if (child.cancelled()) {
    any_cancelled_ = true;
  } else if (child.error()) {
    errors_.push_back(child.error());
    if (fail_fast_ && errors_.size() == 1) cancel_all();
  }
  if (--pending_ == 0) waiters_.wake_all();
}

void ChildSet::cancel_all() {
  for (auto& c : children_)
    if (!c->done()) c->cancel({});
}

asio::awaitable<void> ChildSet::wait_all() {
  auto keep = shared_from_this();
  if (co_await cancel_pending()) {
    // Pending before the wait began: forwarded all the same, so no child is
    // left running unobserved.
    co_await asio::this_coro::reset_cancellation_state();
    outer_cancelled_ = true;
    cancel_all();
  }
  if (pending_ == 0) co_return;
  Waiter w;
  w.on_cancel = [](Waiter&, void* arg) {
    auto* set = static_cast<ChildSet*>(arg);
    set->outer_cancelled_ = true;  // before the children see it: aborting() holds while they unwind
    set->cancel_all();
  };
  w.on_cancel_arg = this;
  co_await park(waiters_, w);
  if (w.cancel_forwarded) {
    outer_cancelled_ = true;
    co_await asio::this_coro::reset_cancellation_state();
  }
}

}  // namespace aio::detail
