// clients/load/chat.cpp — the chat mode of aio-load (see chat.hpp).
#include "chat.hpp"

#include <asio/post.hpp>
#include <asio/write.hpp>

#include <aio/connection.hpp>
#include <aio/taskgroups.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "load.hpp"

namespace aio_load {
namespace {

// Plain TCP runs on aio streams once joined (see chat.hpp); TLS on Asio.
template <class S>
inline constexpr bool on_streams = std::is_same_v<S, Plain>;

// A sender waits in drain() only past this much queued (asyncio's drain
// contract: write() never waits, drain() is the backpressure point).
constexpr std::size_t kSendHighWater = 64 * 1024;

// Timestamps in the lines are nanoseconds since the run's start (Shared::start,
// common to every thread): 10-11 digits rather than the steady clock's 19,
// which took a tenth of aio-load's time to parse at 3 M lines/s.
std::int64_t ns_since(Clock::time_point epoch, Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t - epoch).count();
}

// Reads until `st.buf` holds a complete line; false on EOF/error.
template <class S>
aio::Task<bool> fill_line(S& s, ChatState& st) {
  char tmp[4096];
  while (st.buf.find('\n') == std::string::npos) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(tmp), tuple_awaitable);
    if (ec) co_return false;
    st.buf.append(tmp, n);
  }
  co_return true;
}

