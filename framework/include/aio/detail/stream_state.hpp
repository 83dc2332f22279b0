// aio/detail/stream_state.hpp — internal. The one state a connection's readers and writers share.
//
// Owned by shared_ptr: StreamReader and StreamWriter handles (counted in
// `writers`: the last writer to go closes the connection), the flusher while
// it runs, and the server while the connection is tracked.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <ctime>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <aio/detail/buffer.hpp>
#include <aio/detail/stream_frames.hpp>
#include <aio/detail/transport.hpp>
#include <aio/detail/wait_list.hpp>

namespace aio::metrics {
class ServerMetrics;
}

namespace aio::detail {

class SendfileWait;
class ServerCore;
class StreamState;

// Called by a tracked connection once it is closed and its handler is done.
void server_connection_done(ServerCore& core, StreamState& st) noexcept;

// Marks a reader busy for the duration of one wait (cancellation included);
// gives the read buffer back to the pool when the wait leaves it empty.
class ReadingScope {
 public:
  ReadingScope(StreamState& s, const char* func);
  ReadingScope(const ReadingScope&) = delete;
  ReadingScope& operator=(const ReadingScope&) = delete;
  ~ReadingScope();

 private:
  StreamState& st_;
};

// `co_await read_in_place<T>(st)` inside an asio::awaitable<T> coroutine
// holding a ReadingScope, when st.transport->speculative(): one read into
// the stream's buffer (or into dst/cap), with no coroutine frame of its
// own, and with the entry cancellation check (see start_read_in_place); the
// outcome is in st.read_result afterwards. The operation lives in
// st.read_op. The awaitable holds one to three words, so the awaiting frame
// stays small (g++ keeps every awaiter of a coroutine in its frame).
template <class T>
[[nodiscard]] auto read_in_place(StreamState& st);
template <class T>
[[nodiscard]] auto read_in_place(StreamState& st, char* dst, std::size_t cap);

class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  explicit StreamState(std::size_t limit);
  StreamState(std::size_t limit, std::unique_ptr<Transport> transport, bool server_side);
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;
  ~StreamState();

  // ---- reading (asyncio's StreamReader) ----
  // Waits until more data, EOF or an error is there; rethrows the error.
  // The hot paths take the same steps inline (a ReadingScope,
  // read_in_place(), which checks cancellation, then read_cancelled() and
  // complete_read()): read_into in its own coroutine frame, read_some in
  // read_some_frame below, so that a read costs one reactor operation and
  // at most one frame.
  asio::awaitable<void> wait_for_data(const char* func);
  // What ReadingScope does, for read_some's frame: one waiting reader at a
  // time (RuntimeError naming `func` otherwise).
  void begin_reading(const char* func);
  void end_reading() noexcept;
  // True when a read ended because it was cancelled (or the socket closed):
  // the caller raises CancelledError if its task has a cancellation pending.
  // (`r.ec &&` first: comparing with an Asio error fetches Asio's category,
  // a guarded function-local static, twice per message otherwise.)
  static bool read_cancelled(const ReadResult& r) noexcept { return r.ec && r.ec == asio::error::operation_aborted; }
  // Applies one read: counts the bytes, records EOF or the error.
  void complete_read(const ReadResult& r);
  void feed_data(std::string_view data);
  void feed_eof();
  void set_exception(std::exception_ptr e);
  void raise_if_error() const {
    if (error) std::rethrow_exception(error);
  }

  // ---- writing (asyncio's transport + StreamWriter) ----
  void write(std::string_view data);
  void writelines(std::span<const std::string_view> parts);
  asio::awaitable<void> drain();
  // drain() without its entry checks (cancellation, error): StreamWriter::drain
  // makes them inline and comes here only when it must wait.
  asio::awaitable<void> drain_wait();
  bool drain_ready() const noexcept { return !closing && !lost && !paused_; }
  asio::awaitable<void> flushed();  // waits until nothing is buffered (start_tls)
  void set_write_buffer_limits(std::size_t high, std::size_t low);
  std::size_t write_buffer_size() const noexcept { return wbuf.size() - whead + inflight_; }
  bool can_write_eof() const noexcept { return transport && transport->can_write_eof(); }
  void write_eof();
  void close();
  void abort();
  bool is_closing() const noexcept { return closing || lost; }
  asio::awaitable<void> wait_closed();
  asio::any_io_executor executor() const { return transport ? transport->get_executor() : asio::any_io_executor(); }

