// clients/load/worker.cpp — one loop thread: open the connections, then drive them.
//
// echo:    each connection keeps --pipeline messages of --size bytes in
//          flight; a round trip ends when the last byte of a message is back.
//          With --rate the sends follow a schedule and latency is measured
//          from the scheduled time, so a stalled server cannot hide its
//          stall by slowing the generator down (no coordinated omission).
// bulk:    each connection streams --size chunks one way as fast as the
//          server takes them while a second task reads the echo back; MB/s.
// connect: connect, one round trip of --size bytes, close; latency is the
//          whole of it.
// idle:    open --connections, one round trip each, hold them until the
//          deadline, then check that the server kept every one open.
// line:    for line protocols (a key-value server, Redis's inline commands):
//          each connection keeps --pipeline copies of --line in flight, and
//          a round trip ends at each reply line; replies are counted, not
//          compared (a reply starting "ERR" or "-" counts as an error).
// chat:    see chat.cpp.
// In the other modes every byte that comes back is compared with the byte
// sent at its offset.
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <aio/runners.hpp>
#include <aio/taskgroups.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>

#include "chat.hpp"
#include "load.hpp"

namespace aio_load {
namespace {

std::uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return b > a ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()) : 0;
}

// Reads what arrives and checks it against the pattern; false on EOF/error.
template <class S>
aio::Task<bool> read_checked(Worker& w, S& s, std::vector<char>& buf, std::uint64_t& recv_off, std::size_t& n) {
  auto [ec, got] = co_await s.async_read_some(asio::buffer(buf), tuple_awaitable);
  if (ec) co_return false;
  n = got;
  if (auto bad = w.sh.pattern.mismatches(recv_off, buf.data(), got); bad > 0) {
    if (w.stats.mismatches.load(std::memory_order_relaxed) == 0)
      std::fprintf(stderr, "aio-load: mismatch: %zu bad bytes in %zu received at stream offset %llu\n", bad, got,
                   static_cast<unsigned long long>(recv_off));
    w.stats.add(w.stats.mismatches, bad);
  }
  recv_off += got;
  w.stats.add(w.stats.bytes_received, got);
  co_return true;
}

template <class S>
aio::Task<bool> write_pattern(Worker& w, S& s, std::uint64_t& send_off, std::size_t n) {
  auto [ec, sent] = co_await asio::async_write(s, asio::buffer(w.sh.pattern.at(send_off, n)), tuple_awaitable);
  if (ec) co_return false;
  send_off += sent;
  w.stats.add(w.stats.bytes_sent, sent);
  co_return true;
}

std::size_t read_buffer_size(const Options& o) {
  return std::clamp<std::size_t>(o.size * o.pipeline, 4096, 65536);
}

// One echo connection: --pipeline messages in flight until the deadline.
template <class S>
aio::Task<void> drive_echo(Worker& w, S& s, std::size_t conn) {
  const Options& o = w.sh.opt;
  const std::size_t size = o.size;
  std::vector<char> buf(read_buffer_size(o));
  std::deque<Clock::time_point> sent_at;  // intended send time of each message in flight
  std::uint64_t send_off = 0, recv_off = 0, done_off = 0;
  asio::steady_timer timer(s.get_executor());
  // --rate: this connection's share, its first send spread over one interval.
  const double per_conn = o.rate / static_cast<double>(o.connections);
  const auto interval = per_conn > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_conn))
                                     : Clock::duration::zero();
  Clock::time_point next = w.sh.start + interval * static_cast<long>(conn) / static_cast<long>(o.connections);
  bool finished = false;  // no more sends before the deadline
  for (;;) {
    while (!finished && sent_at.size() < o.pipeline) {
      auto now = Clock::now();
      if (now >= w.sh.deadline) {
        finished = true;
        break;
      }
      Clock::time_point intended = now;
      if (per_conn > 0) {
        if (next > now) {
          if (next >= w.sh.deadline) {
            finished = true;
            break;
          }
          if (!sent_at.empty()) break;  // read what is in flight meanwhile
          timer.expires_at(next);
          co_await timer.async_wait(tuple_awaitable);
        }
        intended = next;
        next += interval;
      }
      if (!co_await write_pattern(w, s, send_off, size)) {
        w.stats.add(w.stats.errors);
        co_return;
      }
      sent_at.push_back(intended);
    }
    if (sent_at.empty()) co_return;  // finished (the loop above only leaves empty-handed then)
    std::size_t n = 0;
    if (!co_await read_checked(w, s, buf, recv_off, n)) {
      w.stats.add(w.stats.errors);
      co_return;
    }
    if (recv_off > send_off) {  // more came back than was sent
      w.stats.add(w.stats.mismatches, recv_off - send_off);
      w.stats.add(w.stats.errors);
      co_return;
    }
    if (recv_off - done_off >= size) {
      const auto now = Clock::now();
      while (recv_off - done_off >= size) {
        done_off += size;
        w.stats.latency_ns.record(ns_between(sent_at.front(), now));
        sent_at.pop_front();
        w.stats.add(w.stats.round_trips);
      }
    }
  }
}

