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
//     it reads at once when bytes are there; on EAGAIN it parks (no
//     epoll_ctl for reads) and the next epoll edge performs it. A short read
//     with no FIN pending (epoll_hints.hpp) marks the socket drained, so
//     the next read waits for the edge without an EAGAIN recv: one recv per
//     message (docs/performance-streams.md).
//   - An idle reader holds no buffer: the destination is taken from the
//     per-loop chunk pool inside perform, only when bytes are there, and
//     given back at once on EAGAIN.
//
// A waiting read parks in the socket's SocketEvents (socket_events.hpp),
// where aio receives the socket's epoll events, or, where aio does not, in
// Asio's reactor queue.
//
// The completion handler (ResumeWithRead) resumes the awaiting coroutine
// directly, so a read costs no async_initiate frame either.
//
// The operation object is constructed in room the stream state keeps for
// its one read in flight (ReadOpStorage), and supports per-operation
// cancellation (terminal, partial, total), completing with
// operation_aborted.
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
#include <asio/detail/handler_cont_helpers.hpp>
#include <asio/detail/memory.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>

#if defined(ASIO_HAS_IOCP) || defined(ASIO_HAS_IO_URING_AS_DEFAULT) || defined(ASIO_WINDOWS_RUNTIME)
#error "aio's socket read path needs a reactor-based Asio backend (epoll, kqueue or select)"
#endif

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <utility>

#include <aio/detail/buffer.hpp>
#include <aio/detail/socket_events.hpp>
#include <aio/detail/syscalls.hpp>

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

inline constexpr std::uintptr_t cache_line = 64;

// Prefetches the cache lines of [p, p + bytes).
//
// The prefetching functions here are always inlined: a function doing only
// prefetches has no side effects as far as g++ can tell, so its
// pure-const analysis would mark it pure and the call be dropped as dead.
[[gnu::always_inline]] inline void prefetch_range(const void* p, std::size_t bytes) noexcept {
  const auto first = reinterpret_cast<std::uintptr_t>(p) & ~(cache_line - 1);
  const auto end = reinterpret_cast<std::uintptr_t>(p) + bytes;
  for (auto a = first; a < end; a += cache_line) __builtin_prefetch(reinterpret_cast<const char*>(a));
}

// Per-connection memory a read's completion is about to touch.
//
// Why: with many connections, a connection's memory is cold by the time its
// socket turns readable. At 1,000 echo connections a dozen cache misses per
// message, each a stall in the middle of the completion, were most of the
// server's user time (an epoll loop in C touches one line per connection).
// So the read records, when it starts and the memory is hot and cheap to
// find, where its completion will go, and do_perform prefetches all of it
// just before its recv: the loads then run while the kernel copies the
// bytes. What the operation itself points to (its own lines, the buffer's
// owner, the coroutine stack's entry frame) is prefetched without being
// listed; the list holds the rest (the awaiting frames, the task's
// cancellation slot, the transport), four ranges in 32 bytes, since every
// idle connection holds one operation.
class WarmList {
 public:
  static constexpr std::size_t capacity = 4;

  // Adds [p, p + bytes) (at most 64 cache lines); ignored when full or null.
  void add(const void* p, std::size_t bytes) noexcept {
    if (p == nullptr || bytes == 0) return;
    for (auto& slot : at_) {
      if (slot != 0) continue;
      const auto first = reinterpret_cast<std::uintptr_t>(p) & ~(cache_line - 1);
      const auto last = (reinterpret_cast<std::uintptr_t>(p) + bytes - 1) & ~(cache_line - 1);
      const auto lines = std::min<std::uintptr_t>((last - first) / cache_line + 1, cache_line);
      slot = first | (lines - 1);  // line-aligned: the low bits hold the count
      return;
    }
  }

  // Adds the ranges of `other` while room is left.
  void append(const WarmList& other) noexcept {
    for (std::size_t i = size(), j = 0; i < capacity && j < other.size(); ++i, ++j) at_[i] = other.at_[j];
  }

