// aio/detail/read_some_frame.hpp: read_some()'s frame in the stream state,
// over real sockets and fed readers, and the coroutine frame layout it
// relies on.
#include <harness.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <coroutine>
#include <string>
#include <utility>

#include <aio/connection.hpp>
#include <aio/detail/read_some_frame.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/streams.hpp>
#include <aio/timeouts.hpp>

using namespace std::chrono_literals;
using aio::StreamReader;
using aio::Task;
using aio::detail::CoroutineFrameHeader;
using aio::test::caught;
using aio::test::run_test;

namespace {

// A coroutine that counts its resumptions.
struct Counting {
  struct promise_type {
    int* resumed = nullptr;
    Counting get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() {}
  };
  std::coroutine_handle<promise_type> handle;
};

Counting count_resumptions(int* resumed) {
  for (;;) {
    co_await std::suspend_always{};
    ++*resumed;
  }
}

bool frame_idle(const StreamReader& r) { return r.state()->read_some_frame.idle(); }

std::pair<int, int> socket_pair() {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  return {sv[0], sv[1]};
}

}  // namespace

TEST_CASE("a coroutine handle resumes and destroys through the first two words of its frame") {
  // This compiler's own frames start with them...
  int resumed = 0;
  auto c = count_resumptions(&resumed);
  c.handle.resume();  // runs to the first co_await
  auto* real = static_cast<CoroutineFrameHeader*>(c.handle.address());
  real->resume(c.handle.address());
  CHECK(resumed == 1);
  c.handle.destroy();

  // ...and a handle made from a header calls through it.
  static int resumes = 0, destroys = 0;
  CoroutineFrameHeader fake{[](void*) { ++resumes; }, [](void*) { ++destroys; }};
  auto h = std::coroutine_handle<>::from_address(&fake);
  h.resume();
  h.resume();
  h.destroy();
  CHECK(resumes == 2);
  CHECK(destroys == 1);
}

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