// One line-protocol connection: --pipeline requests in flight, a round trip per reply line.
template <class S>
aio::Task<void> drive_line(Worker& w, S& s) {
  const Options& o = w.sh.opt;
  const std::string request = o.line + "\n";
  std::vector<char> buf(65536);
  std::deque<Clock::time_point> sent_at;
  bool at_line_start = true;
  std::string head;  // the first bytes of the reply line being read
  for (;;) {
    while (sent_at.size() < o.pipeline && !w.stopping()) {
      auto [ec, sent] = co_await asio::async_write(s, asio::buffer(request), tuple_awaitable);
      if (ec) {
        w.stats.add(w.stats.errors);
        co_return;
      }
      w.stats.add(w.stats.bytes_sent, sent);
      sent_at.push_back(Clock::now());
    }
    if (sent_at.empty()) co_return;
    auto [ec, got] = co_await s.async_read_some(asio::buffer(buf), tuple_awaitable);
    if (ec) {
      w.stats.add(w.stats.errors);
      co_return;
    }
    w.stats.add(w.stats.bytes_received, got);
    const auto now = Clock::now();
    for (std::size_t i = 0; i < got; ++i) {
      const char c = buf[i];
      if (at_line_start) head.clear();
      at_line_start = false;
      if (head.size() < 3) head.push_back(c);
      if (c != '\n') continue;
      at_line_start = true;
      if (sent_at.empty()) {  // a reply nobody asked for
        w.stats.add(w.stats.mismatches);
        continue;
      }
      if (head.rfind("ERR", 0) == 0 || head.front() == '-') w.stats.add(w.stats.errors);
      w.stats.latency_ns.record(ns_between(sent_at.front(), now));
      sent_at.pop_front();
      w.stats.add(w.stats.round_trips);
    }
  }
}

