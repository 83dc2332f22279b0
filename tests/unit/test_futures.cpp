// Behaviours of aio/futures.hpp, from CPython's test_futures.py.
#include <harness.hpp>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

TEST_CASE("a future set by a callback wakes its waiter with the value", "[futures]") {
  run_test([]() -> Task<> {
    aio::Future<int> f;
    aio::get_running_loop().call_later(1ms, [f]() mutable { f.set_result(7); });
    CHECK(co_await f.wait() == 7);
    CHECK(f.done());
    CHECK(f.result() == 7);
  }());
}

TEST_CASE("result of a pending future throws InvalidStateError and a second set_result too", "[futures]") {
  run_test([]() -> Task<> {
    aio::Future<int> f;
    CHECK_THROWS_AS(f.result(), aio::InvalidStateError);
    f.set_result(1);
    CHECK_THROWS_AS(f.set_result(2), aio::InvalidStateError);
    co_return;
  }());
}

TEST_CASE("set_exception is rethrown to the waiter", "[futures]") {
  run_test([]() -> Task<> {
    aio::Future<> f;
    f.set_exception(std::make_exception_ptr(aio::ValueError("x")));
    CHECK_THROWS_AS(co_await f.wait(), aio::ValueError);
  }());
}

TEST_CASE("cancelling the waiter cancels the future", "[futures]") {
  run_test([]() -> Task<> {
    aio::Future<int> f;
    auto w = aio::create_task(f.wait());
    co_await aio::sleep(1ms);
    w.cancel();
    CHECK_THROWS_AS(co_await w.join(), aio::CancelledError);
    CHECK(f.cancelled());
    CHECK_FALSE(f.cancel());
  }());
}

TEST_CASE("future done callbacks are scheduled on the loop", "[futures]") {
  run_test([]() -> Task<> {
    aio::Future<int> f;
    int seen = 0;
    f.add_done_callback([&](const aio::Future<int>& d) { seen = d.result(); });
    f.set_result(3);
    CHECK(seen == 0);
    co_await aio::sleep(0s);
    CHECK(seen == 3);
  }());
}