  [[gnu::always_inline]] void prefetch() const noexcept {
    for (std::size_t i = 0; i < capacity && at_[i] != 0; ++i) prefetch_range(first_line(i), lines(i) * cache_line);
  }

  std::size_t size() const noexcept {
    std::size_t n = 0;
    while (n < capacity && at_[n] != 0) ++n;
    return n;
  }
  // Range i: its first cache line and how many lines it spans.
  const char* first_line(std::size_t i) const noexcept {
    return reinterpret_cast<const char*>(at_[i] & ~(cache_line - 1));
  }
  std::size_t lines(std::size_t i) const noexcept { return (at_[i] & (cache_line - 1)) + 1; }

 private:
  std::uintptr_t at_[capacity] = {};
};

// How much of a read buffer's owner follows the buffer and is touched per
// read and write: StreamState keeps its ReadBuffer first among its hot
// members and the read's result right after them (stream_state.hpp), so
// this covers both; the operation after them prefetches itself.
inline constexpr std::size_t read_buffer_owner_hot_bytes = 176;

// The coroutine frames of an Asio coroutine stack. awaitable_frame_base keeps
// its links protected; naming them through a derived class is allowed and
// yields member pointers usable on any frame.
struct FrameLinks : asio::detail::awaitable_frame_base<asio::any_io_executor> {
  using Base = asio::detail::awaitable_frame_base<asio::any_io_executor>;
  static void* address(Base* f) noexcept { return (f->*&FrameLinks::coro_).address(); }
  static Base* caller(Base* f) noexcept { return f->*&FrameLinks::caller_; }
};

// Where `slot` keeps its handler pointer: the word the next read's re-arm
// reads (arm_read_cancellation); and the handler it holds, or null (defined
// with the other Asio private-member accesses in epoll_hints.cpp).
const void* cancellation_slot_word(const asio::cancellation_slot& slot) noexcept;
asio::detail::cancellation_handler_base* cancellation_slot_handler(const asio::cancellation_slot& slot) noexcept;

// What the operation needs from a socket: its descriptor and reactor state,
// and where its epoll events go when aio has them (socket_events.hpp).
struct ReactorSocketRef {
  asio::detail::reactor* reactor = nullptr;
  asio::detail::reactor::per_descriptor_data* data = nullptr;
  asio::detail::socket_type fd = -1;
  SocketEvents* events = nullptr;
};

class SocketReadOpBase : public asio::detail::reactor_op {
 public:
  SocketReadOpBase(const ReactorSocketRef& sock, ReadTarget target, const WarmList& warm, perform_func_type perform_func,
                   func_type complete_func)
      : reactor_op(std::error_code(), perform_func, complete_func),
        events_(sock.events),
        fd_(sock.fd),
        cap_(static_cast<std::uint32_t>(std::min<std::size_t>(target.cap, UINT32_MAX))),
        buf_(target.buf),
        dst_(target.dst),
        warm_(warm) {
    // A buffer holding nothing gets a pool chunk at the recv, without
    // touching the (then cold) buffer before it: remember its size now.
    if (buf_ != nullptr) cap_ = static_cast<std::uint32_t>(buf_->fresh_chunk_size());
  }

 protected:
  // Prefetches what the completion touches (WarmList), then reads.
  [[gnu::always_inline]] void warm(std::size_t op_size) const noexcept {
    // This operation past the line the reactor just read, the buffer's
    // owner.
    warm_.prefetch();
    prefetch_range(this, op_size);
    if (buf_ != nullptr) prefetch_range(buf_, read_buffer_owner_hot_bytes);
  }