  // loop.sendfile over this connection (streams_sendfile.cpp); `count` 0:
  // up to the file's end. Returns the bytes sent.
  asio::awaitable<std::size_t> sendfile(int fd, std::uint64_t offset, std::uint64_t count);

  void arm_idle_timer(std::chrono::steady_clock::duration idle);
  // Called when the handler returns; detaches from the server if closed.
  void mark_handler_done();
  // Loses the connection: closes the transport, wakes everybody.
  void connection_lost(std::exception_ptr err);

  // The socket a read's cancellation handler cancels on (`owner` is the
  // stream state): as it is now, empty for TLS, fd -1 once closed.
  static void read_socket(void* owner, ReactorSocketRef& sock) noexcept {
    auto* st = static_cast<StreamState*>(owner);
    if (st->transport) st->transport->reactor_socket(sock);
  }
  ReadCancelSource read_cancel_source() noexcept { return ReadCancelSource{&read_cancel, &read_socket, this}; }

  // What a read's completion and the next write touch of this connection
  // (socket_read_op.hpp's WarmList): the transport object, and this
  // state's hot members when the read does not go to rbuf (from which the
  // operation finds them itself).
  WarmList warm_list(bool with_state) const noexcept {
    WarmList warm;
    if (with_state) warm.add(&rbuf, read_buffer_owner_hot_bytes);
    warm.add(transport.get(), 2 * cache_line);
    return warm;
  }

