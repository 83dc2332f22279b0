// aio/detail/task_state.hpp — internal. What the loop keeps for every task.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <string>

#include <aio/detail/future_state.hpp>

namespace aio {
class Loop;
}  // namespace aio
namespace aio::detail {
using LoopState = aio::Loop;

// "Task-N", asyncio's default task name (N counts per thread).
std::string next_task_name();

// asyncio's "Task exception was never retrieved": logged when a task that
// failed goes without anyone having asked for its outcome.
void report_unretrieved(const std::string& name, const std::exception_ptr& error) noexcept;

class TaskStateBase {
 public:
  TaskStateBase() = default;
  TaskStateBase(const TaskStateBase&) = delete;
  TaskStateBase& operator=(const TaskStateBase&) = delete;
  virtual ~TaskStateBase();

  // For all_task_names(). Not a member string: a server connection's record
  // has a fixed name and should not carry 32 bytes for it.
  virtual std::string task_name() const = 0;
  virtual void set_task_name(std::string) {}
  // Shared ownership of the task's state, for handles (AnyTask).
  virtual std::shared_ptr<TaskStateBase> share() = 0;
  // Requests cancellation with a message; false once the task has ended.
  virtual bool cancel_task(std::string msg);

  // The signal is the cancellation slot the task's coroutine runs with:
  // emitting on it cancels the operation the task awaits.
  asio::cancellation_signal signal;
  // Cancellation requests not withdrawn by uncancel() (asyncio's
  // Task.cancelling()): a timeout turns a CancelledError into TimeoutError
  // only when no other request is outstanding.
  unsigned cancelling = 0;
  bool started = false;
  bool ended = false;

  // Intrusive membership in the loop's set of live tasks (all_tasks).
  LoopState* loop = nullptr;
  TaskStateBase* prev = nullptr;
  TaskStateBase* next = nullptr;

  void request_cancel();
  unsigned uncancel() noexcept { return cancelling > 0 ? --cancelling : 0; }
  void unregister();
};

template <class T>
class TaskState final : public FutureState<T>,
                        public TaskStateBase,
                        public std::enable_shared_from_this<TaskState<T>> {
 public:
  explicit TaskState(std::string n) : name(n.empty() ? next_task_name() : std::move(n)) {}
  ~TaskState() override {
    if (this->error_ && !this->retrieved_) report_unretrieved(name, this->error_);
  }

  std::string name;
  std::string task_name() const override { return name; }
  void set_task_name(std::string n) override { name = std::move(n); }
  std::shared_ptr<TaskStateBase> share() override {
    return std::shared_ptr<TaskStateBase>(this->shared_from_this(), static_cast<TaskStateBase*>(this));
  }
  bool cancel_task(std::string msg) override { return cancel(std::move(msg)); }

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
void register_task(LoopState&, TaskStateBase&);

using CoroFrame = asio::detail::awaitable_frame_base<asio::any_io_executor>;
using CoroThread = asio::detail::awaitable_thread<asio::any_io_executor>;

// `co_await FindCurrentTask{&p}` sets p to the aio task the awaiting
// coroutine runs in, or nullptr (a coroutine started with asio::co_spawn).
// The coroutine resumes at once: Asio's pump loop resumes the top frame of a
// thread that was not handed to another operation.
struct FindCurrentTask {
  TaskStateBase** out;
  CoroThread* operator()(CoroFrame* frame) const noexcept;
};

}  // namespace aio::detail