  // One recv: done with bytes or an error; done_and_exhausted at EOF or when
  // a short read proves the socket drained (epoll_hints.hpp), so that the
  // next read waits for the next edge without a speculative recv; not_done
  // on EAGAIN (the reactor then waits for the next edge).
  static status perform_recv(SocketReadOpBase* o) {
    char* dst = o->dst_;
    std::size_t cap = o->cap_;
    char* chunk = nullptr;
    if (dst == nullptr) {
      if (cap != 0) {
        chunk = take_read_chunk(cap == large_read_chunk_size);
        dst = chunk;
      } else {
        const auto space = o->buf_->prepare(1);
        dst = space.data();
        cap = space.size();
      }
    }
    for (;;) {
      const ssize_t r = recv_once(o->fd_, dst, cap);
      if (r >= 0) {
        const auto n = static_cast<std::size_t>(r);
        o->bytes_transferred_ = n;
        if (o->dst_ == nullptr) {
          if (chunk != nullptr) {
            o->buf_->adopt_chunk(chunk, cap, n);
          } else {
            o->buf_->commit(n);
          }
          o->buf_->note_read(n, cap);
        }
        // A short read proves the socket drained only when no FIN came with
        // the data (one epoll edge for both, and no new edge follows): the
        // last reported event mask tells (epoll_hints.hpp). Without aio's
        // events (Asio has the socket) it is not known.
        if (n == 0 || (n < cap && o->events_ != nullptr && o->events_->short_read_drains()))
          return done_and_exhausted;
        return done;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) o->ec_ = std::error_code(errno, asio::error::get_system_category());
      if (chunk != nullptr) {
        give_read_chunk(chunk, cap == large_read_chunk_size);
      } else if (o->dst_ == nullptr) {
        o->buf_->release_if_empty();
      }
      return o->ec_ ? done : not_done;
    }
  }

 private:
  SocketEvents* events_;
  asio::detail::socket_type fd_;
  // dst_ set: its capacity; else the size of the pool chunk to read into
  // (the buffer held nothing when the read started), or 0: buf_->prepare().
  std::uint32_t cap_;
  ReadBuffer* buf_;
  char* dst_;
  WarmList warm_;
};

class SocketReadCancellation;
using SocketReadCancellationHolder = asio::detail::cancellation_handler<SocketReadCancellation>;

// The reader's end of the link with the cancellation handler its last read
// armed (SocketReadCancellation): null, or that handler's holder, alive. A
// hot member of the stream state (one word); both ends unlink themselves
// when they go, so neither points at the other once it is gone.
class ReadCancelLink {
 public:
  ReadCancelLink() noexcept = default;
  ReadCancelLink(const ReadCancelLink&) = delete;
  ReadCancelLink& operator=(const ReadCancelLink&) = delete;
  ~ReadCancelLink() { unlink(); }

  // The holder of the handler armed last, while it is alive.
  asio::detail::cancellation_handler_base* armed() const noexcept { return held_; }
  // Links `holder` (of a SocketReadCancellation made for this link), after unlink().
  void link(asio::detail::cancellation_handler_base* holder) noexcept { held_ = holder; }
  inline void unlink() noexcept;

 private:
  friend class SocketReadCancellation;
  asio::detail::cancellation_handler_base* held_ = nullptr;
};

// Cancels the parked read (by key: this handler's address) on terminal,
// partial or total cancellation. Unlike Asio's own operations, a read
// leaves its handler in the task's cancellation slot when it completes, and
// the task's next read of the same stream finds it there and uses it as it
// is (arm_read_cancellation), where clear() on every completion and
// emplace() on every start gave the memory back to Asio's per-thread cache
// and took it again (~10% of the server's user time per echoed message).
// The handler is not even touched per read: it holds nothing that changes
// (the stream's socket is looked up when it fires, through `owner`), and a
// cancellation with no read parked finds no operation with its key. Any
// other operation of the task emplaces its own handler over it, as usual.
class SocketReadCancellation {
 public:
  using SocketOf = void (*)(void* owner, ReactorSocketRef& sock) noexcept;

  SocketReadCancellation(ReadCancelLink* link, SocketOf socket_of, void* owner) noexcept
      : link_(link), socket_of_(socket_of), owner_(owner) {}
  SocketReadCancellation(const SocketReadCancellation&) = delete;
  SocketReadCancellation& operator=(const SocketReadCancellation&) = delete;
  ~SocketReadCancellation() {
    if (link_ != nullptr) link_->held_ = nullptr;
  }

