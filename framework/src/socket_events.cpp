// A plain socket's epoll events delivered to aio (detail/socket_events.hpp),
// and the per-loop pool their objects live in.
#include <aio/detail/socket_events.hpp>

#include <asio/detail/concurrency_hint.hpp>
#include <asio/detail/op_queue.hpp>
#include <asio/error.hpp>
#include <asio/execution_context.hpp>

#include <cassert>
#include <memory>
#include <utility>
#include <vector>

#include <aio/detail/epoll_hints.hpp>
#include <aio/detail/private_access.hpp>
#include <aio/detail/socket_read_op.hpp>

#if defined(ASIO_HAS_EPOLL)
#include <sys/epoll.h>
#endif

namespace aio::detail {

static_assert(sizeof(SocketEvents) == 64, "one cache line per connection");

// Owns every SocketEvents of one loop until the loop is destroyed: a stale
// event may name one after its socket closed (socket_events.hpp).
class SocketEventsPool final : public asio::detail::execution_context_service_base<SocketEventsPool> {
 public:
  explicit SocketEventsPool(asio::execution_context& ctx)
      : execution_context_service_base(ctx),
        scheduler_(&asio::use_service<asio::detail::scheduler>(ctx)),
        reactor_(&asio::use_service<asio::detail::reactor>(ctx)),
        one_thread_(!ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_IO, scheduler_->concurrency_hint())) {}

  // SocketEvents lock nothing: only a loop whose hint says its reactor I/O
  // runs on one thread (aio's loops: ASIO_CONCURRENCY_HINT_UNSAFE_IO) may
  // have them; elsewhere Asio keeps every socket's events.
  bool one_thread() const noexcept { return one_thread_; }

  SocketEvents* take() {
    if (free_ != nullptr) return std::exchange(free_, free_->next_free_);
    // In blocks: one aligned allocation per object would cost malloc's
    // alignment slack (~90 bytes) on top of the line, per connection.
    if (blocks_.empty() || used_ == block_size) {
      blocks_.push_back(std::unique_ptr<SocketEvents[]>(new SocketEvents[block_size]));
      used_ = 0;
    }
    auto* e = &blocks_.back()[used_++];
    e->pool_ = this;
    return e;
  }

  void give(SocketEvents* e) noexcept {
    e->next_free_ = free_;
    free_ = e;
  }

  asio::detail::scheduler& scheduler() noexcept { return *scheduler_; }
  asio::detail::reactor& reactor() noexcept { return *reactor_; }

  // The loop is shutting down: operations still parked are destroyed (their
  // handlers and the coroutine stacks they hold), as the reactor destroys
  // its queued ones. Collected first: destroying a stack may close sockets,
  // which detach their SocketEvents.
  void shutdown() override {
    asio::detail::op_queue<asio::detail::scheduler_operation> parked;
    for (auto& block : blocks_) {
      for (std::size_t i = 0; i < block_size; ++i) {
        auto& e = block[i];
        if (e.reader_ != nullptr) parked.push(std::exchange(e.reader_, nullptr));
        if (e.writer_ != nullptr) parked.push(std::exchange(e.writer_, nullptr));
      }
    }
    // ~op_queue destroys them.
  }

 private:
  asio::detail::scheduler* scheduler_;
  asio::detail::reactor* reactor_;
  bool one_thread_;
  static constexpr std::size_t block_size = 64;
  std::vector<std::unique_ptr<SocketEvents[]>> blocks_;
  std::size_t used_ = 0;  // of the last block
  SocketEvents* free_ = nullptr;
};

SocketEvents::SocketEvents() : asio::detail::scheduler_operation(&SocketEvents::do_complete) {}

#if defined(ASIO_HAS_EPOLL)

namespace {

// The scheduler's queue and an operation's completion function: private in
// Asio 1.22 (private_access.hpp).
struct SchedulerQueue {
  using type = asio::detail::op_queue<asio::detail::scheduler_operation> asio::detail::scheduler::*;
  friend type member_of(SchedulerQueue);
};
using CompleteFunc = void (*)(void*, asio::detail::scheduler_operation*, const std::error_code&, std::size_t);
struct OperationFunc {
  using type = CompleteFunc asio::detail::scheduler_operation::*;
  friend type member_of(OperationFunc);
};
template struct Grant<SchedulerQueue, &asio::detail::scheduler::op_queue_>;
template struct Grant<OperationFunc, &asio::detail::scheduler_operation::func_>;

}  // namespace

// With 1,000 connections a parked read's first line is a miss to memory,
// page walk included (~1,300 cycles here, rdtsc-probed), before its own
// prefetches can go out (WarmList, socket_read_op.hpp): its perform()
// pointer. The reactor queues one event per ready socket, so the next
// socket's events are often next in the scheduler's queue, their line
// still cached from the reactor's write: that socket's read operation is
// fetched now, one event ahead, while this event's recv and send run
// (then ~45 cycles). Only the first event of each epoll batch still pays.
//
// The queue's head is read without the scheduler's lock (which would cost
// more than the whole look): only this thread pops it, and a post from
// another thread changes it only while it is empty. A stale or foreign
// head is harmless: it is used only if its completion function is this
// class's, which no other operation's memory has ever held (SocketEvents
// live in the pool until the loop is destroyed), and then only for a
// prefetch.
void SocketEvents::prefetch_next_read(asio::detail::scheduler& scheduler) noexcept {
  auto& head = asio::detail::op_queue_access::front(scheduler.*member_of(SchedulerQueue{}));
  auto* next = __atomic_load_n(&head, __ATOMIC_RELAXED);
  if (next == nullptr || next->*member_of(OperationFunc{}) != &SocketEvents::do_complete) return;
  if (auto* read = static_cast<SocketEvents*>(next)->reader_) prefetch_range(read, sizeof(ReadOpStorage));
}

