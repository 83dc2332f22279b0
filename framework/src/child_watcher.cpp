// Reaping a child when its pidfd turns readable.
#include "child_watcher.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace aio::detail {
namespace {

// P_PIDFD (Linux 5.4): glibc 2.36's idtype_t does not name it yet, and
// <linux/wait.h> redefines <sys/wait.h>'s macros.
constexpr auto p_pidfd = static_cast<idtype_t>(3);

// asyncio's return code for a child somebody else reaped (a waitpid(-1)
// elsewhere, or SIGCHLD ignored): its status is lost.
constexpr int unknown_status = 255;

}  // namespace

ProcessState::ProcessState(const asio::any_io_executor& ex, pid_t child_pid, int pidfd)
    : pid(child_pid), pidfd_(ex, pidfd) {}

ProcessState::~ProcessState() {
  // Only when the loop went away first (the wait held a reference till then).
  if (!returncode && pidfd_.is_open()) try_reap();
}

void ProcessState::watch() {
  auto on_ready = [self = shared_from_this()](const std::error_code& ec) { self->on_readable(ec); };
  pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, std::move(on_ready));
}

void ProcessState::on_readable(const std::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;  // the loop is shutting down
  if (!ec && !try_reap()) {
    watch();  // readable before the exit was visible: wait again
    return;
  }
  if (!returncode) returncode = unknown_status;
  std::error_code ignored;
  pidfd_.close(ignored);
  exit_waiters.wake_all();
}

bool ProcessState::try_reap() noexcept {
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(p_pidfd, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED | WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    returncode = unknown_status;
    return true;
  }
  if (info.si_pid == 0) return false;  // still running
  returncode = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
  return true;
}

void ProcessState::send_signal(int sig) {
  if (returncode || !pidfd_.is_open()) return;
  if (::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), sig, nullptr, 0) == 0) return;
  const int err = errno;
  if (err == ESRCH) return;  // exited, not yet reaped
  throw std::system_error(err, std::system_category(), "send_signal");
}

}  // namespace aio::detail
