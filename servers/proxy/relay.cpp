// servers/proxy/relay.cpp — the two pumps of a relay and how it ends.
#include "relay.hpp"

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <string>
#include <system_error>

#include <aio/exceptions.hpp>
#include <aio/runners.hpp>
#include <aio/tasks.hpp>

#include "splice.hpp"
#include "upstream.hpp"

namespace proxy {

// Shared with the timer's handler, which may already be queued when the
// relay ends: it acts only while `relay` is set.
struct Relay::Timer {
  asio::steady_timer timer;
  Relay* relay;
  Timer(const asio::any_io_executor& ex, Relay* r) : timer(ex), relay(r) {}
  void disarm() {
    relay = nullptr;
    timer.cancel();
  }
};

Relay::Relay(aio::StreamReader client_reader, aio::StreamWriter client_writer, aio::StreamReader upstream_reader,
             aio::StreamWriter upstream_writer, Upstream& upstream, const RelayOptions& options,
             PipePool* pipes)
    : client_reader_(std::move(client_reader)),
      upstream_reader_(std::move(upstream_reader)),
      client_writer_(std::move(client_writer)),
      upstream_writer_(std::move(upstream_writer)),
      upstream_(upstream),
      options_(options),
      pipes_(options.splice ? pipes : nullptr) {}

Relay::~Relay() {
  if (half_close_) half_close_->disarm();
  if (idle_) idle_->disarm();
}

namespace {
// An activity stamp per relayed chunk needs no better than a few
// milliseconds: CLOCK_MONOTONIC_COARSE (steady_clock's clock, at its tick
// resolution, without reading the TSC), as the streams' own idle timer does.
std::chrono::steady_clock::time_point coarse_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}
}  // namespace

void Relay::count(Direction d, std::size_t n) {
  if (d == Direction::to_upstream)
    upstream_.sent(n);
  else
    upstream_.received(n);
  if (idle_) last_activity_ = coarse_now();
}

void Relay::start_idle_watch() {
  if (!pipes_ || options_.idle_timeout.count() <= 0) return;
  last_activity_ = coarse_now();
  idle_ = std::make_shared<Timer>(aio::get_running_loop().context().get_executor(), this);
  // One timer per relay: activity only moves last_activity_; on expiry the
  // timer re-arms for the new deadline or closes the relay.
  struct Check {
    std::shared_ptr<Timer> t;
    void operator()(std::error_code ec) const {
      if (ec || !t->relay) return;
      Relay& r = *t->relay;
      const auto deadline = r.last_activity_ + r.options_.idle_timeout;
      if (std::chrono::steady_clock::now() < deadline) {
        t->timer.expires_at(deadline);
        t->timer.async_wait(Check{t});
        return;
      }
      spdlog::debug("closing idle relay with {}", r.upstream_.label());
      r.abort();
    }
  };
  idle_->timer.expires_at(last_activity_ + options_.idle_timeout);
  idle_->timer.async_wait(Check{idle_});
}

void Relay::abort() noexcept {
  client_writer_.abort();
  upstream_writer_.abort();
}

aio::Task<void> Relay::run() {
  // The direction to the client runs as a bare coroutine of its own: a full
  // task (name, result, done callbacks, join) would cost an idle relay about
  // 700 more bytes, and nothing here needs more than "it has ended".
  auto to_client = pump(upstream_reader_, client_writer_, Direction::to_client);
  start_idle_watch();
  auto ended = [this](std::exception_ptr) { to_client_done_.set(); };
  auto executor = co_await asio::this_coro::executor;  // g++ 12: no temporaries inside a co_await expression
  asio::co_spawn(executor, std::move(to_client), ended);
  std::exception_ptr cancelled;
  try {
    co_await pump(client_reader_, upstream_writer_, Direction::to_upstream);
  } catch (const aio::CancelledError&) {
    cancelled = std::current_exception();  // pump() has aborted both sides
  }
  // The other direction refers to this object: run() must not end before
  // it. Both sides are closed when this one failed or was cancelled, so the
  // wait is short; a further cancellation is held until it is over.
  while (!to_client_done_.is_set()) {
    try {
      co_await to_client_done_.wait();
    } catch (const aio::CancelledError&) {
      abort();
      if (!cancelled) cancelled = std::current_exception();
    }
  }
  if (cancelled) std::rethrow_exception(cancelled);
}

aio::Task<void> Relay::pump(aio::StreamReader from, aio::StreamWriter to, Direction d) {
  // Reads this large suggest a transfer in bulk, worth moving in the kernel.
  constexpr std::size_t splice_after = 16 * 1024;
  const int source = (d == Direction::to_upstream ? client_writer_ : upstream_writer_).native_handle();
  const int destination = to.native_handle();
  bool splice_next = false;
  std::string pending;  // what a splice could not hand to a full destination
  bool eof = false;
  try {
    for (;;) {
      if (splice_next && to.get_write_buffer_size() == 0) {
        splice_next = false;
        const auto pipe = pipes_->take();
        if (pipe.first >= 0) {
          std::size_t moved = 0;
          const auto result = splice_once(source, destination, pipe, 64 * 1024, moved, pending);
          const int error = errno;
          if (result == SpliceResult::failed) {
            ::close(pipe.first);  // it may hold bytes: not for the pool
            ::close(pipe.second);
            throw std::system_error(error, std::generic_category(), "splice");
          }
          pipes_->give(pipe);
          count(d, moved);
          if (result == SpliceResult::eof) {
            eof = true;
            break;
          }
          if (result == SpliceResult::moved) {
            splice_next = true;
            continue;
          }
          if (result == SpliceResult::destination_full) {
            count(d, pending.size());
            to.write(pending);
            co_await to.drain();
            splice_next = true;
            continue;
          }
          // would_block: wait for the source the ordinary way.
        }
      }
      std::string_view data = co_await from.read_some();
      if (data.empty()) {
        eof = true;
        break;
      }
      count(d, data.size());
      splice_next = pipes_ && data.size() >= splice_after;
      to.write(data);
      co_await to.drain();
    }
  } catch (const aio::CancelledError&) {
    abort();
    throw;
  } catch (const std::exception& e) {
    spdlog::debug("relay {} {}: {}", d == Direction::to_upstream ? "to" : "from", upstream_.label(), e.what());
  }
  if (!eof) {
    abort();  // an error on one side ends both
    co_return;
  }
  // The FIN goes on after what is buffered; the other direction keeps flowing.
  try {
    if (to.can_write_eof())
      to.write_eof();
    else
      to.close();
  } catch (const std::exception&) {
    to.close();
  }
  direction_ended();
}

void Relay::direction_ended() {
  if (--open_directions_ == 0) {
    if (half_close_) half_close_->disarm();
    return;
  }
  if (options_.half_close_timeout.count() <= 0) return;
  half_close_ = std::make_shared<Timer>(aio::get_running_loop().context().get_executor(), this);
  half_close_->timer.expires_after(options_.half_close_timeout);
  half_close_->timer.async_wait([t = half_close_](std::error_code ec) {
    if (ec || !t->relay) return;
    spdlog::debug("relay with {}: half-closed for {} ms, closing", t->relay->upstream_.label(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(t->relay->options_.half_close_timeout).count());
    t->relay->abort();
  });
}

}  // namespace proxy
