// read_some()'s hand-written coroutine frame (read_some_frame.hpp).
#include <aio/detail/read_some_frame.hpp>

#include <coroutine>
#include <exception>
#include <utility>

#include <aio/detail/socket_read_op.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/exceptions.hpp>

namespace aio::detail {

void ReadSomeFrame::Promise::attach_to(CoroutineFrameHeader* h) noexcept {
  this->coro_ = std::coroutine_handle<>::from_address(h);
}

// check_cancelled(), for a frame with no co_await of its own.
bool ReadSomeFrame::Promise::take_cancellation() noexcept {
  if (this->attached_thread_->get_cancellation_state().cancelled() == asio::cancellation_type::none) return false;
  this->attached_thread_->reset_cancellation_state();
  return true;
}

ReadSomeFrame::ReadSomeFrame() noexcept : CoroutineFrameHeader{&ReadSomeFrame::resume_frame, &ReadSomeFrame::destroy_frame} {}

asio::awaitable<std::string_view> ReadSomeFrame::start(StreamState& st) noexcept {
  st_ = &st;
  stage_ = Stage::started;
  promise_.clear_exception();
  auto task = promise_.get_return_object();
  promise_.attach_to(this);  // get_return_object() pointed the handle at the promise's real-coroutine place
  return task;
}

void ReadSomeFrame::resume_frame(void* header) noexcept {
  static_cast<ReadSomeFrame*>(static_cast<CoroutineFrameHeader*>(header))->step();
}

// The Task is gone: awaited (then the frame is done) or dropped in any
// stage, as when its task's stack is torn down with the read in flight (the
// operation has ended by then: SocketReadOp::do_complete).
void ReadSomeFrame::destroy_frame(void* header) noexcept {
  auto* f = static_cast<ReadSomeFrame*>(static_cast<CoroutineFrameHeader*>(header));
  if (f->wait_.valid()) asio::awaitable<void> dropped(std::move(f->wait_));
  f->end_reading();
  f->stage_ = Stage::idle;
}

void ReadSomeFrame::end_reading() noexcept {
  if (!reading_) return;
  reading_ = false;
  st_->end_reading();
}

// The body of the read_some coroutine it replaces, between its suspension
// points:
//   raise_if_error();
//   if (nothing buffered and no EOF) {
//     plain socket: read in place (one reactor operation, this frame
//                   resumed by its completion), then apply the result;
//     otherwise:    co_await wait_for_data("read_some");
//   }
//   hand out and consume what is buffered.
// Like a coroutine's end, the frame then pops itself off the task's stack:
// Asio's pump resumes the caller, which takes the result or the exception.
void ReadSomeFrame::step() noexcept {
  StreamState& st = *st_;
  try {
    switch (stage_) {
      case Stage::started:
        st.raise_if_error();
        if (st.rbuf.empty() && !st.eof) {
          if (!st.transport || st.lost || !st.transport->speculative()) {
            wait_ = st.wait_for_data("read_some");
            stage_ = Stage::waiting;
            // Pushed above this frame, as `co_await` does; resumes it when done.
            wait_.await_suspend(std::coroutine_handle<Base>::from_promise(promise_));
            return;
          }
          st.begin_reading("read_some");
          reading_ = true;
          stage_ = Stage::reading;
          // An empty buffer goes back to the pool: an idle reader holds no chunk.
          st.rbuf.release_if_empty();
          ReactorSocketRef sock;
          st.transport->reactor_socket(sock);
          start_read_in_place<std::string_view>(&promise_, sock, ReadTarget{&st.rbuf, nullptr, 0}, &st.read_result,
                                                st.warm_list(false), &st.read_op);
          return;
        }
        break;
      case Stage::reading:
        if (StreamState::read_cancelled(st.read_result) && promise_.take_cancellation()) throw CancelledError();
        st.complete_read(st.read_result);
        end_reading();
        st.raise_if_error();
        break;
      case Stage::waiting: {
        asio::awaitable<void> wait(std::move(wait_));
        wait.await_resume();  // rethrows what the wait raised
        break;
      }
      case Stage::idle:
      case Stage::done:
        std::terminate();  // resumed when not suspended: a broken invariant
    }
    const auto view = st.rbuf.view();
    // Consumed now; the bytes stay in place until the next call refills.
    st.rbuf.consume(view.size());
    promise_.return_value(view);
  } catch (...) {
    end_reading();
    promise_.set_except(std::current_exception());
  }
  stage_ = Stage::done;
  promise_.pop_frame();
}

}  // namespace aio::detail
