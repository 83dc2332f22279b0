// clients/load/chat.cpp — the chat mode of aio-load (see chat.hpp).
#include "chat.hpp"

#include <asio/write.hpp>

#include <aio/taskgroups.hpp>

#include <charconv>
#include <cstdio>
#include <string_view>

#include "load.hpp"

namespace aio_load {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
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

bool parse_u64(std::string_view& sv, std::uint64_t& v) {
  auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), v);
  if (ec != std::errc{}) return false;
  sv.remove_prefix(static_cast<std::size_t>(p - sv.data()));
  if (!sv.empty() && sv.front() == ' ') sv.remove_prefix(1);
  return true;
}

// One delivered line: count it, time it, check its order.
void on_line(Worker& w, ChatState& st, std::string_view line) {
  if (line.empty() || line.front() != '<') return;  // notices and errors
  auto at = line.find("> b ");
  if (at == std::string_view::npos) return;
  line.remove_prefix(at + 4);
  std::uint64_t id = 0, seq = 0, ts = 0;
  if (!parse_u64(line, id) || !parse_u64(line, seq) || !parse_u64(line, ts) || id >= st.last.size()) {
    w.stats.add(w.stats.mismatches);
    return;
  }
  if (static_cast<std::int64_t>(seq) != st.last[id] + 1) w.stats.add(w.stats.mismatches);
  st.last[id] = static_cast<std::int64_t>(seq);
  ++st.received;
  w.stats.add(w.stats.messages_delivered);
  const std::int64_t lat = now_ns() - static_cast<std::int64_t>(ts);
  w.stats.latency_ns.record(lat > 0 ? static_cast<std::uint64_t>(lat) : 0);
}

template <class S>
aio::Task<void> chat_sender(Worker& w, S& s, ChatState& st, std::size_t conn) {
  const Options& o = w.sh.opt;
  const double per_sender = o.rate / static_cast<double>(o.senders);
  const auto interval = per_sender > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_sender))
                                       : Clock::duration::zero();
  Clock::time_point next = w.sh.start + interval * static_cast<long>(conn) / static_cast<long>(o.senders);
  asio::steady_timer timer(s.get_executor());
  std::string line;
  char num[64];
  for (std::uint64_t seq = 0;; ++seq) {
    auto now = Clock::now();
    Clock::time_point stamp = now;
    if (per_sender > 0) {
      if (next >= w.sh.deadline) break;
      if (next > now) {
        timer.expires_at(next);
        co_await timer.async_wait(tuple_awaitable);
      }
      stamp = next;
      next += interval;
    } else if (now >= w.sh.deadline) {
      break;
    }
    const auto ts = std::chrono::duration_cast<std::chrono::nanoseconds>(stamp.time_since_epoch()).count();
    int len = std::snprintf(num, sizeof num, "b %zu %llu %lld ", conn, static_cast<unsigned long long>(seq),
                            static_cast<long long>(ts));
    line.assign(num, static_cast<std::size_t>(len));
    if (line.size() + 1 < o.size) line.append(o.size - 1 - line.size(), 'x');
    line.push_back('\n');
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(line), tuple_awaitable);
    if (ec) {
      w.stats.add(w.stats.errors);
      break;
    }
    ++st.sent;
    w.stats.add(w.stats.messages_sent);
    w.stats.add(w.stats.bytes_sent, n);
    w.sh.chat_sent.fetch_add(1, std::memory_order_relaxed);
  }
  w.sh.chat_senders_done.fetch_add(1, std::memory_order_acq_rel);
}

template <class S>
aio::Task<void> chat_receiver(Worker& w, S& s, ChatState& st) {
  char tmp[65536];
  const Options& o = w.sh.opt;
  auto all_in = [&] {
    return w.sh.chat_senders_done.load(std::memory_order_acquire) == o.senders &&
           st.received + st.sent >= w.sh.chat_sent.load(std::memory_order_relaxed);
  };
  while (!all_in()) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(tmp), tuple_awaitable);
    if (ec) {
      if (!w.stopping()) w.stats.add(w.stats.errors);  // after the deadline: the watchdog
      co_return;
    }
    w.stats.add(w.stats.bytes_received, n);
    st.buf.append(tmp, n);
    std::size_t begin = 0;
    for (auto pos = st.buf.find('\n'); pos != std::string::npos; pos = st.buf.find('\n', begin)) {
      std::string_view line(st.buf.data() + begin, pos - begin);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      on_line(w, st, line);
      begin = pos + 1;
    }
    st.buf.erase(0, begin);
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
    if (take_line(st).rfind(want, 0) == 0) co_return true;
  }
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
