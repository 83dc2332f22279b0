// aio/queues.hpp — public. Queue, PriorityQueue, LifoQueue.
//
// asyncio's queues.py (CPython 3.13) for one loop:
//   - Queue<T>                     first in, first out
//   - PriorityQueue<T, Compare>    smallest first (by Compare, std::less: like heapq)
//   - LifoQueue<T>                 last in, first out
// with put/get, their non-waiting siblings put_nowait/get_nowait (QueueFull,
// QueueEmpty), task_done/join, and shutdown (QueueShutDown). The errors live
// in aio/exceptions.hpp.
//
// Hand-off: put_nowait wakes the first waiting getter, get_nowait the first
// waiting putter; the woken task takes the item (or the free slot) itself
// when it runs. A getter woken and then cancelled before it runs leaves the
// item in the queue and wakes the next getter: a cancelled get never loses an
// item, a cancelled put never inserts one.
//
// Memory: items sit in a ring buffer (FIFO), a vector (LIFO) or a binary heap
// (priority); waiters are parked in their own coroutine frames. Once the
// buffer has grown to its working size, put/get allocate nothing.
// T may be move-only (std::unique_ptr).
//
// Threading: loop-local, not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/this_coro.hpp>

#include <aio/detail/wait_list.hpp>
#include <aio/exceptions.hpp>
#include <aio/locks.hpp>  // detail::cancel_requested
#include <aio/tasks.hpp>

namespace aio {

namespace detail {

// A growable ring buffer (capacity a power of two) for the FIFO queue: no
// allocation while the size stays under the capacity reached so far.
template <class T>
class RingBuffer {
 public:
  RingBuffer() = default;
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;
  ~RingBuffer() {
    clear();
    if (data_) std::allocator<T>().deallocate(data_, cap_);
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  template <class U>
  void push_back(U&& v) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(slot(head_ + size_))) T(std::forward<U>(v));
    ++size_;
  }

  T pop_front() {
    T* p = slot(head_);
    T v(std::move(*p));
    p->~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    return v;
  }

  void clear() noexcept {
    while (size_) {
      slot(head_)->~T();
      head_ = (head_ + 1) & (cap_ - 1);
      --size_;
    }
  }

 private:
  T* slot(std::size_t i) const noexcept { return data_ + (i & (cap_ - 1)); }

  void grow() {
    std::size_t cap = cap_ ? cap_ * 2 : 8;
    T* data = std::allocator<T>().allocate(cap);
    std::size_t moved = 0;
    try {
      for (; moved < size_; ++moved)
        ::new (static_cast<void*>(data + moved)) T(std::move_if_noexcept(*slot(head_ + moved)));
    } catch (...) {
      for (std::size_t i = 0; i < moved; ++i) data[i].~T();
      std::allocator<T>().deallocate(data, cap);
      throw;
    }
    std::size_t n = size_;
    clear();
    if (data_) std::allocator<T>().deallocate(data_, cap_);
    data_ = data;
    cap_ = cap;
    head_ = 0;
    size_ = n;
  }