// One bulk connection: a writer streams until the deadline and half-closes;
// the reader checks the echo until the server's EOF.
template <class S>
aio::Task<void> bulk_writer(Worker& w, S& s) {
  std::uint64_t send_off = 0;
  while (!w.stopping()) {
    if (!co_await write_pattern(w, s, send_off, w.sh.opt.size)) {
      w.stats.add(w.stats.errors);
      co_return;
    }
  }
  std::error_code ec;
  tcp_of(s).shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

template <class S>
aio::Task<void> bulk_reader(Worker& w, S& s) {
  std::vector<char> buf(65536);
  std::uint64_t recv_off = 0;
  std::size_t n = 0;
  while (co_await read_checked(w, s, buf, recv_off, n)) {
  }
}

template <class S>
aio::Task<void> drive_bulk(Worker& w, S& s) {
  aio::TaskGroup g;
  g.create_task(bulk_writer(w, s));
  g.create_task(bulk_reader(w, s));
  co_await g.join();
}

// connect mode: every loop turn is a new connection.
template <class S>
aio::Task<void> drive_connect(Worker& w) {
  std::vector<char> buf(read_buffer_size(w.sh.opt));
  auto ex = co_await asio::this_coro::executor;
  while (!w.stopping()) {
    const auto t0 = Clock::now();
    auto s = make_stream<S>(ex, w.sh);
    if (!co_await open_stream(*s, w.sh)) {
      w.stats.add(w.stats.connect_errors);
      w.stats.add(w.stats.errors);
      asio::steady_timer pause(ex, std::chrono::milliseconds(10));  // do not spin on a refusing server
      co_await pause.async_wait(tuple_awaitable);
      continue;
    }
    std::uint64_t send_off = 0, recv_off = 0;
    bool ok = co_await write_pattern(w, *s, send_off, w.sh.opt.size);
    std::size_t n = 0;
    while (ok && recv_off < send_off) ok = co_await read_checked(w, *s, buf, recv_off, n);
    abort_stream(*s);
    if (!ok) {
      w.stats.add(w.stats.errors);
      continue;
    }
    w.stats.latency_ns.record(ns_between(t0, Clock::now()));
    w.stats.add(w.stats.round_trips);
  }
}

// One round trip on a fresh connection (idle mode): false on failure.
template <class S>
aio::Task<bool> one_round_trip(Worker& w, S& s) {
  std::vector<char> buf(w.sh.opt.size);
  std::uint64_t send_off = 0, recv_off = 0;
  std::size_t n = 0;
  const auto t0 = Clock::now();
  bool ok = co_await write_pattern(w, s, send_off, w.sh.opt.size);
  while (ok && recv_off < send_off) ok = co_await read_checked(w, s, buf, recv_off, n);
  if (ok) {
    w.stats.latency_ns.record(ns_between(t0, Clock::now()));
    w.stats.add(w.stats.round_trips);
  }
  co_return ok;
}

// After holding them, every idle connection must still be open: a
// non-blocking read that would block proves it.
template <class S>
void check_still_open(Worker& w, S& s) {
  auto& sock = tcp_of(s);
  std::error_code ec;
  sock.non_blocking(true, ec);
  char c;
  sock.receive(asio::buffer(&c, 1), 0, ec);
  if (ec != asio::error::would_block) {
    w.stats.add(w.stats.errors);
    std::uint64_t open = w.stats.open.load(std::memory_order_relaxed);
    w.stats.open.store(open - 1, std::memory_order_relaxed);
  }
}

template <class S>
struct Conn {
  std::unique_ptr<S> stream;
  ChatState chat;  // chat mode only
  bool ok = false;
};

// Phase 1: open this thread's connections, a bounded number at a time.
template <class S>
aio::Task<void> open_all(Worker& w, std::vector<Conn<S>>& conns) {
  std::size_t next = 0;
  auto ex = co_await asio::this_coro::executor;
  auto opener = [&]() -> aio::Task<void> {
    while (next < conns.size()) {
      Conn<S>& c = conns[next];
      const std::size_t conn = w.conns[next];
      ++next;
      c.stream = make_stream<S>(ex, w.sh);
      if (!co_await open_stream(*c.stream, w.sh)) {
        w.stats.add(w.stats.connect_errors);
        w.stats.add(w.stats.errors);
        continue;
      }
      // No co_await inside && (g++ 12 miscompiles a short-circuited co_await).
      bool joined = true;
      if (w.sh.opt.mode == "idle") joined = co_await one_round_trip(w, *c.stream);
      if (w.sh.opt.mode == "chat") joined = co_await chat_join(w, *c.stream, c.chat, conn);
      if (!joined) {
        w.stats.add(w.stats.errors);
        continue;
      }
      c.ok = true;
      w.stats.add(w.stats.open);
    }
  };
  // A server that never answers must not hold the run forever: whatever is
  // not open after connect_timeout is closed and counted as failed.
  asio::steady_timer limit(ex, std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(w.sh.opt.connect_timeout)));
  auto on_limit = [&conns](std::error_code ec) {
    if (ec) return;
    for (auto& c : conns) {
      if (c.stream && !c.ok) abort_stream(*c.stream);
      if (!c.ok) chat_abort(c.chat);  // chat on plain TCP: the join may have handed the socket to aio
    }
  };
  limit.async_wait(on_limit);
  aio::TaskGroup g;
  const std::size_t k = std::min(conns.size(), w.sh.opt.connect_concurrency);
  for (std::size_t i = 0; i < k; ++i) g.create_task(opener());
  co_await g.join();
  limit.cancel();
}

