// The bodies of read_some() and drain() in their inline frames (stream_frames.hpp).
#include <aio/detail/stream_frames.hpp>

#include <exception>

#include <aio/detail/stream_state.hpp>
#include <aio/exceptions.hpp>

namespace aio::detail {

// ---------------------------------------------------------------- read_some
//
// The coroutine it replaces:
//   raise_if_error();
//   if (nothing buffered and no EOF) {
//     plain socket: one read in place (a reactor operation whose completion
//                   resumes this frame), then apply its result;
//     otherwise:    co_await wait_for_data("read_some");
//   }
//   hand out and consume what is buffered.
void ReadSomeFrame::step() noexcept {
  StreamState& st = *st_;
  try {
    switch (stage_) {
      case Stage::started:
        st.raise_if_error();
        if (st.rbuf.empty() && !st.eof) {
          if (!st.transport || st.lost || !st.transport->speculative()) {
            await_above(st.wait_for_data("read_some"));
            return;
          }
          st.begin_reading("read_some");
          reading_ = true;
          stage_ = Stage::running;
          // What `co_await read_in_place(st)` runs once suspended.
          read_in_place<std::string_view>(st)(&promise_);
          return;
        }
        break;
      case Stage::running:  // the read completed (or was cancelled)
        if (StreamState::read_cancelled(st.read_result) && promise_.take_cancellation()) throw CancelledError();
        st.complete_read(st.read_result);
        end_reading();
        st.raise_if_error();
        break;
      case Stage::waiting:
        resume_after_wait();
        break;
      case Stage::idle:
      case Stage::done:
        std::terminate();  // resumed while not suspended: a broken invariant
    }
    const auto view = st.rbuf.view();
    // Consumed now; the bytes stay in place until the next call refills.
    st.rbuf.consume(view.size());
    promise_.return_value(view);
  } catch (...) {
    end_reading();
    promise_.set_except(std::current_exception());
  }
  finish();
}

void ReadSomeFrame::end_reading() noexcept {
  if (!reading_) return;
  reading_ = false;
  st_->end_reading();
}

// ---------------------------------------------------------------- drain

DrainFrame& DrainFrame::this_thread() noexcept {
  thread_local DrainFrame frame;
  return frame;
}
//
// The coroutine it replaces:
//   if (cancellation pending) raise CancelledError;
//   raise_if_error();
//   if (!drain_ready()) co_await drain_wait();
void DrainFrame::step() noexcept {
  StreamState& st = *st_;
  try {
    switch (stage_) {
      case Stage::started:
        if (promise_.take_cancellation()) throw CancelledError();
        st.raise_if_error();
        if (!st.drain_ready()) {
          await_above(st.drain_wait());
          return;
        }
        break;
      case Stage::waiting:
        resume_after_wait();
        break;
      case Stage::idle:
      case Stage::running:
      case Stage::done:
        std::terminate();  // resumed while not suspended: a broken invariant
    }
  } catch (...) {
    promise_.set_except(std::current_exception());
  }
  finish();
}

}  // namespace aio::detail