  void operator()(asio::cancellation_type type) {
    if (link_ == nullptr || (type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                                      asio::cancellation_type::total)) == asio::cancellation_type::none)
      return;
    ReactorSocketRef sock;
    socket_of_(owner_, sock);
    if (sock.events != nullptr) {
      sock.events->cancel_read(this);
    } else if (sock.reactor != nullptr && sock.data != nullptr && sock.fd >= 0) {
      sock.reactor->cancel_ops_by_key(sock.fd, *sock.data, asio::detail::reactor::read_op, this);
    }
  }

 private:
  friend class ReadCancelLink;
  ReadCancelLink* link_;
  SocketOf socket_of_;  // the stream's socket as it is now (closed: fd -1)
  void* owner_;
};

inline void ReadCancelLink::unlink() noexcept {
  if (held_ == nullptr) return;
  static_cast<SocketReadCancellationHolder*>(held_)->handler().link_ = nullptr;
  held_ = nullptr;
}

// The read's cancellation key: the handler `slot` holds for `link` when it
// is the one the link's last read armed (the common case: read after read;
// the two words compared are hot, the handler is not touched), else a new
// one, emplaced. The previous one, if any, stays in another task's slot,
// unlinked: that task reads elsewhere now (one reader at a time).
inline void* arm_read_cancellation(asio::cancellation_slot& slot, ReadCancelLink& link,
                                   SocketReadCancellation::SocketOf socket_of, void* owner) {
  auto* current = cancellation_slot_handler(slot);
  if (current != nullptr && current == link.armed())
    return &static_cast<SocketReadCancellationHolder*>(current)->handler();
  link.unlink();
  auto& h = slot.template emplace<SocketReadCancellation>(&link, socket_of, owner);
  link.link(cancellation_slot_handler(slot));
  return &h;
}

// What a read needs for its cancellation: the stream's link and how to find
// the stream's socket when the handler fires.
struct ReadCancelSource {
  ReadCancelLink* link = nullptr;
  SocketReadCancellation::SocketOf socket_of = nullptr;
  void* owner = nullptr;
};

// No handler_work, unlike Asio's own operations: the awaiting coroutine
// runs on the socket's own io_context (a stream belongs to the loop that
// made it; aio's primitives are loop-local), so there is no other executor
// to keep busy or to dispatch to, and the completion resumes the coroutine
// inline. That is what Asio's handler_work does in that case too, minus two
// any_io_executor copies and a type check per read (together ~8% of the
// server's user time in the echo benchmark).
//
// The operation lives in the stream state (ReadOpStorage, one read at a
// time), not in memory of its own: the stream state outlives it (the
// reading coroutine's stack, which the operation's handler holds, holds the
// reader), and the completion ends the operation before it resumes the
// coroutine, or, when the loop shuts down with the read queued, before the
// handler's destruction can release the stream state. So a read allocates
// nothing, and the operation sits next to the stream state's hot members
// (fewer cache lines to bring back per message).
template <class Handler>
class SocketReadOp final : public SocketReadOpBase {
 public:
  SocketReadOp(const ReactorSocketRef& sock, ReadTarget target, const WarmList& warm, Handler& handler)
      : SocketReadOpBase(sock, target, warm, &SocketReadOp::do_perform, &SocketReadOp::do_complete),
        handler_(std::move(handler)) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<SocketReadOp*>(base);
    // In the order the completion needs them: more prefetches than the
    // core has miss buffers wait for one, and the first uses come first.
    o->handler_.warm();
    o->warm(sizeof(SocketReadOp));
    return perform_recv(o);
  }

  // Completes (owner set) or destroys (the loop shutting down) the
  // operation. Either way the operation ends here, before the upcall: the
  // handler is moved out first, and resuming the coroutine (or destroying
  // its stack) may free the stream state the operation lives in.
  static void do_complete(void* owner, asio::detail::operation* base, const std::error_code& /*ec*/,
                          std::size_t /*bytes_transferred*/) {
    auto* o = static_cast<SocketReadOp*>(base);
    asio::detail::binder1<Handler, ReadResult> handler(o->handler_, ReadResult{o->ec_, o->bytes_transferred_});
    o->~SocketReadOp();
    if (owner) {
      // The cancellation handler stays in the task's slot (see
      // SocketReadCancellation), with no operation of its key left.
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      handler();
    }
  }

 private:
  Handler handler_;
};