SocketEvents* SocketEvents::attach(asio::detail::reactor& reactor,
                                   asio::detail::reactor::per_descriptor_data state) noexcept {
  if (state == nullptr) return nullptr;
  try {
    auto& pool = asio::use_service<SocketEventsPool>(reactor.context());
    if (!pool.one_thread()) return nullptr;
    SocketEvents* e = pool.take();
    if (!redirect_events(reactor, state, e)) {
      pool.give(e);
      return nullptr;
    }
    e->reader_ = nullptr;
    e->writer_ = nullptr;
    e->events_ = 0;
    e->state_ = state;
    e->readable_ = true;
    e->writable_ = true;
    e->attached_ = true;
    return e;
  } catch (...) {
    return nullptr;  // out of memory: Asio keeps the socket
  }
}

void SocketEvents::detach(bool restore) noexcept {
  if (!attached_) return;
  attached_ = false;
  if (restore) redirect_events(pool_->reactor(), state_, nullptr);
  for (auto* op : {std::exchange(reader_, nullptr), std::exchange(writer_, nullptr)}) {
    if (op == nullptr) continue;
    op->ec_ = asio::error::operation_aborted;
    pool_->scheduler().post_deferred_completion(op);
  }
  pool_->give(this);
}

void SocketEvents::start_read(asio::detail::reactor_op* op, bool is_continuation) {
  assert(reader_ == nullptr && "one read at a time");
  if (readable_) {
    if (const auto status = op->perform()) {
      if (status == asio::detail::reactor_op::done_and_exhausted) readable_ = false;
      pool_->scheduler().post_immediate_completion(op, is_continuation);
      return;
    }
    readable_ = false;  // EAGAIN: the next edge tells
  }
  reader_ = op;
  pool_->scheduler().work_started();
}

void SocketEvents::start_write_wait(asio::detail::reactor_op* op, bool is_continuation) {
  assert(writer_ == nullptr && "one write wait at a time");
  // Reported writable since the write that found no room (or the last
  // wait): go and try. At worst the write finds no room and waits again;
  // an edge that came before this wait is never lost this way.
  if (writable_) {
    writable_ = false;
    op->perform();
    pool_->scheduler().post_immediate_completion(op, is_continuation);
    return;
  }
  writer_ = op;
  pool_->scheduler().work_started();
}

void SocketEvents::cancel_read(void* key) noexcept {
  if (reader_ == nullptr || reader_->cancellation_key_ != key) return;
  auto* op = std::exchange(reader_, nullptr);
  op->ec_ = asio::error::operation_aborted;
  pool_->scheduler().post_deferred_completion(op);
}

bool SocketEvents::short_read_drains() const noexcept { return (events_ & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0; }

// What descriptor_state::perform_io does for one read queue and one write
// queue of at most one operation each, with the same accounting: the
// scheduler counts this call as one finished unit of work, which is the
// operation completed here, or compensated when none is.
void SocketEvents::do_complete(void* owner, asio::detail::scheduler_operation* base, const std::error_code& ec,
                               std::size_t events_reported) {
  if (owner == nullptr) return;  // the loop is shutting down; the pool owns this object
  auto* e = static_cast<SocketEvents*>(base);
  auto* scheduler = static_cast<asio::detail::scheduler*>(owner);
  const auto events = static_cast<std::uint32_t>(events_reported);
  e->events_ = events;
  prefetch_next_read(*scheduler);

  asio::detail::reactor_op* wrote = nullptr;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
    if (e->writer_ != nullptr) {
      wrote = std::exchange(e->writer_, nullptr);
      wrote->perform();
    } else {
      e->writable_ = true;
    }
  }

  asio::detail::reactor_op* read = nullptr;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    e->readable_ = true;
    if (e->reader_ != nullptr) {
      if (const auto status = e->reader_->perform()) {
        read = std::exchange(e->reader_, nullptr);
        if (status == asio::detail::reactor_op::done_and_exhausted) e->readable_ = false;
      } else {
        e->readable_ = false;
      }
    }
  }

  // The read completes here (the hot path); a write wait beside it is
  // posted. Completing may detach or reuse `e`: nothing touches it after.
  if (read != nullptr) {
    if (wrote != nullptr) scheduler->post_deferred_completion(wrote);
    read->complete(owner, ec, 0);
  } else if (wrote != nullptr) {
    wrote->complete(owner, ec, 0);
  } else {
    scheduler->compensating_work_started();
  }
}

#else

SocketEvents* SocketEvents::attach(asio::detail::reactor&, asio::detail::reactor::per_descriptor_data) noexcept {
  return nullptr;
}
void SocketEvents::detach(bool) noexcept {}
void SocketEvents::start_read(asio::detail::reactor_op*, bool) {}
void SocketEvents::start_write_wait(asio::detail::reactor_op*, bool) {}
void SocketEvents::cancel_read(void*) noexcept {}
bool SocketEvents::short_read_drains() const noexcept { return false; }
void SocketEvents::do_complete(void*, asio::detail::scheduler_operation*, const std::error_code&, std::size_t) {}

#endif

}  // namespace aio::detail
