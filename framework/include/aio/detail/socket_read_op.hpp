// aio/detail/socket_read_op.hpp — internal. One read from a plain socket as a single Asio reactor operation.
//
// The hot read path of a plain (TCP or Unix) connection: "wait until the
// socket is readable, then recv once" is one reactor operation, started
// from the awaiting coroutine itself (start_read_in_place), instead of a
// speculative recv plus an async_wait. It matters for three reasons:
//   - socket.async_wait() is never speculative in Asio 1.22: every call
//     re-arms the descriptor with epoll_ctl(MOD). This operation is started
//     with speculation allowed, so a read never costs an epoll_ctl.
//   - The recv happens inside the operation (perform): started speculatively
//     it reads at once when bytes are there; on EAGAIN it is queued (no
//     epoll_ctl for reads) and the next epoll edge performs it. A short read
//     with no FIN pending (epoll_hints.hpp) marks the socket drained, so
//     the next read waits for the edge without an EAGAIN recv: one recv per
//     message (docs/performance-streams.md).
//   - An idle reader holds no buffer: the destination is taken from the
//     per-loop chunk pool inside perform, only when bytes are there, and
//     given back at once on EAGAIN.
//
// The completion handler (ResumeWithRead) resumes the awaiting coroutine
// directly, so a read costs no async_initiate frame either.
//
// The operation object is allocated through the handler's allocator (Asio's
// per-thread recycling allocator for use_awaitable handlers), like Asio's own
// reactive_socket_recv_op, and supports per-operation cancellation (terminal,
// partial, total), completing with operation_aborted.
//
// Requires a reactor backend (epoll, kqueue, select): not IOCP or io_uring.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/detail/bind_handler.hpp>
#include <asio/detail/fenced_block.hpp>
#include <asio/detail/handler_alloc_helpers.hpp>
#include <asio/detail/handler_cont_helpers.hpp>
#include <asio/detail/memory.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>

#if defined(ASIO_HAS_IOCP) || defined(ASIO_HAS_IO_URING_AS_DEFAULT) || defined(ASIO_WINDOWS_RUNTIME)
#error "aio's socket read path needs a reactor-based Asio backend (epoll, kqueue or select)"
#endif

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <system_error>
#include <utility>

#include <aio/detail/buffer.hpp>
#include <aio/detail/epoll_hints.hpp>

namespace aio::detail {

// The outcome of one read: bytes read (0 with no error: EOF) or the error.
struct ReadResult {
  std::error_code ec;
  std::size_t n = 0;
};

// Where one read goes: `dst`/`cap` when dst is set, else the tail of `buf`
// (which takes a pool chunk only when bytes are there).
struct ReadTarget {
  ReadBuffer* buf = nullptr;
  char* dst = nullptr;
  std::size_t cap = 0;
};

// What the operation needs from a socket: its descriptor and reactor state.
struct ReactorSocketRef {
  asio::detail::reactor* reactor = nullptr;
  asio::detail::reactor::per_descriptor_data* data = nullptr;
  asio::detail::socket_type fd = -1;
};

class SocketReadOpBase : public asio::detail::reactor_op {
 public:
  SocketReadOpBase(const ReactorSocketRef& sock, ReadTarget target, func_type complete_func)
      : reactor_op(std::error_code(), &SocketReadOpBase::do_perform, complete_func),
        state_(sock.data ? *sock.data : nullptr),
        fd_(sock.fd),
        target_(target) {}

  // One recv: done with bytes or an error; done_and_exhausted at EOF or when
  // a short read proves the socket drained (epoll_hints.hpp), so that the
  // next read waits for the next edge without a speculative recv; not_done
  // on EAGAIN (the reactor then waits for the next edge).
  static status do_perform(reactor_op* base) {
    auto* o = static_cast<SocketReadOpBase*>(base);
    char* dst = o->target_.dst;
    std::size_t cap = o->target_.cap;
    if (dst == nullptr) {
      const auto space = o->target_.buf->prepare(1);
      dst = space.data();
      cap = space.size();
    }
    for (;;) {
      const ssize_t r = ::recv(o->fd_, dst, cap, 0);
      if (r >= 0) {
        const auto n = static_cast<std::size_t>(r);
        o->bytes_transferred_ = n;
        if (o->target_.dst == nullptr) {
          o->target_.buf->commit(n);
          o->target_.buf->note_read(n, cap);
        }
        // A short read proves the socket drained only when no FIN came with
        // the data (one epoll edge for both, and no new edge follows): the
        // last reported event mask tells (epoll_hints.hpp).
        if (n == 0 || (n < cap && short_read_drains(o->state_))) return done_and_exhausted;
        return done;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (o->target_.dst == nullptr) o->target_.buf->release_if_empty();
        return not_done;
      }
      o->ec_ = std::error_code(errno, asio::error::get_system_category());
      if (o->target_.dst == nullptr) o->target_.buf->release_if_empty();
      return done;
    }
  }

