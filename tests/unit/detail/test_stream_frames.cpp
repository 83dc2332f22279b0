// aio/detail/stream_frames.hpp: the frames of read_some() and drain() in
// the stream state, over real sockets and fed readers.
#include <harness.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <aio/connection.hpp>
#include <aio/detail/stream_frames.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/runners.hpp>
#include <aio/streams.hpp>
#include <aio/timeouts.hpp>

using namespace std::chrono_literals;
using aio::StreamReader;
using aio::Task;
using aio::StreamWriter;
using aio::test::caught;
using aio::test::run_test;

namespace {

bool frame_idle(const StreamReader& r) { return r.state()->read_some_frame.idle(); }

std::pair<int, int> socket_pair() {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  return {sv[0], sv[1]};
}

}  // namespace

TEST_CASE("read_some runs in the stream state's frame, which is idle again once the read is awaited",
          "[streams]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamReader& r = conn.first;
    CHECK(frame_idle(r));
    auto h = aio::create_task(r.read_some());
    co_await aio::sleep(1ms);
    CHECK_FALSE(frame_idle(r));  // waiting on the socket
    REQUIRE(::write(peer, "abc", 3) == 3);
    CHECK(co_await h.join() == "abc");
    CHECK(frame_idle(r));
    for (int i = 0; i < 100; ++i) {
      const std::string msg = "message " + std::to_string(i);
      REQUIRE(::write(peer, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
      CHECK(co_await r.read_some() == msg);
    }
    CHECK(frame_idle(r));
    ::close(peer);
    CHECK(co_await r.read_some() == "");
    CHECK(frame_idle(r));
  }());
}

TEST_CASE("a read_some created while the frame is taken runs in a frame of its own, and both read in order",
          "[streams]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamReader& r = conn.first;
    auto first = r.read_some();
    auto second = r.read_some();
    REQUIRE(::write(peer, "one", 3) == 3);
    CHECK(co_await std::move(first) == "one");
    CHECK(frame_idle(r));
    REQUIRE(::write(peer, "two", 3) == 3);
    CHECK(co_await std::move(second) == "two");
    ::close(peer);
  }());
}

TEST_CASE("a read_some task dropped before it is awaited gives the frame back and loses nothing", "[streams]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamReader& r = conn.first;
    REQUIRE(::write(peer, "kept", 4) == 4);
    {
      auto dropped = r.read_some();
      CHECK_FALSE(frame_idle(r));
    }
    CHECK(frame_idle(r));
    CHECK(co_await r.read_some() == "kept");
    ::close(peer);
  }());
}

TEST_CASE("read_some on a fed reader waits above its frame, and what the wait raises reaches the caller",
          "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    auto h = aio::create_task(r.read_some());
    co_await aio::sleep(1ms);
    CHECK_FALSE(frame_idle(r));
    r.feed_data("fed");
    CHECK(co_await h.join() == "fed");
    CHECK(frame_idle(r));

    auto failing = aio::create_task(r.read_some());
    co_await aio::sleep(1ms);
    r.set_exception(std::make_exception_ptr(aio::ConnectionResetError("peer gone")));
    CHECK((co_await caught<aio::ConnectionResetError>(failing.join())).has_value());
    CHECK(frame_idle(r));
    // The error stays set: the entry check raises it at once, from the frame.
    CHECK((co_await caught<aio::ConnectionResetError>(r.read_some())).has_value());
    CHECK(frame_idle(r));
  }());
}

TEST_CASE("a read_some cancelled in its frame raises CancelledError and gives the reading flag back", "[streams]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamReader& r = conn.first;
    CHECK((co_await caught<aio::TimeoutError>(aio::wait_for(r.read_some(), 10ms))).has_value());
    CHECK(frame_idle(r));
    CHECK_FALSE(r.state()->reading);
    // A second reader while the first waits is still refused.
    auto h = aio::create_task(r.read_some());
    co_await aio::sleep(1ms);
    CHECK((co_await caught<aio::RuntimeError>(r.read_some())).has_value());
    REQUIRE(::write(peer, "xyz", 3) == 3);
    CHECK(co_await h.join() == "xyz");
    ::close(peer);
  }());
}

// ---- drain ----

namespace {

bool drain_idle() { return aio::detail::DrainFrame::this_thread().idle(); }

// Reads and counts what arrives on `fd` until EOF.
std::size_t read_all(int fd) {
  std::size_t total = 0;
  char buf[64 * 1024];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) total += static_cast<std::size_t>(n);
  return total;
}

}  // namespace

TEST_CASE("drain runs in the thread's frame: at once when nothing is paused, above it when it must wait",
          "[streams]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamWriter& w = conn.second;
    w.write("hello");
    co_await w.drain();
    CHECK(drain_idle());

    // The peer does not read: the writer pauses above the high-water mark.
    w.set_write_buffer_limits(16 * 1024);
    const std::string chunk(64 * 1024, 'd');
    std::size_t sent = 5;
    while (w.get_write_buffer_size() <= 16 * 1024) {
      w.write(chunk);
      sent += chunk.size();
    }
    auto h = aio::create_task(w.drain());
    co_await aio::sleep(1ms);
    CHECK_FALSE(h.done());
    CHECK_FALSE(drain_idle());  // drain_wait runs above it
    // A second drain while the frame is taken waits in its own frame.
    auto second = aio::create_task(w.drain());
    std::size_t got = 0;
    auto reader = aio::create_task(aio::to_thread([fd = peer, &got] { got = read_all(fd); }));
    co_await aio::wait_for(h.join(), 5s);
    co_await aio::wait_for(second.join(), 5s);
    CHECK(drain_idle());
    w.close();
    co_await w.wait_closed();
    co_await reader.join();
    CHECK(got == sent);
    ::close(peer);
  }());
}

