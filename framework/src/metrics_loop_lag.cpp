// metrics_loop_lag.cpp — monitor_loop_lag: how late the loop wakes a timer.
#include <aio/metrics.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <stdexcept>
#include <utility>
#include <vector>

#include <aio/use_task.hpp>

namespace aio::metrics {

namespace {

// 50 µs (a busy but healthy loop) to 1 s (a loop stuck in blocking work).
const std::vector<double>& lag_buckets() {
  static const std::vector<double> b{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                     0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1};
  return b;
}

}  // namespace

asio::awaitable<void> monitor_loop_lag(Registry& registry, std::chrono::milliseconds interval, std::string loop) {
  if (interval <= interval.zero()) throw std::invalid_argument("aio::metrics::monitor_loop_lag: interval must be > 0");
  const Labels labels{{"loop", std::move(loop)}};
  const Histogram lag = registry.histogram("aio_loop_lag_seconds", "How late the event loop ran a timer, in seconds.",
                                           lag_buckets(), labels);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    const auto deadline = std::chrono::steady_clock::now() + interval;
    timer.expires_at(deadline);
    co_await timer.async_wait(use_task);  // CancelledError ends the monitor
    lag.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - deadline).count());
  }
}

}  // namespace aio::metrics