struct StartSocketRead {
  ReactorSocketRef sock;
  ReadCancelSource cancel;
  ReadTarget target;
  const WarmList& warm;
  void* storage;  // room for the operation (the stream state's ReadOpStorage)

  template <class Handler>
  void operator()(Handler&& h) const {
    using H = std::decay_t<Handler>;
    using Op = SocketReadOp<H>;
    H handler(std::forward<Handler>(h));
    const bool is_continuation = asio_handler_cont_helpers::is_continuation(handler);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto* op = new (storage) Op(sock, target, warm, handler);
    if (slot.is_connected())
      op->cancellation_key_ = arm_read_cancellation(slot, *cancel.link, cancel.socket_of, cancel.owner);
    if (sock.events != nullptr) {
      sock.events->start_read(op, is_continuation);
    } else {
      sock.reactor->start_op(asio::detail::reactor::read_op, sock.fd, *sock.data, op, is_continuation, true);
    }
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

  // Prefetches the stack's entry frame, whose top-of-stack link the
  // resumption reads first (see WarmList).
  [[gnu::always_inline]] void warm() noexcept {
    auto* entry = this->entry_point();
    prefetch_range(entry, sizeof *entry);
  }

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

// Room for one in-place read's operation: a member of the stream state,
// which has one reader at a time (ReadingScope). The operation's handler
// is the same size whatever the awaiting coroutine's value type.
struct ReadOpStorage {
  alignas(SocketReadOp<ResumeWithRead<void>>) unsigned char bytes[sizeof(SocketReadOp<ResumeWithRead<void>>)];

  template <class T>
  static constexpr bool fits = sizeof(SocketReadOp<ResumeWithRead<T>>) <= sizeof(bytes) &&
                               alignof(SocketReadOp<ResumeWithRead<T>>) <= alignof(SocketReadOp<ResumeWithRead<void>>);
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
// `warm` holds the caller's state to prefetch (WarmList); the coroutine
// frames that resume are added here while room is left.
template <class T>
asio::detail::awaitable_thread<asio::any_io_executor>* start_read_in_place(
    asio::detail::awaitable_frame_base<asio::any_io_executor>* frame, ReactorSocketRef sock, ReadCancelSource cancel,
    ReadTarget target, ReadResult* out, const WarmList& state, ReadOpStorage* storage) {
  static_assert(ReadOpStorage::fits<T>);
  auto* thread = frame->detach_thread();
  if (thread->get_cancellation_state().cancelled() != asio::cancellation_type::none) {
    *out = ReadResult{asio::error::operation_aborted, 0};
    frame->attach_thread(thread);
    return nullptr;
  }
  // The frames the result goes up through: this one, then its callers
  // below the entry point (which ResumeWithRead::warm finds itself).
  WarmList warm;
  warm.add(FrameLinks::address(frame), 4 * cache_line);
  asio::detail::awaitable_frame_base<asio::any_io_executor>* entry = thread->entry_point();
  auto* caller = FrameLinks::caller(frame);
  if (caller != nullptr && caller != entry) warm.add(FrameLinks::address(caller), 2 * cache_line);
  // The task's cancellation slot, whose handler word the next read's re-arm reads.
  if (auto slot = thread->get_cancellation_slot(); slot.is_connected())
    warm.add(cancellation_slot_word(slot), sizeof(void*));
  warm.append(state);
  StartSocketRead{sock, cancel, target, warm, storage->bytes}(ResumeWithRead<T>(thread, out));
  return nullptr;
}

}  // namespace aio::detail
