// servers/proxy/relay.cpp — the two pumps of a relay and how it ends.
#include "relay.hpp"

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include <aio/exceptions.hpp>
#include <aio/runners.hpp>
#include <aio/tasks.hpp>

#include "upstream.hpp"

namespace proxy {

// Shared with the timer's handler, which may already be queued when the
// relay ends: it acts only while `relay` is set.
struct Relay::HalfCloseTimer {
  asio::steady_timer timer;
  Relay* relay;
  HalfCloseTimer(const asio::any_io_executor& ex, Relay* r) : timer(ex), relay(r) {}
  void disarm() {
    relay = nullptr;
    timer.cancel();
  }
};

Relay::Relay(aio::StreamReader client_reader, aio::StreamWriter client_writer, aio::StreamReader upstream_reader,
             aio::StreamWriter upstream_writer, Upstream& upstream, const RelayOptions& options)
    : client_reader_(std::move(client_reader)),
      upstream_reader_(std::move(upstream_reader)),
      client_writer_(std::move(client_writer)),
      upstream_writer_(std::move(upstream_writer)),
      upstream_(upstream),
      options_(options) {}

Relay::~Relay() {
  if (half_close_) half_close_->disarm();
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
  bool eof = false;
  try {
    for (;;) {
      std::string_view data = co_await from.read_some();
      if (data.empty()) {
        eof = true;
        break;
      }
      if (d == Direction::to_upstream)
        upstream_.sent(data.size());
      else
        upstream_.received(data.size());
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
  half_close_ = std::make_shared<HalfCloseTimer>(aio::get_running_loop().context().get_executor(), this);
  half_close_->timer.expires_after(options_.half_close_timeout);
  half_close_->timer.async_wait([t = half_close_](std::error_code ec) {
    if (ec || !t->relay) return;
    spdlog::debug("relay with {}: half-closed for {} ms, closing", t->relay->upstream_.label(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(t->relay->options_.half_close_timeout).count());
    t->relay->abort();
  });
}

}  // namespace proxy
