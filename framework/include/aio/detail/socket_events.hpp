// aio/detail/socket_events.hpp — internal. A plain socket's epoll events, delivered to aio instead of Asio.
//
// Why: with 1,000 connections every cache line a message touches is a miss,
// and Asio's per-socket reactor state (descriptor_state: a mutex, three
// operation queues, flags; ~160 bytes over three lines) was the largest
// single owner of them (docs/performance-echo.md). An echo needs one read
// waiter and, rarely, one write waiter per socket, so the epoll data
// pointer of a plain socket points here instead: one line holding the
// parked read, the parked write wait and the last event mask.
//
// How: Asio 1.22's epoll_reactor::run hands any registered pointer other
// than its interrupter and timer to the scheduler as an operation (it only
// sets the operation's task_result_ to the event mask and queues it). A
// SocketEvents is such an operation, with scheduler_operation as its first
// and only base like descriptor_state, and its completion function
// performs the parked operations the way descriptor_state::perform_io
// does, with the same work accounting. Asio's descriptor_state stays
// registered for everything else and is told that EPOLLOUT, EPOLLPRI and
// EPOLLRDHUP are registered, so that Asio never re-registers the socket
// with itself behind aio's back (it only does so to add an event). While a
// socket is attached, every wait on it must go through here: an Asio
// operation queued on the descriptor_state would get no events.
//
// Lifetime: a stale event (queued before the socket closed) may still
// arrive after detach(), so SocketEvents come from a per-loop pool that
// frees them only when the loop is destroyed, and a reused one takes a
// stale event as a spurious wakeup (the parked read gets EAGAIN and parks
// again). The pool's shutdown destroys operations still parked, as Asio's
// reactor does with its queued ones.
//
// One thread per loop (aio's model; the io_context's hint is UNSAFE_IO):
// no locking, and attach() declines on a loop whose hint allows more.
// Written against Asio 1.22's epoll reactor; elsewhere attach() returns
// nullptr and Asio's own reactor does the work.
#pragma once

#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>
#include <asio/detail/scheduler.hpp>
#include <asio/detail/scheduler_operation.hpp>

#include <cstdint>

namespace aio::detail {

class SocketEventsPool;

class alignas(64) SocketEvents final : public asio::detail::scheduler_operation {
 public:
  // Takes over the epoll registration of the socket `reactor` keeps as
  // `state`: one epoll_ctl. nullptr when it cannot (no epoll reactor,
  // closed socket: no state, a loop whose concurrency hint lets several
  // threads run its reactor I/O); Asio then keeps the socket.
  static SocketEvents* attach(asio::detail::reactor& reactor,
                              asio::detail::reactor::per_descriptor_data state) noexcept;

  // Ends the attachment: parked operations complete with operation_aborted
  // (posted, as Asio's close does), the registration goes back to Asio's
  // state when `restore` (the socket stays open: start_tls), and this
  // object goes back to the pool. Call before closing the socket.
  void detach(bool restore) noexcept;

  // Asio's reactor_op protocol: perform() now when the socket may be
  // readable (speculative), else park until the next event; one read at a
  // time. The completion is posted when it happens here.
  void start_read(asio::detail::reactor_op* op, bool is_continuation);
  // Parks a readiness wait (its perform() only reports done) until the
  // socket turns writable; one at a time. It completes at once when an
  // event reported the socket writable since the last write_blocked().
  void start_write_wait(asio::detail::reactor_op* op, bool is_continuation);
  // A write found no room (EAGAIN): reports of writability until then are
  // stale, and the kernel reports the next free space as a new edge.
  void write_blocked() noexcept { writable_ = false; }
  // Completes the parked read with operation_aborted when its
  // cancellation key is `key`.
  void cancel_read(void* key) noexcept;

  // True when a short read proves the socket drained: the last event mask
  // holds no RDHUP, HUP or ERR (epoll_hints.hpp; RDHUP is registered).
  bool short_read_drains() const noexcept;

 private:
  friend class SocketEventsPool;
  SocketEvents();
  static void do_complete(void* owner, asio::detail::scheduler_operation* base, const std::error_code& ec,
                          std::size_t events);
  // Prefetches the read operation parked on the events queued next, if any.
  static void prefetch_next_read(asio::detail::scheduler& scheduler) noexcept;

  // One cache line, the one the reactor has just written: an idle
  // connection holds one (SocketEventsPool hands out whole lines).
  asio::detail::reactor_op* reader_ = nullptr;
  asio::detail::reactor_op* writer_ = nullptr;
  SocketEventsPool* pool_ = nullptr;
  union {
    asio::detail::reactor::per_descriptor_data state_ = nullptr;  // attached: for detach(restore)
    SocketEvents* next_free_;                                      // in the pool's free list
  };
  std::uint32_t events_ = 0;  // the last event mask reported
  bool attached_ = false;
  bool readable_ = true;  // may be readable: a read tries recv at once
  bool writable_ = true;  // an event reported EPOLLOUT since the last write_blocked() or wait
};

}  // namespace aio::detail