TEST_CASE("a drain with a cancellation pending raises CancelledError from its frame", "[streams][cancel]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamWriter& w = conn.second;
    bool cancel_sent = false, drained = false;
    auto body = [&]() -> Task<> {
      auto ex = co_await asio::this_coro::executor;
      // Not an aio wait: the cancel() below arrives while the task sits here.
      while (!cancel_sent) co_await asio::post(ex, asio::use_awaitable);
      w.write("x");
      co_await w.drain();
      drained = true;
    };
    auto h = aio::create_task(body());
    co_await aio::sleep(0s);
    h.cancel();
    cancel_sent = true;
    CHECK((co_await caught<aio::CancelledError>(aio::wait_for(h.join(), 5s))).has_value());
    CHECK_FALSE(drained);
    CHECK(drain_idle());
    co_await w.drain();  // one cancel(), one CancelledError
    ::close(peer);
  }());
}

TEST_CASE("a drain dropped while it waits gives the frame back", "[streams]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    auto conn = co_await aio::open_connection(fd);
    StreamWriter& w = conn.second;
    w.set_write_buffer_limits(16 * 1024);
    const std::string chunk(64 * 1024, 'd');
    while (w.get_write_buffer_size() <= 16 * 1024) w.write(chunk);
    CHECK((co_await caught<aio::TimeoutError>(aio::wait_for(w.drain(), 10ms))).has_value());
    CHECK(drain_idle());
    w.abort();
    ::close(peer);
  }());
}

TEST_CASE("a drain waiting in the thread's frame does not hold up another connection's drain", "[streams]") {
  run_test([]() -> Task<> {
    auto [fd1, peer1] = socket_pair();
    auto [fd2, peer2] = socket_pair();
    auto slow = co_await aio::open_connection(fd1);
    auto fast = co_await aio::open_connection(fd2);
    StreamWriter& w1 = slow.second;
    StreamWriter& w2 = fast.second;
    w1.set_write_buffer_limits(16 * 1024);
    const std::string chunk(64 * 1024, 's');
    while (w1.get_write_buffer_size() <= 16 * 1024) w1.write(chunk);
    auto waiting = aio::create_task(w1.drain());
    co_await aio::sleep(1ms);
    CHECK_FALSE(drain_idle());
    w2.write("quick");
    co_await aio::wait_for(w2.drain(), 1s);
    char buf[8];
    CHECK(::read(peer2, buf, sizeof buf) == 5);
    CHECK_FALSE(waiting.done());
    w1.abort();
    CHECK((co_await caught<aio::ConnectionResetError>(aio::wait_for(waiting.join(), 1s))).has_value());
    CHECK(drain_idle());
    ::close(peer1);
    ::close(peer2);
  }());
}

// A read leaves its cancellation handler in the task's slot and the next
// read re-arms it (socket_read_op.hpp's arm_read_cancellation); another
// wait in between puts its own handler there, and the read after it makes a
// new one. Either way cancelling the task must end the parked read.
TEST_CASE("cancelling a task ends its parked read, after read upon read and after another wait", "[streams][cancel]") {
  for (const bool wait_between : {false, true}) {
    run_test([wait_between]() -> Task<> {
      auto [fd, peer] = socket_pair();
      auto conn = co_await aio::open_connection(fd);
      StreamReader& r = conn.first;
      int reads = 0;
      auto body = [&]() -> Task<> {
        for (;;) {
          auto data = co_await r.read_some();
          if (data.empty()) co_return;
          ++reads;
          if (wait_between && reads == 20) co_await aio::sleep(1ms);
        }
      };
      auto h = aio::create_task(body());
      for (int i = 0; i < 20; ++i) {
        REQUIRE(::write(peer, "ping", 4) == 4);
        while (reads == i) co_await aio::sleep(0s);
      }
      co_await aio::sleep(5ms);  // parked in its 21st read
      CHECK_FALSE(frame_idle(r));
      h.cancel();
      CHECK((co_await caught<aio::CancelledError>(aio::wait_for(h.join(), 5s))).has_value());
      CHECK(frame_idle(r));
      // The reader is free again, and a read there gets the next bytes.
      REQUIRE(::write(peer, "pong", 4) == 4);
      CHECK(co_await aio::wait_for(r.read_some(), 5s) == "pong");
      ::close(peer);
    }());
  }
}

// The handler a read leaves in its task's slot may outlive the stream: the
// task reads, drops its reader and writer (the stream state goes), and is
// cancelled before anything else replaces that handler. The cancellation
// must not reach the gone stream (the sanitizer build catches a use after
// free), and the task ends cancelled as usual.
TEST_CASE("cancelling a task after the stream it read from is gone touches nothing of that stream", "[streams][cancel]") {
  run_test([]() -> Task<> {
    auto [fd, peer] = socket_pair();
    REQUIRE(::write(peer, "ping", 4) == 4);
    std::weak_ptr<aio::detail::StreamState> stream;
    bool cancelled_after_stream_gone = false;
    using Handle = decltype(aio::create_task(std::declval<Task<>>()));
    std::optional<Handle> self;
    auto body = [&, fd = fd]() -> Task<> {
      {
        auto conn = co_await aio::open_connection(fd);
        stream = conn.first.state();
        CHECK(co_await conn.first.read_some() == "ping");
      }
      cancelled_after_stream_gone = stream.expired();
      stream.reset();  // make_shared's block goes with its last weak_ptr
      self->cancel();  // the read's handler is still in this task's slot
      co_await aio::sleep(0s);
    };
    self.emplace(aio::create_task(body()));
    CHECK((co_await caught<aio::CancelledError>(aio::wait_for(self->join(), 5s))).has_value());
    CHECK(cancelled_after_stream_gone);
    ::close(peer);
  }());
}
