// clients/load/load.hpp — internal to aio-load. Options, per-thread state, transports.
//
// aio-load runs one aio loop per --threads, each owning a share of the
// connections (shared nothing, like the servers it measures). A run has two
// phases per thread: open every connection (and, in chat mode, join the
// room), then, once every thread is ready, drive them until the common
// deadline. The hot paths use raw Asio operations on the sockets (a load
// generator must outrun the servers it measures); what every thread counts
// lives in Stats, whose counters the main thread reads once a second for the
// live line and whose histogram it merges at the end.
#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <aio/tasks.hpp>

#include "histogram.hpp"
#include "pattern.hpp"

namespace aio_load {

using Clock = std::chrono::steady_clock;
using Plain = asio::ip::tcp::socket;
using Tls = asio::ssl::stream<asio::ip::tcp::socket>;

// Awaits an Asio operation and hands back its error code instead of throwing.
inline constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

struct Options {
  std::string mode = "echo";
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;
  std::size_t connections = 1;
  std::size_t size = 64;
  std::size_t pipeline = 1;
  double duration = 10.0;       // seconds
  double rate = 0.0;            // round trips (chat: lines) per second, all connections; 0: as fast as possible
  std::size_t threads = 1;
  bool tls = false;
  std::string ca_file;          // verify the server against it; without it TLS does not verify
  bool json = false;
  bool mark_start = false;      // tell a driving script when the measured window opens
  std::size_t senders = 1;      // chat: how many of the clients send
  std::string room = "bench";   // chat
  double grace = 2.0;           // seconds a stalled connection is given after the deadline
  double connect_timeout = 15.0;  // seconds for opening every connection (phase 1)
  std::size_t connect_concurrency = 128;  // per thread
  bool busy_poll = false;       // never sleep in epoll_wait while driving (see worker.cpp)
  double warmup = 0.0;          // chat: seconds of load before the measured window
  std::string line = "PING";    // line: the request, without its newline
};

// What one thread measured. Counters are written by their thread only and
// read (relaxed) by the main thread for the live line.
struct Stats {
  std::atomic<std::uint64_t> round_trips{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> connect_errors{0};
  std::atomic<std::uint64_t> mismatches{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> messages_sent{0};       // chat
  std::atomic<std::uint64_t> messages_delivered{0};  // chat
  LogHistogram latency_ns;

  void add(std::atomic<std::uint64_t>& c, std::uint64_t v = 1) {
    c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
};

// State the threads share: set up by main before the threads start,
// read-only afterwards except for the chat counters.
struct Shared {
  Options opt;
  asio::ip::tcp::endpoint endpoint;
  Pattern pattern;
  std::shared_ptr<asio::ssl::context> ssl;
  Clock::time_point start;      // set when every thread is connected
  Clock::time_point measure_from;  // start + warmup: lines scheduled earlier are not counted
  Clock::time_point deadline;      // measure_from + duration
  // chat: lines sent by all senders, and senders that have finished
  std::atomic<std::uint64_t> chat_sent{0};
  std::atomic<std::size_t> chat_senders_done{0};

  explicit Shared(const Options& o);
};

// One loop thread.
struct Worker {
  Shared& sh;
  Stats& stats;
  std::size_t index;              // 0..threads-1
  std::vector<std::size_t> conns; // global connection numbers this thread owns

  bool stopping() const { return Clock::now() >= sh.deadline; }
};

// Transport helpers, overloaded for plain TCP and TLS.
inline asio::ip::tcp::socket& tcp_of(Plain& s) { return s; }
inline asio::ip::tcp::socket& tcp_of(Tls& s) { return s.next_layer(); }

template <class S>
std::unique_ptr<S> make_stream(asio::any_io_executor ex, Shared& sh);
template <>
inline std::unique_ptr<Plain> make_stream<Plain>(asio::any_io_executor ex, Shared&) {
  return std::make_unique<Plain>(ex);
}
template <>
inline std::unique_ptr<Tls> make_stream<Tls>(asio::any_io_executor ex, Shared& sh) {
  return std::make_unique<Tls>(ex, *sh.ssl);
}

// Connects (and for TLS shakes hands); false with stats counted on failure.
aio::Task<bool> open_stream(Plain& s, Shared& sh);
aio::Task<bool> open_stream(Tls& s, Shared& sh);

// Closes the descriptor at once: pending operations end with an error.
inline void abort_stream(Plain& s) {
  std::error_code ec;
  s.close(ec);
}
inline void abort_stream(Tls& s) {
  std::error_code ec;
  s.next_layer().close(ec);
}

// Mode entry points: phase 1 (open) then phase 2 (drive), per thread.
// `ready` is called once phase 1 is over and returns when every thread is.
using ReadyFn = std::function<void()>;
void run_worker(Worker& w, const ReadyFn& ready);

}  // namespace aio_load
