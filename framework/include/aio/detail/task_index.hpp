// aio/detail/task_index.hpp — internal. The loop's live tasks, found by their cancellation signal.
//
// current_task() reaches, through Asio's coroutine frames, the cancellation
// slot its thread of execution was started with; for an aio task that slot
// is the task's own signal. The index answers "which task owns this signal",
// and "none" for a coroutine started with a signal that is not a task's, so
// a foreign signal is never read as a task. Open addressing with linear
// probing and backward-shift deletion: no allocation per task.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aio::detail {

class TaskStateBase;

class TaskIndex {
 public:
  void insert(TaskStateBase* task);
  void erase(TaskStateBase* task) noexcept;
  // The task whose `signal` member lives at `signal`, or nullptr.
  TaskStateBase* find(const void* signal) const noexcept;
  std::size_t size() const noexcept { return size_; }

 private:
  std::size_t slot_of(const void* key) const noexcept;
  void grow();

  std::vector<TaskStateBase*> slots_;
  std::size_t size_ = 0;
};

}  // namespace aio::detail
