// create_subprocess_exec, create_subprocess_shell and Process, as asyncio.subprocess.
#include <aio/subprocess.hpp>

#include <signal.h>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/this_coro.hpp>

#include <tuple>

#include <aio/compose.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/exceptions.hpp>

#include "child_watcher.hpp"
#include "pipe_transport.hpp"
#include "process_spawn.hpp"

namespace aio {
namespace {

using detail::ProcessState;
using Output = std::pair<std::string, std::string>;

std::shared_ptr<detail::StreamState> pipe_state(const asio::any_io_executor& ex, detail::OwnedFd& fd,
                                                std::size_t limit) {
  asio::posix::stream_descriptor pipe(ex, fd.get());
  fd.release();
  return std::make_shared<detail::StreamState>(limit, detail::make_pipe_transport(std::move(pipe)), false);
}

Task<Process> spawn(std::vector<std::string> argv, SubprocessOptions options) {
  if (detail::cancel_requested(co_await asio::this_coro::cancellation_state)) co_await detail::raise_cancelled();
  auto ex = co_await asio::this_coro::executor;
  auto child = detail::spawn_child(argv, options);
  // The state takes the pidfd first: from here on the child is watched and
  // reaped whatever else fails.
  auto st = std::make_shared<ProcessState>(ex, child.pid, child.pidfd.release());
  st->watch();
  std::optional<StreamWriter> in;
  std::optional<StreamReader> out;
  std::optional<StreamReader> err;
  if (child.stdin_pipe.get() >= 0) in.emplace(pipe_state(ex, child.stdin_pipe, options.limit));
  if (child.stdout_pipe.get() >= 0) out.emplace(pipe_state(ex, child.stdout_pipe, options.limit));
  if (child.stderr_pipe.get() >= 0) err.emplace(pipe_state(ex, child.stderr_pipe, options.limit));
  co_return Process(std::move(st), std::move(in), std::move(out), std::move(err));
}

Task<int> wait_exit(std::shared_ptr<ProcessState> st) {
  while (!st->returncode) {
    if (detail::cancel_requested(co_await asio::this_coro::cancellation_state)) co_await detail::raise_cancelled();
    detail::Waiter w;
    co_await detail::park(st->exit_waiters, w);
    if (w.cancelled) co_await detail::raise_cancelled();
  }
  co_return *st->returncode;
}

// asyncio's Process._feed_stdin: a child that does not read is no error.
Task<void> feed_stdin(StreamWriter in, std::string input) {
  if (!input.empty()) in.write(input);
  try {
    co_await in.drain();
  } catch (const ConnectionResetError&) {
  }
  in.close();
}

// asyncio's Process._read_stream: everything, then the pipe is closed.
Task<std::string> read_to_eof(StreamReader reader) {
  auto data = co_await reader.read(-1);
  reader.state()->close();
  co_return data;
}

Task<void> nothing_to_feed() { co_return; }
Task<std::string> nothing_to_read() { co_return std::string(); }

Task<Output> communicate_with(std::shared_ptr<ProcessState> st, std::optional<StreamWriter> in,
                              std::optional<StreamReader> out, std::optional<StreamReader> err,
                              std::string input) {
  auto feeding = in ? feed_stdin(std::move(*in), std::move(input)) : nothing_to_feed();
  auto reading_out = out ? read_to_eof(std::move(*out)) : nothing_to_read();
  auto reading_err = err ? read_to_eof(std::move(*err)) : nothing_to_read();
  auto all = gather(std::move(feeding), std::move(reading_out), std::move(reading_err));
  auto results = co_await std::move(all);
  auto exiting = wait_exit(std::move(st));
  co_await std::move(exiting);
  co_return Output(std::move(std::get<1>(results)), std::move(std::get<2>(results)));
}

}  // namespace

Process::Process(std::shared_ptr<detail::ProcessState> st, std::optional<StreamWriter> in,
                 std::optional<StreamReader> out, std::optional<StreamReader> err)
    : st_(std::move(st)), stdin_(std::move(in)), stdout_(std::move(out)), stderr_(std::move(err)) {}

Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

pid_t Process::pid() const noexcept { return st_->pid; }
std::optional<int> Process::returncode() const noexcept { return st_->returncode; }

// Not coroutines: the Tasks take what they need by value, so they may
// outlive (or run while somebody moves) the Process.
Task<int> Process::wait() { return wait_exit(st_); }

Task<Output> Process::communicate(std::string input) {
  return communicate_with(st_, stdin_, stdout_, stderr_, std::move(input));
}

Task<Output> Process::communicate() { return communicate(std::string()); }

void Process::send_signal(int sig) { st_->send_signal(sig); }
void Process::terminate() { send_signal(SIGTERM); }
void Process::kill() { send_signal(SIGKILL); }

Task<Process> create_subprocess_exec(std::vector<std::string> argv, const SubprocessOptions& options) {
  return spawn(std::move(argv), options);
}

Task<Process> create_subprocess_exec(std::vector<std::string> argv) {
  const SubprocessOptions options;
  return spawn(std::move(argv), options);
}

Task<Process> create_subprocess_shell(std::string cmd, const SubprocessOptions& options) {
  std::vector<std::string> argv{"/bin/sh", "-c", std::move(cmd)};
  return spawn(std::move(argv), options);
}

Task<Process> create_subprocess_shell(std::string cmd) {
  const SubprocessOptions options;
  return create_subprocess_shell(std::move(cmd), options);
}

}  // namespace aio
