// aio/generators.hpp — public. Async generators: asyncio's `async def ... yield` and `async for`.
//
//   aio::Generator<int> async_counter(int limit) {
//     return aio::Generator<int>([limit](aio::Yield<int> yield) -> aio::Task<> {
//       for (int i = 0; i < limit; ++i) {
//         co_await aio::sleep(10ms);      // any aio wait between values
//         co_await yield(i);
//       }
//     });
//   }
//   auto gen = async_counter(3);
//   while (auto v = co_await gen.next()) std::cout << *v;
//
// The body runs as a task on the loop, handing values over a one-slot
// hand-off: it starts on the first next() and runs only while a value is
// asked for, so it is as lazy as a Python async generator. Dropping the
// generator cancels the body (its pending `yield` raises CancelledError),
// which is asyncio's aclose(). An exception in the body reaches the consumer
// from next().
//
// Concurrency: loop-local; one consumer at a time.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <aio/tasks.hpp>

namespace aio {

template <class T>
class Generator;
template <class T>
class Yield;

namespace detail {
template <class T>
struct GeneratorState {
  std::function<Task<void>(Yield<T>)> body;
  TaskHandle<void> task;
  bool started = false;
  bool finished = false;
  bool demand = false;
  std::optional<T> slot;
  std::exception_ptr error;
  WaitList consumer;
  WaitList producer;
};
}  // namespace detail

// What the body calls to hand a value to the consumer.
template <class T>
class Yield {
 public:
  explicit Yield(std::shared_ptr<detail::GeneratorState<T>> st) : st_(std::move(st)) {}

  // Hands `value` over and waits until the consumer asks for the next one.
  // Cancellation: raised when the generator is dropped; the body unwinds.
  [[nodiscard]] Task<void> operator()(T value) const {
    auto st = st_;
    st->slot.emplace(std::move(value));
    st->demand = false;
    st->consumer.wake_one();
    while (!st->demand) {
      detail::Waiter w;
      co_await detail::park(st->producer, w);
      if (w.cancelled) co_await detail::raise_cancelled();
    }
  }

 private:
  std::shared_ptr<detail::GeneratorState<T>> st_;
};

template <class T>
class Generator {
 public:
  using Body = std::function<Task<void>(Yield<T>)>;

  explicit Generator(Body body) : st_(std::make_shared<detail::GeneratorState<T>>()) {
    st_->body = std::move(body);
  }
  Generator(Generator&&) noexcept = default;
  Generator& operator=(Generator&&) noexcept = default;
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  ~Generator() {
    if (st_ && st_->task.valid() && !st_->task.done()) st_->task.cancel("generator closed");
  }

  // The next value, or nullopt once the body has returned. Rethrows an
  // exception of the body (once; nullopt after).
  // Cancellation: stops waiting; a value produced meanwhile is kept for the
  // next call.
  [[nodiscard]] Task<std::optional<T>> next() {
    auto st = st_;
    co_await detail::check_cancelled();
    if (!st->slot && !st->finished) {
      st->demand = true;
      if (!st->started) {
        st->started = true;
        st->task = create_task(run(st), "generator");
      } else {
        st->producer.wake_one();
      }
      while (!st->slot && !st->finished) {
        detail::Waiter w;
        co_await detail::park(st->consumer, w);
        if (w.cancelled) co_await detail::raise_cancelled();
      }
    }
    if (st->slot) {
      std::optional<T> v(std::move(*st->slot));
      st->slot.reset();
      co_return v;
    }
    if (st->error) std::rethrow_exception(std::exchange(st->error, nullptr));
    co_return std::nullopt;
  }

 private:
  static Task<void> run(std::shared_ptr<detail::GeneratorState<T>> st) {
    try {
      co_await st->body(Yield<T>(st));
    } catch (const CancelledError&) {
    } catch (...) {
      st->error = std::current_exception();
    }
    st->finished = true;
    st->consumer.wake_one();
  }

  std::shared_ptr<detail::GeneratorState<T>> st_;
};

}  // namespace aio
