// The loop and its runner: how a program enters aio and leaves it cleanly.
#include <aio/runners.hpp>

#include <asio/signal_set.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace aio {
namespace {
thread_local Loop* t_running = nullptr;
}

namespace detail {
LoopState* running_loop_state() noexcept { return t_running; }
LoopState& require_running_loop() {
  if (!t_running) throw RuntimeError("no running event loop");
  return *t_running;
}
asio::thread_pool& default_pool() {
  // asyncio's default executor size: min(32, cpus + 4).
  static asio::thread_pool pool(std::min(32u, std::max(1u, std::thread::hardware_concurrency()) + 4));
  return pool;
}
}  // namespace detail

void TimerHandle::cancel() {
  cancelled_ = true;
  if (timer_) timer_->cancel();
}

Loop::Loop() = default;

Loop::~Loop() {
  // Destroy what is still queued (suspended coroutine frames among it) while
  // the loop's members are alive.
  for (auto* t = tasks_head_; t; t = t->next) t->loop = nullptr;
}

namespace {
// A callback's exception is logged and the loop goes on, as asyncio's
// default exception handler does.
std::function<void()> guarded(std::function<void()> f) {
  return [f = std::move(f)] {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("exception in callback: {}", e.what());
    } catch (const CancelledError&) {
    }
  };
}
}  // namespace

void Loop::call_soon(std::function<void()> f) { asio::post(ctx_, guarded(std::move(f))); }

void Loop::call_soon_threadsafe(std::function<void()> f) { asio::post(ctx_, guarded(std::move(f))); }

TimerHandle Loop::call_later(std::chrono::steady_clock::duration delay, std::function<void()> f) {
  auto timer = std::make_shared<asio::steady_timer>(ctx_, delay);
  timer->async_wait([timer, f = guarded(std::move(f))](std::error_code ec) {
    if (!ec) f();
  });
  return TimerHandle(timer);
}

double Loop::time() const {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void Loop::stop() { ctx_.stop(); }

std::vector<std::string> Loop::all_task_names() const {
  std::vector<std::string> names;
  for (auto* t = tasks_head_; t; t = t->next) names.push_back(t->task_name());
  std::reverse(names.begin(), names.end());
  return names;
}

void Loop::cancel_all_tasks() {
  std::vector<detail::TaskStateBase*> live;
  for (auto* t = tasks_head_; t; t = t->next) live.push_back(t);
  for (auto* t : live)
    if (t->cancelling == 0) t->request_cancel();
}

void Loop::run_until_done(detail::FutureStateBase& main) {
  auto guard = asio::make_work_guard(ctx_);
  main.on_done([this, &guard] {
    guard.reset();
    ctx_.stop();
  });
  auto drive = [this] {
    ctx_.restart();
    if (!debug) {
      ctx_.run();
      return;
    }
    for (;;) {
      auto start = std::chrono::steady_clock::now();
      if (ctx_.run_one() == 0) return;
      auto took = std::chrono::steady_clock::now() - start;
      if (took >= slow_callback_duration)
        spdlog::warn("slow loop step: {:.3f} s (debug mode, slow_callback_duration {:.3f} s)",
                     std::chrono::duration<double>(took).count(),
                     std::chrono::duration<double>(slow_callback_duration).count());
    }
  };
  running_ = true;
  if (!main.done()) drive();
  guard.reset();
  // asyncio.run: cancel what main left behind and wait for it to unwind.
  cancel_all_tasks();
  ctx_.restart();
  while (task_count_ > 0 && ctx_.run_one() > 0) {
  }
  ctx_.restart();
  ctx_.poll();
  running_ = false;
}

Loop& get_running_loop() { return detail::require_running_loop(); }

Runner::Runner(bool debug) : loop_(std::make_unique<Loop>()) { loop_->debug = debug; }

Runner::~Runner() { close(); }

Loop& Runner::get_loop() {
  if (!loop_) throw RuntimeError("Runner is closed");
  return *loop_;
}

void Runner::close() {
  if (!loop_) return;
  // Not Scope: close() also runs from the destructor, which must not throw
  // when a Runner was (wrongly) used inside another running loop.
  Loop* previous = t_running;
  t_running = loop_.get();
  loop_->cancel_all_tasks();
  loop_->ctx_.restart();
  while (loop_->task_count_ > 0 && loop_->ctx_.run_one() > 0) {
  }
  loop_->ctx_.restart();
  loop_->ctx_.poll();
  loop_.reset();
  t_running = previous;
}

Runner::Scope::Scope(Runner& r) : previous(t_running) {
  if (t_running && t_running->is_running())
    throw RuntimeError("run() cannot be called from a running event loop");
  if (!r.loop_) throw RuntimeError("Runner is closed");
  t_running = r.loop_.get();
}

Runner::Scope::~Scope() { t_running = previous; }

Task<int> wait_for_signal(std::vector<int> signals) {
  co_await detail::check_cancelled();
  asio::signal_set set(co_await asio::this_coro::executor);
  for (int s : signals) set.add(s);
  co_return co_await set.async_wait(use_task);
}

}  // namespace aio
