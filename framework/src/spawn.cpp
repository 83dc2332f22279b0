#include <aio/detail/spawn.hpp>

#include <asio/cancellation_state.hpp>
#include <asio/post.hpp>

#include <utility>

namespace aio::detail {

void launch(EntryPoint main, const asio::any_io_executor& ex, asio::cancellation_slot cancel) {
  // The thread object hands its stack to the first operation's handler; it
  // is empty once launch() returns. Posting the thread itself (8 bytes)
  // defers the start without a coroutine frame for an awaited post.
  asio::detail::awaitable_thread<asio::any_io_executor> thread(std::move(main), ex, cancel,
                                                               asio::cancellation_state(cancel));
  asio::post(ex, [thread = std::move(thread)]() mutable { thread.launch(); });
}

}  // namespace aio::detail
