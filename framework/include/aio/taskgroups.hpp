// aio/taskgroups.hpp — public. TaskGroup: structured concurrency, as asyncio.TaskGroup.
#pragma once

#include <memory>
#include <string>

#include <aio/detail/child_set.hpp>
#include <aio/tasks.hpp>

namespace aio {

// Children started with create_task all finish before join() returns. The
// first child that fails cancels the others; join() then rethrows that
// failure as it is, or an ExceptionGroup holding every failure when several
// children failed. A group dropped without join() cancels its children (they
// unwind on the loop; they must not refer to the dropped frame).
//
// Concurrency: loop-local, like every aio primitive.
class TaskGroup {
 public:
  TaskGroup() : set_(std::make_shared<detail::ChildSet>(true)) {}
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup() {
    if (!joined_) set_->cancel_all();
  }

  // RuntimeError once join() has finished, and once the group is shutting
  // down (a child failed, or the task in join() was cancelled): the task is
  // then never started, as asyncio's TaskGroup refuses it.
  template <class T>
  TaskHandle<T> create_task(Task<T> task, std::string name = {}) {
    if (joined_) throw RuntimeError("TaskGroup is finished");
    if (set_->aborting()) throw RuntimeError("TaskGroup is shutting down");
    return set_->spawn(std::move(task), std::move(name));
  }

  // Waits for every child.
  //
  // Throws: the one failure; ExceptionGroup for several.
  // Cancellation: cancels every child, waits for them, then raises
  // CancelledError (or the children's failures, as asyncio does).
  [[nodiscard]] Task<void> join();

 private:
  std::shared_ptr<detail::ChildSet> set_;
  bool joined_ = false;
};

}  // namespace aio
