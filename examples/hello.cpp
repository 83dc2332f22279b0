// examples/hello.cpp — a coroutine and run(), the first program of every asyncio tutorial.
//
//   async def say_hello():
//       print("Hello")
//       await asyncio.sleep(1)        # the loop is free meanwhile
//       print("World")
//
//   asyncio.run(say_hello())
//
// A coroutine is a function returning aio::Task<T>. Like a Python coroutine
// it does nothing until it is awaited or run; aio::run() makes a loop, runs
// the task to its end and returns its result (or rethrows its exception).
// The sleeps of these examples are a tenth of the tutorials' seconds.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

aio::Task<> say_hello() {
  std::puts("Hello");
  co_await aio::sleep(100ms);
  std::puts("World");
}

int main() {
  const auto start = std::chrono::steady_clock::now();
  aio::run(say_hello());
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::printf("ran for %.3f s\n", took.count());
}

// What it prints (checked by check_output.py):
//> Hello
//> World
//> ran for {0.1..0.6} s
