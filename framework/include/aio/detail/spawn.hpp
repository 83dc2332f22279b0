// aio/detail/spawn.hpp — internal. Starting a coroutine as a task without co_spawn's entry frame.
//
// asio::co_spawn wraps every coroutine it starts in an entry-point coroutine
// of its own (the completion handler, two work guards, exception plumbing:
// 448 bytes with g++ 12) plus a proxy cancellation state. A coroutine that
// returns an EntryPoint is the bottom of its own stack instead: launch()
// runs it directly as Asio's co_spawn does after its wrapping. The coroutine
// must catch everything (an exception that leaves it would propagate out of
// the loop's run()); what co_spawn's completion handler would do, it does
// at its end. Used for server connections, where the entry frame was a fifth
// of an idle connection's memory.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>

namespace aio::detail {

using EntryPoint = asio::awaitable<asio::detail::awaitable_thread_entry_point, asio::any_io_executor>;

// Runs `main` on `ex`, starting on a later loop turn (posted, like
// create_task's tasks). Terminal cancellation emitted on `cancel` reaches
// the operation `main` awaits, as for co_spawn with a bound cancellation
// slot.
void launch(EntryPoint main, const asio::any_io_executor& ex, asio::cancellation_slot cancel);

}  // namespace aio::detail