// --busy-poll: a task that is always ready keeps Asio's scheduler from ever
// blocking in epoll_wait (with ready handlers it polls with a zero timeout),
// so this thread never sleeps while driving. Measuring on one host, a
// sleeping generator adds its own wake-up (an inter-processor interrupt and,
// on a VM, an exit to the hypervisor per wake) to every latency it records,
// and that cost lands in the server's send path (the kernel wakes the
// receiver from inside the server's write); a spinning one does not.
aio::Task<void> busy_poll(const bool& done) {
  auto ex = co_await asio::this_coro::executor;
  while (!done) co_await asio::post(ex, asio::use_awaitable);
}

// Phase 2: drive every open connection until the deadline; a watchdog
// closes whatever is still stuck `grace` seconds after it.
template <class S>
aio::Task<void> drive_all(Worker& w, std::vector<Conn<S>>& conns) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer watchdog(ex, w.sh.deadline + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(w.sh.opt.grace)));
  auto on_watchdog = [&conns](std::error_code ec) {
    if (ec) return;
    for (auto& c : conns) {
      if (c.stream) abort_stream(*c.stream);
      chat_abort(c.chat);  // chat on plain TCP drives aio streams
    }
  };
  watchdog.async_wait(on_watchdog);
  const std::string& mode = w.sh.opt.mode;
  bool done = false;
  aio::TaskHandle<void> spinner;
  if (w.sh.opt.busy_poll) spinner = aio::create_task(busy_poll(done), "busy-poll");
  {
    aio::TaskGroup g;
    if (mode == "connect") {
      for (std::size_t i = 0; i < conns.size(); ++i) g.create_task(drive_connect<S>(w));
    } else if (mode == "idle") {
      asio::steady_timer hold(ex, w.sh.deadline);
      co_await hold.async_wait(tuple_awaitable);
      for (auto& c : conns)
        if (c.ok) check_still_open(w, *c.stream);
    } else {
      for (std::size_t i = 0; i < conns.size(); ++i) {
        if (!conns[i].ok) {
          // A sender that never joined has sent all it will: receivers must not wait for it.
          if (mode == "chat" && w.conns[i] < w.sh.opt.senders) w.sh.chat_senders_done.fetch_add(1);
          continue;
        }
        S& s = *conns[i].stream;
        if (mode == "echo")
          g.create_task(drive_echo(w, s, w.conns[i]));
        else if (mode == "bulk")
          g.create_task(drive_bulk(w, s));
        else if (mode == "line")
          g.create_task(drive_line(w, s));
        else if (mode == "chat")
          g.create_task(chat_drive(w, s, conns[i].chat, w.conns[i]));
      }
    }
    co_await g.join();
  }
  done = true;
  if (spinner.valid()) co_await spinner.join();
  watchdog.cancel();
  for (auto& c : conns) {
    if (c.stream) abort_stream(*c.stream);
    chat_abort(c.chat);
  }
}

template <class S>
void run_worker_on(Worker& w, const ReadyFn& ready) {
  aio::Runner runner;
  std::vector<Conn<S>> conns(w.sh.opt.mode == "connect" ? 0 : w.conns.size());
  runner.run(open_all(w, conns));
  ready();
  if (w.sh.opt.mode == "connect") conns.resize(w.conns.size());  // one driver per --connections
  runner.run(drive_all(w, conns));
}

}  // namespace

void run_worker(Worker& w, const ReadyFn& ready) {
  if (w.sh.opt.tls)
    run_worker_on<Tls>(w, ready);
  else
    run_worker_on<Plain>(w, ready);
}

}  // namespace aio_load