 private:
  asio::detail::reactor::per_descriptor_data state_;
  asio::detail::socket_type fd_;
  ReadTarget target_;
};

// Cancels the queued read (by key) on terminal, partial or total
// cancellation. Unlike Asio's own operations, a read leaves its handler in
// the task's cancellation slot when it completes (`pending` false then: a
// later cancellation is only recorded in the task's state, which the next
// read or wait checks on entry), and the next read re-emplaces over it:
// the slot then reuses the handler's memory, where clear() on every
// completion and emplace() on every start gave the memory back to Asio's
// per-thread cache and took it again (~10% of the server's user time per
// echoed message). Any other operation of the task emplaces its own
// handler over it, as usual.
struct SocketReadCancellation {
  ReactorSocketRef sock;
  bool pending = true;
  void operator()(asio::cancellation_type type) {
    if (pending && (type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                            asio::cancellation_type::total)) != asio::cancellation_type::none)
      sock.reactor->cancel_ops_by_key(sock.fd, *sock.data, asio::detail::reactor::read_op, this);
  }
};

// No handler_work, unlike Asio's own operations: the awaiting coroutine
// runs on the socket's own io_context (a stream belongs to the loop that
// made it; aio's primitives are loop-local), so there is no other executor
// to keep busy or to dispatch to, and the completion resumes the coroutine
// inline. That is what Asio's handler_work does in that case too, minus two
// any_io_executor copies and a type check per read (together ~8% of the
// server's user time in the echo benchmark).
template <class Handler>
class SocketReadOp final : public SocketReadOpBase {
 public:
  ASIO_DEFINE_HANDLER_PTR(SocketReadOp);

  SocketReadOp(const ReactorSocketRef& sock, ReadTarget target, Handler& handler)
      : SocketReadOpBase(sock, target, &SocketReadOp::do_complete), handler_(std::move(handler)) {}

  static void do_complete(void* owner, asio::detail::operation* base, const std::error_code& /*ec*/,
                          std::size_t /*bytes_transferred*/) {
    auto* o = static_cast<SocketReadOp*>(base);
    auto* cancellation = static_cast<SocketReadCancellation*>(o->cancellation_key_);
    ptr p = {asio::detail::addressof(o->handler_), o, o};
    // Move the handler out so the operation's memory is freed before the upcall.
    asio::detail::binder1<Handler, ReadResult> handler(o->handler_, ReadResult{o->ec_, o->bytes_transferred_});
    p.h = asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      // The cancellation handler stays in the task's slot (see
      // SocketReadCancellation); from now on it has nothing to cancel.
      if (cancellation) cancellation->pending = false;
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      handler();
    }
  }

 private:
  Handler handler_;
};

struct StartSocketRead {
  ReactorSocketRef sock;
  ReadTarget target;

  template <class Handler>
  void operator()(Handler&& h) const {
    using H = std::decay_t<Handler>;
    using Op = SocketReadOp<H>;
    H handler(std::forward<Handler>(h));
    const bool is_continuation = asio_handler_cont_helpers::is_continuation(handler);
    auto slot = asio::get_associated_cancellation_slot(handler);
    typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(sock, target, handler);
    if (slot.is_connected()) p.p->cancellation_key_ = &slot.template emplace<SocketReadCancellation>(sock);
    sock.reactor->start_op(asio::detail::reactor::read_op, sock.fd, *sock.data, p.p, is_continuation, true);
    p.v = p.p = nullptr;
  }
};

// The completion handler of an in-place read: stores the result in the
// awaiting coroutine's frame and resumes that coroutine directly. Unlike
// use_awaitable's handler it returns into no frame of its own, so an idle
// reader costs its own coroutine frame and the operation, not a third frame
// for async_initiate. `T` is the awaiting coroutine's value type.
template <class T>
class ResumeWithRead final : public asio::detail::awaitable_handler_base<asio::any_io_executor, T> {
  using Base = asio::detail::awaitable_handler_base<asio::any_io_executor, T>;

 public:
  ResumeWithRead(asio::detail::awaitable_thread<asio::any_io_executor>* thread, ReadResult* out)
      : Base(thread), out_(out) {}

  void operator()(ReadResult r) {
    *out_ = r;
    auto* frame = this->frame();
    frame->attach_thread(this);
    // The slot keeps the read's cancellation handler (SocketReadCancellation).
    this->pump();
  }

 private:
  ReadResult* out_;
};

// Starts one read (a SocketReadOp: I/O errors come back in the result,
// operation_aborted when cancelled or closed) from inside the awaiting
// coroutine's suspension (the Function form of asio::awaitable's
// await_transform): the outcome goes to `out`, and the coroutine of `frame`
// is resumed without an extra frame. A cancellation already pending when
// the read would start completes it at once with operation_aborted (the
// thread stays attached, so Asio's pump resumes the coroutine directly):
// the caller's usual "read cancelled" path then raises CancelledError, and
// the caller needs no cancellation check (and no awaiter for it) of its own.
template <class T>
asio::detail::awaitable_thread<asio::any_io_executor>* start_read_in_place(
    asio::detail::awaitable_frame_base<asio::any_io_executor>* frame, ReactorSocketRef sock, ReadTarget target,
    ReadResult* out) {
  auto* thread = frame->detach_thread();
  if (thread->get_cancellation_state().cancelled() != asio::cancellation_type::none) {
    *out = ReadResult{asio::error::operation_aborted, 0};
    frame->attach_thread(thread);
    return nullptr;
  }
  StartSocketRead{sock, target}(ResumeWithRead<T>(thread, out));
  return nullptr;
}

}  // namespace aio::detail
