// examples/queue.cpp — producer and consumers around a Queue, with task_done and join.
//
//   async def worker(name, queue):
//       while True:
//           item = await queue.get()
//           await asyncio.sleep(item)          # process it
//           queue.task_done()
//
//   for i in items: queue.put_nowait(i)
//   workers = [asyncio.create_task(worker(f"worker-{n}", queue)) for n in range(3)]
//   await queue.join()                         # every item processed
//   for w in workers: w.cancel()
//   await asyncio.gather(*workers, return_exceptions=True)
//
// aio::Queue<T> is asyncio.Queue (maxsize 0: unbounded; put waits while it is
// full). Getters are served first come, first served, so which worker gets
// which item is deterministic here. A bounded queue makes the producer wait
// for the consumers: the backpressure of the second part.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

aio::Task<> worker(std::string name, aio::Queue<int>& queue) {
  for (;;) {
    const int item = co_await queue.get();
    co_await aio::sleep(std::chrono::milliseconds(20 * item));
    std::printf("%s done with item %d\n", name.c_str(), item);
    queue.task_done();
  }
}

aio::Task<> producer(aio::Queue<int>& queue, int n) {
  for (int i = 1; i <= n; ++i) {
    co_await queue.put(i);  // waits while the queue is full
    std::printf("put %d (queue size %zu)\n", i, queue.qsize());
  }
}

aio::Task<> consumer(aio::Queue<int>& queue) {
  for (;;) {
    const int item = co_await queue.get();
    co_await aio::sleep(30ms);
    std::printf("consumed %d\n", item);
    queue.task_done();
  }
}

aio::Task<> cancel_all(std::vector<aio::TaskHandle<>>& tasks) {
  for (auto& t : tasks) t.cancel();
  co_await aio::wait(tasks);
}

aio::Task<> main_task() {
  auto& loop = aio::get_running_loop();
  const double start = loop.time();
  aio::Queue<int> queue;
  for (int i = 1; i <= 6; ++i) queue.put_nowait(i);
  std::vector<aio::TaskHandle<>> workers;
  for (int n = 1; n <= 3; ++n) workers.push_back(aio::create_task(worker("worker-" + std::to_string(n), queue)));
  co_await queue.join();
  std::printf("all items processed in %.2f s (%d ms of work)\n", loop.time() - start, 20 * 21);
  co_await cancel_all(workers);
  std::printf("workers cancelled: %s\n", workers[0].cancelled() ? "yes" : "no");

  aio::Queue<int> bounded(2);
  std::vector<aio::TaskHandle<>> consumers{aio::create_task(consumer(bounded))};
  co_await producer(bounded, 4);
  co_await bounded.join();
  co_await cancel_all(consumers);
}

int main() { aio::run(main_task()); }

//> worker-1 done with item 1
//> worker-2 done with item 2
//> worker-3 done with item 3
//> worker-1 done with item 4
//> worker-2 done with item 5
//> worker-3 done with item 6
//> all items processed in {0.18..0.3} s (420 ms of work)
//> workers cancelled: yes
//> put 1 (queue size 1)
//> put 2 (queue size 2)
//> put 3 (queue size 2)
//> consumed 1
//> put 4 (queue size 2)
//> consumed 2
//> consumed 3
//> consumed 4
