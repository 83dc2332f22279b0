// Behaviours of aio/generators.hpp: asyncio's async generators (`async def` with `yield`, `async for`).
#include <harness.hpp>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using aio::Task;
using aio::test::run_test;

namespace {
// The seeds' async_counter, in aio.
aio::Generator<int> async_counter(int limit, std::vector<std::string>* log = nullptr) {
  return aio::Generator<int>([limit, log](aio::Yield<int> yield) -> Task<> {
    for (int i = 0; i < limit; ++i) {
      if (log) log->push_back("produce " + std::to_string(i));
      co_await aio::sleep(1ms);
      co_await yield(i);
    }
  });
}
}  // namespace

TEST_CASE("async_counter yields its values in order and then ends", "[generators]") {
  run_test([]() -> Task<> {
    auto gen = async_counter(4);
    std::vector<int> got;
    while (auto v = co_await gen.next()) got.push_back(*v);
    CHECK(got == std::vector<int>{0, 1, 2, 3});
    CHECK_FALSE(co_await gen.next());
  }());
}

TEST_CASE("a generator is lazy: it produces only what is asked for", "[generators]") {
  run_test([]() -> Task<> {
    std::vector<std::string> log;
    {
      auto gen = async_counter(100, &log);
      CHECK(log.empty());
      CHECK(*co_await gen.next() == 0);
      CHECK(*co_await gen.next() == 1);
      co_await aio::sleep(5ms);
    }
    CHECK(log == std::vector<std::string>{"produce 0", "produce 1"});
    co_await aio::sleep(1ms);  // the dropped generator's body unwinds
  }());
}

TEST_CASE("a consumer that stops early cancels the generator's body", "[generators]") {
  run_test([]() -> Task<> {
    bool unwound = false;
    {
      aio::Generator<int> gen([&](aio::Yield<int> yield) -> Task<> {
        try {
          for (int i = 0;; ++i) co_await yield(i);
        } catch (const aio::CancelledError&) {
          unwound = true;
          throw;
        }
      });
      CHECK(*co_await gen.next() == 0);
    }
    co_await aio::sleep(1ms);
    CHECK(unwound);
  }());
}

TEST_CASE("an exception inside the generator reaches the consumer", "[generators]") {
  run_test([]() -> Task<> {
    aio::Generator<int> gen([](aio::Yield<int> yield) -> Task<> {
      co_await yield(1);
      throw aio::ValueError("generator broke");
    });
    CHECK(*co_await gen.next() == 1);
    CHECK_THROWS_AS(co_await gen.next(), aio::ValueError);
    CHECK_FALSE(co_await gen.next());
  }());
}
