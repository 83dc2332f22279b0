// framework/src/child_watcher.hpp — private. A child's exit, watched through its pidfd.
//
// asyncio's PidfdChildWatcher, one per child: the pidfd turns readable
// when the child exits, and the loop then reaps it with
// waitid(P_PIDFD, WNOHANG), so it never blocks and never reaps a child that
// is not its own. The pending readiness wait holds the state (a shared_ptr
// in its handler), not the Process: a dropped Process's child is still
// reaped when it exits. A loop destroyed first destroys the wait, and with
// it the last reference: the destructor then reaps the child if it has
// exited, and otherwise leaves it (see subprocess.hpp).
#pragma once

#include <sys/types.h>

#include <asio/any_io_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <memory>
#include <optional>
#include <system_error>

#include <aio/detail/wait_list.hpp>

namespace aio::detail {

class ProcessState : public std::enable_shared_from_this<ProcessState> {
 public:
  // Takes `pidfd` over.
  ProcessState(const asio::any_io_executor& ex, pid_t pid, int pidfd);
  ProcessState(const ProcessState&) = delete;
  ProcessState& operator=(const ProcessState&) = delete;
  ~ProcessState();

  // Starts watching; call once, after construction.
  void watch();

  // pidfd_send_signal; nothing once the child is reaped or gone.
  // Throws: std::system_error (EINVAL, EPERM).
  void send_signal(int sig);

  const pid_t pid;
  // Set once reaped: the exit status, or -N for signal N.
  std::optional<int> returncode;
  // The coroutines in Process::wait(), woken when returncode is set.
  WaitList exit_waiters;

 private:
  void on_readable(const std::error_code& ec);
  // waitid(WNOHANG) through the pidfd: true once the child is reaped.
  bool try_reap() noexcept;

  asio::posix::stream_descriptor pidfd_;
};

}  // namespace aio::detail
