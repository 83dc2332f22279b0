// aio/detail/child_set.hpp — internal. The children of a TaskGroup or a gather.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <aio/tasks.hpp>

namespace aio::detail {

// Tracks child tasks until every one has finished. With fail_fast, the first
// child that fails (not by cancellation) cancels the others. Owned by a
// shared_ptr that the children's done-callbacks share, so a group that is
// dropped early never leaves a callback dangling.
class ChildSet : public std::enable_shared_from_this<ChildSet> {
 public:
  explicit ChildSet(bool fail_fast) : fail_fast_(fail_fast) {}

  template <class T>
  TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
    auto h = create_task(std::move(task), std::move(name));
    add(h.state());
    return h;
  }

  void add(std::shared_ptr<FutureStateBase> child);
  void cancel_all();

  // Waits until every child is done. Cancelling the waiter cancels every
  // child and still waits for them; outer_cancelled() then says so.
  asio::awaitable<void> wait_all();

  bool outer_cancelled() const noexcept { return outer_cancelled_; }
  // A child failed (fail_fast) or the waiter was cancelled: the set is
  // cancelling what it has, and a TaskGroup takes no new child.
  bool aborting() const noexcept { return outer_cancelled_ || (fail_fast_ && !errors_.empty()); }
  const std::vector<std::exception_ptr>& errors() const noexcept { return errors_; }
  std::size_t pending() const noexcept { return pending_; }
  bool any_cancelled() const noexcept { return any_cancelled_; }

 private:
  void child_done(FutureStateBase& child);

  bool fail_fast_;
  bool outer_cancelled_ = false;
  bool any_cancelled_ = false;
  std::size_t pending_ = 0;
  std::vector<std::shared_ptr<FutureStateBase>> children_;
  std::vector<std::exception_ptr> errors_;
  WaitList waiters_;
};

}  // namespace aio::detail