std::string take_line(ChatState& st) {
  auto pos = st.buf.find('\n');
  std::string line = st.buf.substr(0, pos);
  st.buf.erase(0, pos + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// A decimal number and the one space after it; false when there is no digit.
// (Hand-rolled: from_chars plus its bookkeeping was a tenth of aio-load's
// time at 4 M lines/s.)
bool parse_u64(const char*& p, const char* end, std::uint64_t& v) {
  const char* start = p;
  std::uint64_t x = 0;
  while (p != end && static_cast<unsigned>(*p - '0') < 10) x = x * 10 + static_cast<unsigned>(*p++ - '0');
  if (p == start || p - start > 19) return false;
  if (p != end && *p == ' ') ++p;
  v = x;
  return true;
}

// What one read delivered, added to the thread's Stats once per read.
struct Batch {
  std::uint64_t delivered = 0;
  std::uint64_t mismatches = 0;
};

// One delivered line (without "\n"), received at `now_ns`: count it, time
// it, check its order. Notices (`* ...`) and errors are skipped.
// Paced (`by_arrival` false): a line counts when it was scheduled in the
// measured window. Flat out (`by_arrival` true): when it arrives in the
// window, whenever it was sent, so the figure is what the server delivered
// in those seconds: a backlog the senders built in the warm-up (they can fill
// megabytes of socket buffers) would otherwise hide the window's lines
// behind it and understate the peak.
void on_line(Worker& w, ChatState& st, Batch& b, const char* p, const char* end, std::int64_t now,
             std::int64_t measure_from, bool by_arrival, bool arrived_in_window) {
  if (p == end || *p != '<') return;
  const char* gt = static_cast<const char*>(std::memchr(p, '>', static_cast<std::size_t>(end - p)));
  if (!gt || end - gt < 4 || gt[1] != ' ' || gt[2] != 'b' || gt[3] != ' ') return;
  p = gt + 4;
  std::uint64_t id = 0, seq = 0, ts = 0;
  if (!parse_u64(p, end, id) || !parse_u64(p, end, seq) || !parse_u64(p, end, ts) || id >= st.last.size()) {
    ++b.mismatches;
    return;
  }
  if (static_cast<std::int64_t>(seq) != st.last[id] + 1) ++b.mismatches;
  st.last[id] = static_cast<std::int64_t>(seq);
  ++st.received;
  if (by_arrival && arrived_in_window) ++b.delivered;
  if (static_cast<std::int64_t>(ts) < measure_from) return;  // scheduled in the warm-up
  if (!by_arrival) ++b.delivered;
  const std::int64_t lat = now - static_cast<std::int64_t>(ts);
  w.stats.latency_ns.record(lat > 0 ? static_cast<std::uint64_t>(lat) : 0);
}

template <class S>
aio::Task<void> chat_sender(Worker& w, S& s, ChatState& st, std::size_t conn) {
  const Options& o = w.sh.opt;
  const double per_sender = o.rate / static_cast<double>(o.senders);
  const auto interval = per_sender > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_sender))
                                       : Clock::duration::zero();
  Clock::time_point next = w.sh.start + interval * static_cast<long>(conn) / static_cast<long>(o.senders);
  asio::steady_timer timer(s.get_executor());  // the released Plain socket keeps its executor
  std::string line;
  char num[64];
  for (std::uint64_t seq = 0;; ++seq) {
    auto now = Clock::now();
    Clock::time_point stamp = now;
    bool waited = false;  // this turn gave the loop to the others already
    if (per_sender > 0) {
      if (next >= w.sh.deadline) break;
      if (next > now) {
        if (o.busy_poll) {
          // The thread spins anyway (--busy-poll): wait by yielding to the
          // loop until the line is due. A timer per line re-armed the
          // loop's timerfd every time (8% of aio-load's time at 30 k lines/s).
          while (Clock::now() < next) co_await asio::post(asio::use_awaitable);
        } else {
          timer.expires_at(next);
          co_await timer.async_wait(tuple_awaitable);
        }
        waited = true;
      }
      stamp = next;
      next += interval;
    } else if (now >= w.sh.deadline) {
      break;
    }
    const auto ts = std::max<std::int64_t>(0, ns_since(w.sh.start, stamp));
    int len = std::snprintf(num, sizeof num, "b %zu %llu %lld ", conn, static_cast<unsigned long long>(seq),
                            static_cast<long long>(ts));
    line.assign(num, static_cast<std::size_t>(len));
    if (line.size() + 1 < o.size) line.append(o.size - 1 - line.size(), 'x');
    line.push_back('\n');
    bool ok = true;
    if constexpr (on_streams<S>) {
      aio::StreamWriter& writer = *st.writer;
      writer.write(line);  // sends at once when nothing is queued; ignored once lost
      ok = !writer.is_closing();
      if (ok && writer.get_write_buffer_size() > kSendHighWater) {
        waited = true;
        try {
          co_await writer.drain();
        } catch (const std::exception&) {  // ConnectionResetError; CancelledError passes
          ok = false;
        }
      }
      // write() never suspends: flat out (or behind schedule) a sender
      // would keep the thread until the deadline and starve the receivers
      // (the server then drops them as too slow). Yield once per line, as
      // the awaited async_write of the TLS path does.
      if (ok && !waited) co_await asio::post(asio::use_awaitable);
    } else {
      auto [ec, n] = co_await asio::async_write(s, asio::buffer(line), tuple_awaitable);
      ok = !ec;
    }
    if (!ok) {
      w.stats.add(w.stats.errors);
      break;
    }
    ++st.sent;
    if (stamp >= w.sh.measure_from) {
      w.stats.add(w.stats.messages_sent);
      w.stats.add(w.stats.bytes_sent, line.size());
    }
    w.sh.chat_sent.fetch_add(1, std::memory_order_relaxed);
  }
  w.sh.chat_senders_done.fetch_add(1, std::memory_order_acq_rel);
}

