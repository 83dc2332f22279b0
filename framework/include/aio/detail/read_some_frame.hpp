// aio/detail/read_some_frame.hpp — internal. read_some()'s coroutine frame, kept in the stream state, body written by hand.
//
// Why: StreamReader::read_some() is the echo path's one wait. As a
// coroutine it costs a frame per call: allocated, pushed on the task's
// stack, resumed, popped and freed, and cold again (a dozen cache lines'
// worth of stores and misses) every time the connection's next message
// arrives. At 1,000 connections that frame was most of what kept aio
// above the epoll C server's CPU per message (docs/performance-echo.md).
//
// How: asio::awaitable<T> drives its frame only through awaitable_frame<T>
// (the promise: links, result, exception) and the frame's coroutine handle
// (resume(), destroy()). This class is such a promise, preceded by the two
// words every C++ coroutine frame starts with (GCC, Clang and MSVC share
// that layout: the resume function, then the destroy function), and its
// handle points at them. So resuming "the coroutine" runs step() below, a
// small state machine doing what the read_some coroutine did, and
// destroying it makes the frame idle for the next read instead of freeing
// it. test_read_some_frame.cpp checks that a coroutine handle calls
// through those two words.
//
// One frame per stream state: read_some() uses it when it is idle and
// falls back to an ordinary coroutine otherwise (two reads created before
// either is awaited). The frame is busy from read_some() until the
// returned Task is destroyed (awaited, or dropped).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <cstdint>
#include <string_view>

namespace aio::detail {

class StreamState;

// The coroutine frame ABI this class relies on: a std::coroutine_handle's
// resume() and destroy() call the first and the second word of its frame.
struct CoroutineFrameHeader {
  void (*resume)(void* frame);
  void (*destroy)(void* frame);
};

// The frame proper: a coroutine handle's address is its header base.
class ReadSomeFrame : private CoroutineFrameHeader {
 public:
  ReadSomeFrame() noexcept;
  ReadSomeFrame(const ReadSomeFrame&) = delete;
  ReadSomeFrame& operator=(const ReadSomeFrame&) = delete;

  bool idle() const noexcept { return stage_ == Stage::idle; }

  // The read_some() of `st` (which owns this frame) as a Task. Precondition:
  // idle(). The Task must not outlive `st`, as with any read_some() task.
  asio::awaitable<std::string_view> start(StreamState& st) noexcept;

 private:
  using Executor = asio::any_io_executor;
  using Base = asio::detail::awaitable_frame<std::string_view, Executor>;

  // awaitable_frame's links are protected: named here, used by step().
  struct Promise : Base {
    void attach_to(CoroutineFrameHeader* h) noexcept;
    void clear_exception() noexcept { this->pending_exception_ = nullptr; }
    bool take_cancellation() noexcept;
  };

  enum class Stage : std::uint8_t {
    idle,     // no Task refers to the frame
    started,  // created or awaited: the next resume runs the entry checks
    reading,  // a socket read is in flight (or completed with its result)
    waiting,  // the general wait (StreamState::wait_for_data) runs above it
    done,     // popped: the caller takes the result, then destroys the Task
  };

  static void resume_frame(void* header) noexcept;
  static void destroy_frame(void* header) noexcept;
  void step() noexcept;
  void end_reading() noexcept;

  Promise promise_;
  StreamState* st_ = nullptr;
  asio::awaitable<void> wait_;  // Stage::waiting: the wait above this frame
  Stage stage_ = Stage::idle;
  bool reading_ = false;  // holds the stream's reading flag (ReadingScope)
};

}  // namespace aio::detail