  T* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

template <class T>
struct FifoItems {
  static constexpr const char* name = "Queue";
  RingBuffer<T> items;
  std::size_t size() const noexcept { return items.size(); }
  template <class U>
  void push(U&& v) { items.push_back(std::forward<U>(v)); }
  T pop() { return items.pop_front(); }
  void clear() noexcept { items.clear(); }
};

template <class T>
struct LifoItems {
  static constexpr const char* name = "LifoQueue";
  std::vector<T> items;
  std::size_t size() const noexcept { return items.size(); }
  template <class U>
  void push(U&& v) { items.push_back(std::forward<U>(v)); }
  T pop() {
    T v(std::move(items.back()));
    items.pop_back();
    return v;
  }
  void clear() noexcept { items.clear(); }
};

// A binary min-heap by `Compare`, as heapq (equal items in no set order).
template <class T, class Compare>
struct HeapItems {
  static constexpr const char* name = "PriorityQueue";
  HeapItems() = default;
  explicit HeapItems(Compare compare) : less(std::move(compare)) {}
  std::vector<T> items;
  Compare less;
  auto greater() const {
    return [this](const T& a, const T& b) { return less(b, a); };
  }
  std::size_t size() const noexcept { return items.size(); }
  template <class U>
  void push(U&& v) {
    items.push_back(std::forward<U>(v));
    std::push_heap(items.begin(), items.end(), greater());
  }
  T pop() {
    std::pop_heap(items.begin(), items.end(), greater());
    T v(std::move(items.back()));
    items.pop_back();
    return v;
  }
  void clear() noexcept { items.clear(); }
};

// Everything of Queue, PriorityQueue and LifoQueue but the order of items.
template <class T, class Items>
class BasicQueue {
 public:
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // Puts `item`, waiting while the queue is full.
  //
  // Throws: QueueShutDown if the queue is shut down (before or while waiting).
  // Cancellation: raises CancelledError; the item is not inserted (it is
  // destroyed with the call). A free slot that had been signalled to this
  // task is passed on to the next waiting putter.
  [[nodiscard]] Task<void> put(T item) {
    if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
      co_await detail::raise_cancelled();
    while (full()) {
      if (shutdown_) throw QueueShutDown();
      detail::Waiter w;
      co_await detail::park(putters_, w);
      if (w.cancelled) co_await detail::raise_cancelled();
      if (detail::cancel_requested(co_await asio::this_coro::cancellation_state)) {
        // Woken by get_nowait() but cancelled before we ran: pass it on.
        if (!full()) putters_.wake_one();
        co_await detail::raise_cancelled();
      }
    }
    put_nowait(std::move(item));
  }

  // Puts `item` if there is room.
  // Throws: QueueShutDown if shut down; QueueFull if full (the item is
  // then left untouched with the caller).
  void put_nowait(const T& item) {
    check_can_put();
    items_.push(item);
    after_put();
  }
  void put_nowait(T&& item) {
    check_can_put();
    items_.push(std::move(item));
    after_put();
  }

  // Removes and returns an item, waiting while the queue is empty.
  //
  // Throws: QueueShutDown once the queue is shut down and empty (at once
  // after shutdown(immediate=true)).
  // Cancellation: raises CancelledError; no item is taken. If an item had
  // been signalled to this task, the next waiting getter is woken for it.
  [[nodiscard]] Task<T> get() {
    if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
      co_await detail::raise_cancelled();
    while (empty()) {
      if (shutdown_) throw QueueShutDown();
      detail::Waiter w;
      co_await detail::park(getters_, w);
      if (w.cancelled) co_await detail::raise_cancelled();
      if (detail::cancel_requested(co_await asio::this_coro::cancellation_state)) {
        // Woken by put_nowait() but cancelled before we ran: pass it on.
        if (!empty()) getters_.wake_one();
        co_await detail::raise_cancelled();
      }
    }
    co_return get_nowait();
  }

  // Removes and returns an item if one is there.
  // Throws: QueueEmpty if empty; QueueShutDown if empty and shut down.
  T get_nowait() {
    if (empty()) {
      if (shutdown_) throw QueueShutDown();
      throw QueueEmpty();
    }
    T item = items_.pop();
    putters_.wake_one();
    return item;
  }

  // Marks one item taken by get() as processed; join() returns when every
  // item put has been marked.
  // Throws: ValueError if called more times than items were put.
  void task_done() {
    if (unfinished_ == 0) throw ValueError("task_done() called too many times");
    if (--unfinished_ == 0) joiners_.wake_all();
  }

  // Waits until every item put has been marked by task_done().
  //
  // Cancellation: raises CancelledError; nothing is lost.
  [[nodiscard]] Task<void> join() {
    if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
      co_await detail::raise_cancelled();
    if (unfinished_ == 0) co_return;
    detail::Waiter w;
    co_await detail::park(joiners_, w);
    if (w.cancelled) co_await detail::raise_cancelled();
    if (detail::cancel_requested(co_await asio::this_coro::cancellation_state))
      co_await detail::raise_cancelled();
  }

