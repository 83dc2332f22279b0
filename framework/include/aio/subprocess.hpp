// aio/subprocess.hpp — public. create_subprocess_exec, create_subprocess_shell and Process, as asyncio.subprocess.
//
//   std::vector<std::string> argv{"cat"};
//   aio::SubprocessOptions options;
//   options.stdin_mode = aio::Stdio::pipe;
//   options.stdout_mode = aio::Stdio::pipe;
//   auto proc = co_await aio::create_subprocess_exec(argv, options);
//   auto [out, err] = co_await proc.communicate("hello\n");
//   int code = proc.returncode().value();  // 0
//
// Organisation:
//   - Stdio, SubprocessOptions: where the child's stdin, stdout and stderr go
//     (asyncio's PIPE, DEVNULL, STDOUT and None), its cwd, its environment.
//   - create_subprocess_exec / create_subprocess_shell: start a child.
//   - Process: the child. Its pipes are ordinary StreamWriter and
//     StreamReader handles; wait() and communicate() await its exit.
//
// How the child runs. It is started with posix_spawn (glibc starts it with
// vfork semantics and reports a failed exec to the parent), so a program
// that cannot be run raises from create_subprocess_exec rather than giving
// a child that exits with 127. Every descriptor but 0, 1 and 2 is closed in
// the child (Python's close_fds=True); its signal mask is empty, and
// SIGPIPE and SIGXFSZ are back to their default action (restore_signals).
// A program named without a '/' is looked up in the PATH of the child's
// environment (options.env's PATH when it replaces the environment, else
// this process's, else "/bin:/usr/bin"), as Python does.
//
// How it is reaped. On Linux each child gets a pidfd (pidfd_open), watched
// by the loop like any descriptor; when it turns readable the child is
// reaped with waitid(P_PIDFD, WNOHANG) and its return code recorded: the
// loop never blocks on a child and never touches another one's status
// (no SIGCHLD handler, no waitpid(-1)). The watch holds the child's state,
// not the Process, so a Process dropped while its child runs neither kills
// nor signals the child (as asyncio) and the child is still reaped when it
// exits, as long as the loop runs. A loop closed first (Runner::close)
// reaps a child that has already exited and leaves one still running
// unwatched: it stays a zombie once it exits, until this program ends.
// A signal is sent through the pidfd (pidfd_send_signal), so it never
// reaches a process that reused the pid of a reaped child.
//
// Dropping a Process closes the parent's ends of its pipes (the last
// handle onto each does): the child reads EOF on its stdin, and its writes
// to stdout or stderr fail with EPIPE (or kill it with SIGPIPE). In asyncio
// the loop keeps reading them until the child ends.
//
// A write to the stdin of a child that closed it fails as on a lost
// connection (drain() raises ConnectionResetError, asyncio's BrokenPipeError),
// without SIGPIPE reaching this program.
//
// Concurrency: loop-local, like every aio object; the child belongs to the
// loop that created it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <aio/streams.hpp>
#include <aio/tasks.hpp>

namespace aio {

namespace detail {
class ProcessState;
}

// Where one of the child's standard streams goes.
enum class Stdio {
  inherit,    // this process's own descriptor (asyncio's None)
  pipe,       // a new pipe: a StreamWriter (stdin) or StreamReader in Process (PIPE)
  devnull,    // /dev/null (DEVNULL)
  to_stdout,  // stderr only: wherever stdout goes (STDOUT)
};

// The fields are named stdin_mode, not stdin: stdin, stdout and stderr are
// macros in the C library.
struct SubprocessOptions {
  Stdio stdin_mode = Stdio::inherit;
  Stdio stdout_mode = Stdio::inherit;
  Stdio stderr_mode = Stdio::inherit;  // may be to_stdout
  std::string cwd;                     // empty: this process's
  // Set: the child's whole environment (it inherits nothing). Unset: this
  // process's environment.
  std::optional<std::map<std::string, std::string>> env;
  // The limit of the stdout and stderr readers (StreamReader::limit()).
  std::size_t limit = StreamReader::default_limit;
};

// A running or finished child, as asyncio.subprocess.Process. Move-only:
// one owner holds the parent's ends of the pipes (copies of the stream
// handles may be taken out of it). Tasks returned by wait() and
// communicate() hold what they need, so they may outlive the Process.
class Process {
 public:
  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const noexcept;

