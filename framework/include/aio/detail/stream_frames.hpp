// aio/detail/stream_frames.hpp — internal. The frames of read_some() and drain(), kept for reuse.
//
// The echo path's two waits, StreamReader::read_some() and
// StreamWriter::drain(), run in these InlineFrames (inline_frame.hpp): no
// coroutine frame is allocated, resumed or freed per message. Each step()
// is the body of the coroutine it replaces. read_some's frame is a member
// of the stream state (it waits with the connection), drain's is per
// thread.
#pragma once

#include <string_view>

#include <aio/detail/inline_frame.hpp>

namespace aio::detail {

class StreamState;

class ReadSomeFrame : public InlineFrame<ReadSomeFrame, std::string_view> {
 public:
  ReadSomeFrame() noexcept = default;
  // StreamReader::read_some() of `st`, which owns this frame. Precondition: idle().
  asio::awaitable<std::string_view> start(StreamState& st) noexcept {
    st_ = &st;
    return InlineFrame::start();
  }

 private:
  friend class InlineFrame<ReadSomeFrame, std::string_view>;
  void step() noexcept;
  void dropped() noexcept { end_reading(); }
  void end_reading() noexcept;

  StreamState* st_ = nullptr;
  bool reading_ = false;  // holds the stream's reading flag (ReadingScope)
};

// drain() has nothing to wait for unless the writer is paused: its frame is
// busy only from drain() to the end of the co_await, so one frame per
// thread serves every connection of the thread's loop, and stays in cache.
// A drain that must wait holds it while it waits; others created meanwhile
// fall back to frames of their own.
class DrainFrame : public InlineFrame<DrainFrame, void> {
 public:
  DrainFrame() noexcept = default;
  // The calling thread's frame (aio's streams are loop-local).
  static DrainFrame& this_thread() noexcept;
  // StreamWriter::drain() of `st`. Precondition: idle().
  asio::awaitable<void> start(StreamState& st) noexcept {
    st_ = &st;
    return InlineFrame::start();
  }

 private:
  friend class InlineFrame<DrainFrame, void>;
  void step() noexcept;
  void dropped() noexcept {}

  StreamState* st_ = nullptr;
};

}  // namespace aio::detail