 private:
  void on_read_error(const std::error_code& ec);
  void fatal_write_error(const std::error_code& ec);
  void sent(std::size_t n);
  void received(std::size_t n);
  // Activity stamps for the idle timeout (twice per echoed message) need no
  // better than a few milliseconds: CLOCK_MONOTONIC_COARSE, the clock
  // steady_clock reads, at its tick resolution and without reading the TSC.
  void touch() {
    if (!idle_) return;
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    last_activity_ =
        std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
  void queue(std::string_view data);
  void after_flush_progress();
  void start_flush();
  // What follows the last flush: the pending write_eof, the deferred close.
  void flush_done();
  asio::awaitable<void> sendfile_native(int fd, std::uint64_t offset, std::uint64_t count, std::size_t& total,
                                        bool& unavailable);
  asio::awaitable<void> sendfile_fallback(int fd, std::uint64_t offset, std::uint64_t count, std::size_t& total);
  void end_native_sendfile() noexcept;
  static asio::awaitable<void> flush_loop(std::shared_ptr<StreamState> self);
  void schedule_idle_check(std::chrono::steady_clock::time_point when);

  // Rarely used parts, allocated on first use, so that an idle connection
  // does not carry them: the four wait lists (most connections never park
  // anything but a read, which waits on the socket) and the idle timer.
  struct Waiters {
    WaitList data;     // readers of a fed (transport-less) stream
    WaitList drainers;
    WaitList flushed;
    WaitList closed;
    // A native sendfile's writability wait: connection_lost() stops it.
    SendfileWait* sendfile = nullptr;
  };
  struct IdleTimer {
    explicit IdleTimer(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    std::chrono::steady_clock::duration timeout{};
  };
  Waiters& waiters() {
    if (!waiters_) waiters_ = std::make_unique<Waiters>();
    return *waiters_;
  }

 public:
  // ---- the members a message touches, together and first ----
  // A read prefetches read_buffer_owner_hot_bytes from rbuf on
  // (socket_read_op.hpp's WarmList): with 1,000 connections every line of
  // this block is a cache miss per message (the kernel's time does not
  // suffer from them, docs/performance-echo.md, but each is one more line
  // to fetch), so it is kept to what an echo touches, small types packed,
  // the flags together: 176 bytes from rbuf to
  // read_cancel (below), then read_op and read_some_frame. (Not aligned to
  // a line: that saved 0.8 of a line per message in cachegrind, and cost
  // 99 bytes per idle connection.)
  ReadBuffer rbuf;
  std::unique_ptr<Transport> transport;
  metrics::ServerMetrics* metrics = nullptr;
  std::exception_ptr error;
  bool eof = false;
  bool reading = false;
  bool lost = false;
  bool handler_done = true;
  bool server_side = false;

 private:
  bool closing = false;
  bool flushing_ = false;
  bool paused_ = false;
  bool eof_pending_ = false;
  bool eof_written_ = false;
  bool aborting_ = false;  // abort(): no orderly close (no TLS close_notify)
  // A native sendfile owns the socket: it holds flushing_ (no flusher
  // starts), inflight_ counts what is left of the file (so write() takes the
  // queueing path), and queue() refuses new bytes.
  bool sendfile_active_ = false;
  std::unique_ptr<IdleTimer> idle_;
  // Stamped on every read and write while an idle timeout is armed: here
  // rather than in IdleTimer, so that it is among the hot members.
  std::chrono::steady_clock::time_point last_activity_;
  std::size_t whead = 0;
  std::size_t inflight_ = 0;  // TLS: bytes the async write in flight holds (in flush_loop's frame)
  std::string wbuf;

 public:
  // The socket read in flight (read_in_place; one reader at a time): its
  // outcome and its operation, here next to the members its completion
  // touches rather than in the reading coroutine's frame.
  ReadResult read_result;
  // The link with the cancellation handler of this stream's last read (socket_read_op.hpp).
  ReadCancelLink read_cancel;
  ReadOpStorage read_op;
  // StreamReader::read_some()'s frame (stream_frames.hpp).
  ReadSomeFrame read_some_frame;

 private:
  // ---- cold: not touched per message ----
  std::unique_ptr<Waiters> waiters_;
  std::size_t high_ = 64 * 1024;
  std::size_t low_ = 16 * 1024;
  std::exception_ptr lost_error_;
  struct Names {
    std::string peer, local;
  };
  std::unique_ptr<Names> names_;
  void fetch_names();

 public:
  std::size_t limit;
  // How many StreamWriter handles exist; the last one to go closes.
  std::size_t writers = 0;
  // The peer's and the socket's names: asked of the transport on first use
  // and kept, so that a connection nobody asks pays no getpeername() and
  // getsockname() at accept, nor 64 bytes while it lives.
  const std::string& peer();
  const std::string& local();
  std::shared_ptr<ServerCore> server;
  StreamState* srv_prev = nullptr;
  StreamState* srv_next = nullptr;
  std::chrono::steady_clock::time_point started;
};

template <class T>
auto read_in_place(StreamState& st) {
  return [st = &st](asio::detail::awaitable_frame_base<asio::any_io_executor>* frame) {
    // An empty buffer goes back to the pool now: the read may wait without a
    // speculative recv (epoll_hints.hpp), and an idle reader holds no chunk;
    // the operation takes one only when bytes are there.
    st->rbuf.release_if_empty();
    ReactorSocketRef sock;
    st->transport->reactor_socket(sock);
    return start_read_in_place<T>(frame, sock, st->read_cancel_source(), ReadTarget{&st->rbuf, nullptr, 0},
                                  &st->read_result, st->warm_list(false), &st->read_op);
  };
}

template <class T>
auto read_in_place(StreamState& st, char* dst, std::size_t cap) {
  return [st = &st, dst, cap](asio::detail::awaitable_frame_base<asio::any_io_executor>* frame) {
    ReactorSocketRef sock;
    st->transport->reactor_socket(sock);
    return start_read_in_place<T>(frame, sock, st->read_cancel_source(), ReadTarget{nullptr, dst, cap},
                                  &st->read_result, st->warm_list(true), &st->read_op);
  };
}

}  // namespace aio::detail
