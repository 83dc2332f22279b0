// aio/detail/inline_frame.hpp: the coroutine frame layout an InlineFrame
// relies on. (The frames themselves are exercised by test_stream_frames.)
#include <aio/detail/inline_frame.hpp>

#include <catch2/catch.hpp>

#include <coroutine>

using aio::detail::CoroutineFrameHeader;

namespace {

// A coroutine that counts its resumptions.
struct Counting {
  struct promise_type {
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

