// aio/detail/inline_frame.hpp — internal. A Task's coroutine frame kept inside an object, its body written by hand.
//
// Why: the echo path waits twice per message, in StreamReader::read_some()
// and StreamWriter::drain(). As coroutines they cost a frame per call:
// allocated, pushed on the task's stack, resumed, popped and freed, and
// cold again by the time the connection's next message arrives. At 1,000
// connections those frames were what kept aio above the epoll C server's
// CPU per message (docs/performance-echo.md).
//
// How: asio::awaitable<T> drives its frame only through awaitable_frame<T>
// (the promise: links, result, exception) and the frame's coroutine handle
// (resume(), destroy()). An InlineFrame is such a promise, preceded by the
// two words every C++ coroutine frame starts with (GCC, Clang and MSVC
// share that layout: the resume function, then the destroy function), and
// its handle points at them. So resuming "the coroutine" runs the derived
// class's step(), a small state machine doing what the coroutine did, and
// destroying it makes the frame idle for the next call instead of freeing
// it. test_inline_frame.cpp checks the layout. Written against Asio 1.22's
// awaitable_frame (Debian 12's libasio-dev), like socket_read_op.hpp and
// epoll_hints.cpp: recheck all three when Asio changes.
//
// One frame per owner (the stream state): the call uses it when it is idle
// and falls back to an ordinary coroutine otherwise (a second Task created
// before the first is awaited). The frame is busy from start() until the
// Task is destroyed (awaited, or dropped); the Task must not outlive the
// owner, as any Task of a member function must not outlive its object.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <coroutine>
#include <cstdint>
#include <utility>

namespace aio::detail {

// The coroutine frame ABI an InlineFrame relies on: a
// std::coroutine_handle's resume() and destroy() call the first and the
// second word of its frame, with the frame's address.
struct CoroutineFrameHeader {
  void (*resume)(void* frame);
  void (*destroy)(void* frame);
};

// Derived provides `void step() noexcept` (the body, run on every resume;
// it ends with finish()) and `void dropped() noexcept` (what the body held
// is given back: the Task was destroyed before the body finished).
template <class Derived, class T>
class InlineFrame : private CoroutineFrameHeader {
 public:
  InlineFrame(const InlineFrame&) = delete;
  InlineFrame& operator=(const InlineFrame&) = delete;

  bool idle() const noexcept { return stage_ == Stage::idle; }

 protected:
  using Executor = asio::any_io_executor;
  using Base = asio::detail::awaitable_frame<T, Executor>;

  // awaitable_frame's members are protected: named here.
  struct Promise : Base {
    void attach_to(CoroutineFrameHeader* h) noexcept { this->coro_ = std::coroutine_handle<>::from_address(h); }
    void clear_exception() noexcept { this->pending_exception_ = nullptr; }
    // check_cancelled()'s test-and-reset, for a body with no co_await.
    bool take_cancellation() noexcept {
      auto* thread = this->attached_thread_;
      if (thread->get_cancellation_state().cancelled() == asio::cancellation_type::none) return false;
      thread->reset_cancellation_state();
      return true;
    }
  };

  enum class Stage : std::uint8_t {
    idle,     // no Task refers to the frame
    started,  // created or awaited: the next resume runs the body's entry
    running,  // suspended in the body's own wait (the derived class's)
    waiting,  // a coroutine pushed by await_above() runs above the frame
    done,     // popped: the caller takes the result, then destroys the Task
  };

  InlineFrame() noexcept : CoroutineFrameHeader{&InlineFrame::resume_frame, &InlineFrame::destroy_frame} {}
  ~InlineFrame() = default;

  asio::awaitable<T> start() noexcept {
    stage_ = Stage::started;
    promise_.clear_exception();
    auto task = promise_.get_return_object();
    promise_.attach_to(this);  // get_return_object() points it where a compiler's frame would start
    return task;
  }

  // `co_await w`: pushes w's frame above this one; the next step() (stage
  // waiting) runs once it is done and calls resume_after_wait().
  void await_above(asio::awaitable<void> w) noexcept {
    wait_ = std::move(w);
    stage_ = Stage::waiting;
    wait_.await_suspend(std::coroutine_handle<Base>::from_promise(promise_));
  }
  // What the wait returned: nothing, or its exception rethrown.
  void resume_after_wait() {
    asio::awaitable<void> w(std::move(wait_));
    w.await_resume();
  }

  // The body's end (after promise_.return_value() or set_except(), or
  // neither for T = void): as at a coroutine's final suspend, the frame
  // pops itself off the task's stack and Asio's pump resumes the caller.
  void finish() noexcept {
    stage_ = Stage::done;
    promise_.pop_frame();
  }

  Promise promise_;
  Stage stage_ = Stage::idle;

 private:
  static void resume_frame(void* header) noexcept {
    static_cast<Derived*>(static_cast<InlineFrame*>(static_cast<CoroutineFrameHeader*>(header)))->step();
  }
  // The Task is gone: awaited (the frame is done), or dropped in any stage,
  // as when its task's stack is torn down while it waits.
  static void destroy_frame(void* header) noexcept {
    auto* f = static_cast<InlineFrame*>(static_cast<CoroutineFrameHeader*>(header));
    if (f->wait_.valid()) asio::awaitable<void> dropped(std::move(f->wait_));
    static_cast<Derived*>(f)->dropped();
    f->stage_ = Stage::idle;
  }

  asio::awaitable<void> wait_;
};

}  // namespace aio::detail
