// Built against an installed aio by tests/package/check.sh.
#include <aio/aio.hpp>

#include <cstdio>

using namespace std::chrono_literals;

aio::Task<int> twice(int v) {
  co_await aio::sleep(1ms);
  co_return 2 * v;
}

aio::Task<int> main_task() {
  auto [a, b] = co_await aio::gather(twice(1), twice(20));
  co_return a + b;
}

int main() {
  int v = aio::run(main_task());
  std::printf("%d\n", v);
  return v == 42 ? 0 : 1;
}
