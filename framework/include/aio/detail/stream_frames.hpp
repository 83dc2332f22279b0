// aio/detail/stream_frames.hpp — internal. The frames of read_some() and drain(), kept in the stream state.
//
// The echo path's two waits, StreamReader::read_some() and
// StreamWriter::drain(), run in these InlineFrames (inline_frame.hpp): no
// coroutine frame is allocated, resumed or freed per message. Each step()
// is the body of the coroutine it replaces.
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

class DrainFrame : public InlineFrame<DrainFrame, void> {
 public:
  DrainFrame() noexcept = default;
  // StreamWriter::drain() of `st`, which owns this frame. Precondition: idle().
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