// Reads straight into one buffer and parses every complete line in place;
// the clock is read once per read (every line in it arrived together).
template <class S>
aio::Task<void> chat_receiver(Worker& w, S& s, ChatState& st) {
  const Options& o = w.sh.opt;
  std::vector<char> buf(std::max<std::size_t>(256 * 1024, 4 * (o.size + 64)));
  std::size_t have = 0;  // bytes of an incomplete line at the front of buf
  const std::int64_t measure_from = ns_since(w.sh.start, w.sh.measure_from);
  const std::int64_t deadline = ns_since(w.sh.start, w.sh.deadline);
  const bool by_arrival = o.rate <= 0;
  if (!st.buf.empty()) {  // what chat_join read past its confirmation
    if (st.buf.size() > buf.size() / 2) buf.resize(st.buf.size() * 2);
    have = st.buf.size();
    std::memcpy(buf.data(), st.buf.data(), have);
    std::string().swap(st.buf);
  }
  auto all_in = [&] {
    return w.sh.chat_senders_done.load(std::memory_order_acquire) == o.senders &&
           st.received + st.sent >= w.sh.chat_sent.load(std::memory_order_relaxed);
  };
  while (!all_in()) {
    if (have == buf.size()) buf.resize(buf.size() * 2);  // a line longer than the buffer
    std::size_t n = 0;
    bool ok = true;
    if constexpr (on_streams<S>) {
      const std::span<char> space(buf.data() + have, buf.size() - have);
      try {
        n = co_await st.reader->read_into(space);
      } catch (const std::exception&) {  // ConnectionResetError, ...; CancelledError passes
        ok = false;
      }
      ok = ok && n > 0;  // 0: EOF, or the watchdog's abort
    } else {
      auto [ec, got] = co_await s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), tuple_awaitable);
      ok = !ec;
      n = got;
    }
    if (!ok) {
      if (!w.stopping()) w.stats.add(w.stats.errors);  // after the deadline: the watchdog
      co_return;
    }
    const std::int64_t now = ns_since(w.sh.start, Clock::now());
    w.stats.add(w.stats.bytes_received, n);
    const char* p = buf.data();
    const char* end = buf.data() + have + n;
    const bool in_window = now >= measure_from && now < deadline;
    Batch b;
    for (const char* nl; (nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))); p = nl + 1) {
      const char* e = nl;
      if (e != p && e[-1] == '\r') --e;
      on_line(w, st, b, p, e, now, measure_from, by_arrival, in_window);
    }
    have = static_cast<std::size_t>(end - p);
    if (have) std::memmove(buf.data(), p, have);
    if (b.delivered) w.stats.add(w.stats.messages_delivered, b.delivered);
    if (b.mismatches) w.stats.add(w.stats.mismatches, b.mismatches);
  }
}

}  // namespace

template <class S>
aio::Task<bool> chat_join(Worker& w, S& s, ChatState& st, std::size_t) {
  st.last.assign(w.sh.opt.senders, -1);
  if (!co_await fill_line(s, st)) co_return false;
  if (take_line(st).rfind("* welcome", 0) != 0) co_return false;
  std::string join = "/join " + w.sh.opt.room + "\n";
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(join), tuple_awaitable);
  if (ec) co_return false;
  const std::string want = "* joined #" + w.sh.opt.room;
  for (;;) {
    if (!co_await fill_line(s, st)) co_return false;
    if (take_line(st).rfind(want, 0) == 0) break;
  }
  if constexpr (on_streams<S>) {
    // The descriptor leaves Asio's reactor here and joins aio's (with its
    // EPOLLRDHUP hint); what fill_line read past the confirmation stays in
    // st.buf for the receiver.
    std::error_code release_ec;
    const int fd = s.release(release_ec);
    if (release_ec) co_return false;
    bool adopted = true;
    try {
      auto [reader, writer] = co_await aio::open_connection(fd);
      st.reader.emplace(std::move(reader));
      st.writer.emplace(std::move(writer));
    } catch (const std::exception&) {  // the descriptor is closed then
      adopted = false;
    }
    co_return adopted;
  }
  co_return true;
}

void chat_abort(ChatState& st) {
  if (st.writer) st.writer->abort();
}

template <class S>
aio::Task<void> chat_drive(Worker& w, S& s, ChatState& st, std::size_t conn) {
  aio::TaskGroup g;
  if (conn < w.sh.opt.senders) g.create_task(chat_sender(w, s, st, conn));
  g.create_task(chat_receiver(w, s, st));
  co_await g.join();
}

template aio::Task<bool> chat_join<Plain>(Worker&, Plain&, ChatState&, std::size_t);
template aio::Task<bool> chat_join<Tls>(Worker&, Tls&, ChatState&, std::size_t);
template aio::Task<void> chat_drive<Plain>(Worker&, Plain&, ChatState&, std::size_t);
template aio::Task<void> chat_drive<Tls>(Worker&, Tls&, ChatState&, std::size_t);

}  // namespace aio_load