  // Shuts the queue down: put() and put_nowait() throw QueueShutDown from
  // now on, and every waiting putter is woken to throw it. get() drains
  // what is left, then throws QueueShutDown; waiting getters are woken to
  // find out. With `immediate`, the items left are discarded (each counted
  // as task_done(), which may release join()) and get() throws at once.
  void shutdown(bool immediate = false) {
    shutdown_ = true;
    if (immediate) {
      while (!empty()) {
        (void)items_.pop();
        if (unfinished_ > 0) --unfinished_;
      }
      if (unfinished_ == 0) joiners_.wake_all();
    }
    getters_.wake_all();
    putters_.wake_all();
  }

  std::size_t qsize() const noexcept { return items_.size(); }
  std::size_t maxsize() const noexcept { return maxsize_; }
  bool empty() const noexcept { return items_.size() == 0; }
  // Never true for an unbounded queue (maxsize 0).
  bool full() const noexcept { return maxsize_ > 0 && items_.size() >= maxsize_; }

  // Tasks parked in get() / put() / join() (a woken task is no longer counted).
  std::size_t getters_waiting() const noexcept { return getters_.size(); }
  std::size_t putters_waiting() const noexcept { return putters_.size(); }
  std::size_t joiners_waiting() const noexcept { return joiners_.size(); }
  // Items put and not yet marked by task_done().
  std::size_t unfinished_tasks() const noexcept { return unfinished_; }
  bool is_shutdown() const noexcept { return shutdown_; }

  // "<Queue maxsize=2 qsize=1 getters[0] putters[1] tasks=3 shutdown>",
  // after asyncio's Queue._format().
  std::string describe() const {
    std::string s = std::string("<") + Items::name + " maxsize=" + std::to_string(maxsize_) +
                    " qsize=" + std::to_string(qsize());
    if (!getters_.empty()) s += " getters[" + std::to_string(getters_.size()) + "]";
    if (!putters_.empty()) s += " putters[" + std::to_string(putters_.size()) + "]";
    if (unfinished_) s += " tasks=" + std::to_string(unfinished_);
    if (shutdown_) s += " shutdown";
    return s + ">";
  }

 protected:
  template <class... A>
  explicit BasicQueue(std::size_t maxsize, A&&... items_args)
      : items_(std::forward<A>(items_args)...), maxsize_(maxsize) {}
  ~BasicQueue() = default;

 private:
  void check_can_put() const {
    if (shutdown_) throw QueueShutDown();
    if (full()) throw QueueFull();
  }
  void after_put() {
    ++unfinished_;
    getters_.wake_one();
  }

  Items items_;
  std::size_t maxsize_;
  std::size_t unfinished_ = 0;
  bool shutdown_ = false;
  detail::WaitList getters_;
  detail::WaitList putters_;
  detail::WaitList joiners_;
};

}  // namespace detail

// A FIFO queue, asyncio.Queue. maxsize 0: unbounded.
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoItems<T>> {
 public:
  explicit Queue(std::size_t maxsize = 0) : detail::BasicQueue<T, detail::FifoItems<T>>(maxsize) {}
};

// A LIFO queue (a stack), asyncio.LifoQueue. maxsize 0: unbounded.
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoItems<T>> {
 public:
  explicit LifoQueue(std::size_t maxsize = 0) : detail::BasicQueue<T, detail::LifoItems<T>>(maxsize) {}
};

// A priority queue, asyncio.PriorityQueue: get() returns the smallest item
// by `Compare` (std::less: the smallest value first, as heapq). Items that
// compare equal come out in no particular order; put (priority, sequence)
// pairs for FIFO among equals. maxsize 0: unbounded.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::HeapItems<T, Compare>> {
 public:
  explicit PriorityQueue(std::size_t maxsize = 0, Compare compare = Compare())
      : detail::BasicQueue<T, detail::HeapItems<T, Compare>>(maxsize, std::move(compare)) {}
};

}  // namespace aio