  // The return code once the loop has reaped the child: its exit status,
  // or -N when signal N ended it (as asyncio). nullopt while it runs (and
  // until the loop notices its exit).
  std::optional<int> returncode() const noexcept;

  // The parent's ends of the pipes: set only for the streams whose mode is
  // Stdio::pipe, else std::nullopt. Resetting stdin_writer() (or closing
  // the writer) closes the child's stdin once what is buffered is written.
  std::optional<StreamWriter>& stdin_writer() noexcept { return stdin_; }
  std::optional<StreamReader>& stdout_reader() noexcept { return stdout_; }
  std::optional<StreamReader>& stderr_reader() noexcept { return stderr_; }

  // Waits for the child to exit; returns returncode(). With stdout or
  // stderr piped, a child that fills a pipe nobody reads never exits:
  // read them (communicate() does), as asyncio warns.
  // Cancellation: stops waiting and raises CancelledError; the child runs
  // on, untouched, and is still reaped when it exits (as asyncio).
  // Throws: nothing but CancelledError.
  [[nodiscard]] Task<int> wait();

  // Writes `input` to stdin and closes it (input is ignored unless stdin
  // is piped, as asyncio ignores it), reads stdout and stderr to EOF
  // concurrently, then waits for the exit. Returns what was read ("" for a
  // stream that is not piped). A child that exits without reading its
  // stdin is no error (the broken pipe is ignored, as asyncio).
  // Overloads rather than a default argument: g++ 12 corrupts a default
  // argument built inside a co_await expression.
  // Cancellation: raises CancelledError; what was read so far is lost, stdin
  // may be left open, and the child runs on (as asyncio).
  // Throws: RuntimeError when another coroutine is reading stdout or stderr;
  // a read's error (std::system_error).
  // Concurrency: one communicate() per Process, and no other reader of its
  // pipes meanwhile.
  [[nodiscard]] Task<std::pair<std::string, std::string>> communicate(std::string input);
  [[nodiscard]] Task<std::pair<std::string, std::string>> communicate();

  // Sends signal `sig` to the child. Does nothing once the child has been
  // reaped (nor when it has exited and is about to be: Popen ignores that
  // race too); asyncio raises ProcessLookupError once its transport is closed.
  // Throws: std::system_error for an invalid signal (EINVAL) or EPERM.
  void send_signal(int sig);
  void terminate();  // SIGTERM
  void kill();       // SIGKILL

  // Internal: made by create_subprocess_exec.
  Process(std::shared_ptr<detail::ProcessState> st, std::optional<StreamWriter> in, std::optional<StreamReader> out,
          std::optional<StreamReader> err);

 private:
  std::shared_ptr<detail::ProcessState> st_;
  std::optional<StreamWriter> stdin_;
  std::optional<StreamReader> stdout_;
  std::optional<StreamReader> stderr_;
};

// Starts argv[0] with arguments argv[1..] (no shell). The child is running
// when the Task completes.
//
// Options are taken by const& with option-less overloads, not `= {}`: g++ 12
// relocates a braced default argument built inside a co_await expression
// bitwise. Name the argv vector before the co_await (a braced list inside
// one miscompiles with g++ 12).
//
// Cancellation: only a cancellation pending when the Task starts stops it
// (CancelledError, nothing started): starting the child does not wait.
// Throws: ValueError for an empty argv, a stderr-only mode on stdin or
// stdout, or a name or value with a NUL byte; std::system_error when the
// child cannot be started, with the errno of the failed step, which
// asyncio raises as an OSError subclass: ENOENT (FileNotFoundError) for a
// program or cwd that does not exist, EACCES (PermissionError) for one
// that is not executable, ENOEXEC, EMFILE, ...; std::system_error when the
// child cannot be watched (no pidfd: Linux before 5.3), after killing and
// reaping it.
[[nodiscard]] Task<Process> create_subprocess_exec(std::vector<std::string> argv, const SubprocessOptions& options);
[[nodiscard]] Task<Process> create_subprocess_exec(std::vector<std::string> argv);

// Runs `cmd` with /bin/sh -c. As asyncio, a command the shell cannot find is
// no exception: the shell exits with 127.
// Cancellation and Throws: as create_subprocess_exec.
[[nodiscard]] Task<Process> create_subprocess_shell(std::string cmd, const SubprocessOptions& options);
[[nodiscard]] Task<Process> create_subprocess_shell(std::string cmd);

}  // namespace aio
