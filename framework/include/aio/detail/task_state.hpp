// aio/detail/task_state.hpp — internal. What the loop keeps for every task.
#pragma once

#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>

#include <cstddef>
#include <string>

#include <aio/detail/future_state.hpp>

namespace aio::detail {

}  // namespace aio::detail
namespace aio {
class Loop;
}  // namespace aio
namespace aio::detail {
using LoopState = aio::Loop;

// "Task-N", asyncio's default task name (N counts per thread).
std::string next_task_name();

class TaskStateBase {
 public:
  TaskStateBase() = default;
  TaskStateBase(const TaskStateBase&) = delete;
  TaskStateBase& operator=(const TaskStateBase&) = delete;
  virtual ~TaskStateBase();

  // For all_task_names(). Not a member string: a server connection's record
  // has a fixed name and should not carry 32 bytes for it.
  virtual std::string task_name() const = 0;

  asio::cancellation_signal signal;
  bool cancel_requested = false;
  bool started = false;

  // Intrusive membership in the loop's set of live tasks (all_tasks).
  LoopState* loop = nullptr;
  TaskStateBase* prev = nullptr;
  TaskStateBase* next = nullptr;

  void request_cancel();
  void unregister();
};

template <class T>
class TaskState final : public FutureState<T>, public TaskStateBase {
 public:
  explicit TaskState(std::string n) : name(n.empty() ? next_task_name() : std::move(n)) {}

  std::string name;
  std::string task_name() const override { return name; }

  bool cancel(std::string msg) override {
    if (this->done_) return false;
    this->cancel_message_ = std::move(msg);
    request_cancel();
    return true;
  }

  // Called by the task's own coroutine when it has ended.
  void end_cancelled() {
    unregister();
    this->finish_cancelled();
  }
  void end_failed(std::exception_ptr e) {
    unregister();
    this->error_ = std::move(e);
    this->finish();
  }
  template <class... A>
  void end_with(A&&... a) {
    unregister();
    this->set_value(std::forward<A>(a)...);
  }
};

// The loop this thread is running, or nullptr.
LoopState* running_loop_state() noexcept;
LoopState& require_running_loop();
asio::io_context& loop_context(LoopState&) noexcept;
void register_task(LoopState&, TaskStateBase&) noexcept;

}  // namespace aio::detail
