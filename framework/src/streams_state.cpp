// The shared connection state behind StreamReader and StreamWriter: the
// reading half of asyncio's StreamReader and the writing half of its
// selector/SSL transports.
#include <aio/detail/stream_state.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <array>
#include <string>

#include <aio/exceptions.hpp>
#include <aio/metrics.hpp>

#include "streams_sendfile.hpp"

namespace aio::detail {

namespace {

bool would_block(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

ReadingScope::ReadingScope(StreamState& s, const char* func) : st_(s) { st_.begin_reading(func); }

ReadingScope::~ReadingScope() { st_.end_reading(); }

void StreamState::begin_reading(const char* func) {
  if (reading)
    throw RuntimeError(std::string(func) + "() called while another coroutine is already waiting for incoming data");
  reading = true;
}

void StreamState::end_reading() noexcept {
  reading = false;
  rbuf.release_if_empty();
}

StreamState::StreamState(std::size_t lim) : limit(lim) {}

StreamState::StreamState(std::size_t lim, std::unique_ptr<Transport> t, bool is_server)
    : transport(std::move(t)), server_side(is_server), limit(lim), started(std::chrono::steady_clock::now()) {}

void StreamState::fetch_names() {
  names_ = std::make_unique<Names>();
  if (transport && !lost) {
    names_->peer = transport->peername();
    names_->local = transport->sockname();
  }
}

const std::string& StreamState::peer() {
  if (!names_) fetch_names();
  return names_->peer;
}

const std::string& StreamState::local() {
  if (!names_) fetch_names();
  return names_->local;
}

StreamState::~StreamState() {
  if (transport && !lost) transport->close();
}

// ---------------------------------------------------------------- reading

// The general wait (read, readline, readuntil, readexactly): one read from
// the transport straight under this coroutine, or a park for a fed reader.
asio::awaitable<void> StreamState::wait_for_data(const char* func) {
  ReadingScope scope(*this, func);
  if (cancel_requested(co_await asio::this_coro::cancellation_state)) co_await raise_cancelled();
  if (!transport) {
    Waiter w;
    co_await park(waiters().data, w);
    if (w.cancelled) co_await raise_cancelled();
    raise_if_error();
    co_return;
  }
  if (lost) {
    eof = true;
    co_return;
  }
  ReadResult r;
  if (transport->speculative()) {
    co_await read_in_place<void>(*this);
    r = read_result;
  } else {
    r = co_await transport->receive(ReadTarget{&rbuf, nullptr, 0});
  }
  if (read_cancelled(r)) co_await check_cancelled();
  complete_read(r);
  raise_if_error();
}

void StreamState::complete_read(const ReadResult& r) {
  if (r.ec) {
    on_read_error(r.ec);
  } else {
    received(r.n);
  }
}

void StreamState::on_read_error(const std::error_code& ec) {
  if (ec == asio::error::eof || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
      ec == asio::ssl::error::stream_truncated || lost) {
    eof = true;
    return;
  }
  std::exception_ptr e;
  if (is_connection_lost(ec)) {
    e = std::make_exception_ptr(ConnectionResetError(ec.message()));
  } else {
    e = std::make_exception_ptr(std::system_error(ec));
  }
  error = e;
  connection_lost(e);
}

void StreamState::feed_data(std::string_view data) {
  if (eof) throw RuntimeError("feed_data after feed_eof");
  if (data.empty()) return;
  rbuf.append(data);
  if (waiters_) waiters_->data.wake_all();
}

void StreamState::feed_eof() {
  eof = true;
  if (waiters_) waiters_->data.wake_all();
}

void StreamState::set_exception(std::exception_ptr e) {
  error = std::move(e);
  if (waiters_) waiters_->data.wake_all();
}

void StreamState::received(std::size_t n) {
  if (n == 0) {
    eof = true;
    return;
  }
  touch();
  if (metrics) metrics->bytes_received(n);
}

// ---------------------------------------------------------------- writing

void StreamState::sent(std::size_t n) {
  touch();
  if (metrics && n) metrics->bytes_sent(n);
}

void StreamState::write(std::string_view data) {
  if (eof_pending_ || eof_written_) throw RuntimeError("Cannot call write() after write_eof()");
  if (!transport || closing || lost || data.empty()) return;
  if (write_buffer_size() == 0 && transport->speculative()) {
    const asio::const_buffer b(data.data(), data.size());
    std::error_code ec;
    std::size_t n = transport->try_write(&b, 1, ec);
    if (ec && !would_block(ec)) {
      fatal_write_error(ec);
      return;
    }
    if (ec) n = 0;
    sent(n);
    if (n == data.size()) return;
    data.remove_prefix(n);
  }
  queue(data);
}

void StreamState::writelines(std::span<const std::string_view> parts) {
  if (eof_pending_ || eof_written_) throw RuntimeError("Cannot call write() after write_eof()");
  if (!transport || closing || lost) return;
  // Gather writes of up to 64 parts each, as long as the kernel takes
  // everything; from the first partial write on, the rest is queued (and the
  // flusher sends the queue with one writev per turn).
  constexpr std::size_t max_gather = 64;
  std::array<asio::const_buffer, max_gather> bufs;
  std::size_t i = 0;
  while (i < parts.size()) {
    if (write_buffer_size() != 0 || !transport->speculative() || lost) {
      for (; i < parts.size(); ++i) queue(parts[i]);
      return;
    }
    std::size_t count = 0;
    std::size_t total = 0;
    std::size_t end = i;
    for (; end < parts.size() && count < max_gather; ++end) {
      if (parts[end].empty()) continue;
      bufs[count++] = asio::const_buffer(parts[end].data(), parts[end].size());
      total += parts[end].size();
    }
    if (total == 0) return;
    std::error_code ec;
    std::size_t n = transport->try_write(bufs.data(), count, ec);
    if (ec && !would_block(ec)) {
      fatal_write_error(ec);
      return;
    }
    if (ec) n = 0;
    sent(n);
    for (; i < end; ++i) {
      if (n >= parts[i].size()) {
        n -= parts[i].size();
        continue;
      }
      queue(parts[i].substr(n));
      n = 0;
    }
  }
}

void StreamState::queue(std::string_view data) {
  if (data.empty()) return;
  // Checked here, off write()'s path to the socket: during a native
  // sendfile every write comes here (inflight_ is never 0 then).
  if (sendfile_active_) throw RuntimeError("unable to write; sendfile is in progress");
  wbuf.append(data);
  if (!paused_ && write_buffer_size() > high_) paused_ = true;
  start_flush();
}

void StreamState::start_flush() {
  if (flushing_ || lost || write_buffer_size() == 0) return;
  flushing_ = true;
  asio::co_spawn(transport->get_executor(), flush_loop(shared_from_this()), asio::detached);
}

// The one flushing path: one write in flight per connection.
asio::awaitable<void> StreamState::flush_loop(std::shared_ptr<StreamState> self) {
  while (!self->lost && self->wbuf.size() > self->whead) {
    if (self->transport->speculative()) {
      const std::error_code wait_ec = co_await self->transport->wait_writable();
      if (self->lost) break;
      if (wait_ec) {
        self->fatal_write_error(wait_ec);
        break;
      }
      const asio::const_buffer b(self->wbuf.data() + self->whead, self->wbuf.size() - self->whead);
      std::error_code ec;
      const std::size_t n = self->transport->try_write(&b, 1, ec);
      if (ec && !would_block(ec)) {
        self->fatal_write_error(ec);
        break;
      }
      if (ec) continue;
      self->whead += n;
      self->sent(n);
    } else {
      std::string inflight;
      inflight.swap(self->wbuf);
      inflight.erase(0, self->whead);
      self->whead = 0;
      self->inflight_ = inflight.size();
      const std::error_code ec = co_await self->transport->async_write_all(inflight.data(), inflight.size());
      const std::size_t n = inflight.size();
      self->inflight_ = 0;
      if (self->lost) break;
      if (ec) {
        self->fatal_write_error(ec);
        break;
      }
      self->sent(n);
    }
    self->after_flush_progress();
  }
  self->flushing_ = false;
  self->flush_done();
}

void StreamState::flush_done() {
  if (lost || write_buffer_size() != 0) return;
  if (eof_pending_) {
    eof_pending_ = false;
    eof_written_ = true;
    std::error_code ec;
    transport->shutdown_send(ec);
  }
  if (closing) connection_lost(nullptr);
}

void StreamState::after_flush_progress() {
  if (whead == wbuf.size()) {
    // Drained: give the memory back so an idle connection holds none.
    std::string().swap(wbuf);
    whead = 0;
  } else if (whead > wbuf.size() / 2) {
    wbuf.erase(0, whead);
    whead = 0;
  }
  if (paused_ && write_buffer_size() <= low_) {
    paused_ = false;
    if (waiters_) waiters_->drainers.wake_all();
  }
  if (write_buffer_size() == 0 && waiters_) waiters_->flushed.wake_all();
}

void StreamState::fatal_write_error(const std::error_code& ec) {
  std::exception_ptr e;
  if (is_connection_lost(ec) || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
    e = std::make_exception_ptr(ConnectionResetError(ec.message()));
  } else {
    e = std::make_exception_ptr(std::system_error(ec));
  }
  if (!error) error = e;
  connection_lost(e);
}

asio::awaitable<void> StreamState::drain() {
  co_await check_cancelled();
  raise_if_error();
  co_await drain_wait();
}

asio::awaitable<void> StreamState::drain_wait() {
  if (closing || lost) {
    // Let a pending close complete first (asyncio's sleep(0)).
    co_await asio::post(executor(), asio::use_awaitable);
  }
  if (lost) throw ConnectionResetError("Connection lost");
  while (paused_) {
    Waiter w;
    co_await park(waiters().drainers, w);
    if (w.cancelled) co_await raise_cancelled();
    if (lost) throw ConnectionResetError("Connection lost");
  }
}

asio::awaitable<void> StreamState::flushed() {
  co_await check_cancelled();
  while (!lost && write_buffer_size() != 0) {
    Waiter w;
    co_await park(waiters().flushed, w);
    if (w.cancelled) co_await raise_cancelled();
  }
  if (lost) throw ConnectionResetError("Connection lost");
}

void StreamState::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) throw ValueError("high (" + std::to_string(high) + ") must be >= low (" + std::to_string(low) + ")");
  high_ = high;
  low_ = low;
  if (write_buffer_size() > high_) {
    paused_ = true;
  } else if (paused_ && write_buffer_size() <= low_) {
    paused_ = false;
    if (waiters_) waiters_->drainers.wake_all();
  }
}

void StreamState::write_eof() {
  if (closing || lost || eof_pending_ || eof_written_) return;
  if (!can_write_eof()) throw RuntimeError("this transport cannot write EOF");
  if (write_buffer_size() == 0) {
    eof_written_ = true;
    std::error_code ec;
    transport->shutdown_send(ec);
  } else {
    eof_pending_ = true;
  }
}

void StreamState::close() {
  if (closing || lost || !transport) return;
  closing = true;
  if (write_buffer_size() == 0 && !flushing_) connection_lost(nullptr);
  // else: the flusher closes once everything is sent.
}

void StreamState::abort() {
  if (lost || !transport) return;
  closing = true;
  aborting_ = true;
  connection_lost(nullptr);
}

void StreamState::connection_lost(std::exception_ptr err) {
  if (lost) return;
  lost = true;
  closing = true;
  if (err || aborting_) {
    transport->close();
  } else {
    transport->close_gracefully();
  }
  lost_error_ = err;
  if (err) {
    if (!error) error = err;
  }
  eof = true;
  std::string().swap(wbuf);
  whead = 0;
  paused_ = false;
  if (idle_) idle_->timer.cancel();
  if (waiters_ && waiters_->sendfile) waiters_->sendfile->stop();
  if (waiters_) waiters_->drainers.wake_all();
  if (waiters_) waiters_->flushed.wake_all();
  if (waiters_) waiters_->closed.wake_all();
  if (waiters_) waiters_->data.wake_all();
  if (metrics) metrics->connection_closed(std::chrono::steady_clock::now() - started);
  if (server && handler_done) {
    auto keep = shared_from_this();
    auto core = std::move(server);
    server_connection_done(*core, *this);
  }
}

void StreamState::mark_handler_done() {
  handler_done = true;
  if (lost && server) {
    auto keep = shared_from_this();
    auto core = std::move(server);
    server_connection_done(*core, *this);
  }
}

asio::awaitable<void> StreamState::wait_closed() {
  co_await check_cancelled();
  while (!lost) {
    Waiter w;
    co_await park(waiters().closed, w);
    if (w.cancelled) co_await raise_cancelled();
  }
  if (lost_error_) std::rethrow_exception(lost_error_);
}

// ---------------------------------------------------------------- idle timeout

void StreamState::arm_idle_timer(std::chrono::steady_clock::duration idle) {
  if (idle.count() <= 0 || lost) return;
  idle_ = std::make_unique<IdleTimer>(transport->get_executor());
  idle_->timeout = idle;
  last_activity_ = std::chrono::steady_clock::now();
  schedule_idle_check(last_activity_ + idle);
}

// One timer per connection: progress only moves last_activity_, and the
// timer, when it fires, re-arms itself for the new deadline.
void StreamState::schedule_idle_check(std::chrono::steady_clock::time_point when) {
  idle_->timer.expires_at(when);
  std::weak_ptr<StreamState> weak = weak_from_this();
  idle_->timer.async_wait([weak](std::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->lost) return;
    const auto deadline = self->last_activity_ + self->idle_->timeout;
    if (std::chrono::steady_clock::now() < deadline) {
      self->schedule_idle_check(deadline);
      return;
    }
    spdlog::debug("closing idle connection from {}", self->peer());
    if (self->metrics) self->metrics->idle_timeout();
    self->abort();
  });
}

}  // namespace aio::detail
