// Starting a child with posix_spawn: its pipes, its PATH lookup, its pidfd.
//
// posix_spawn rather than fork: glibc's starts the child with
// CLONE_VM | CLONE_VFORK (no copy of this process's page tables, however
// large it is) and passes a failed exec's errno back as its result, so
// "no such program" is an error of the call, not a child that exits with 127.
#include "process_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <aio/exceptions.hpp>

#if !defined(SYS_pidfd_open)
#error "subprocesses need pidfd_open (Linux 5.3)"
#endif

namespace aio::detail {
namespace {

// Python's os.defpath: the search path when the environment has no PATH.
constexpr const char* default_search_path = "/bin:/usr/bin";

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::system_category(), "create_subprocess_exec: " + what);
}

void check(int rc, const char* what) {
  if (rc != 0) throw_errno(rc, what);
}

void check_no_nul(const std::string& s, const char* what) {
  if (s.find('\0') != std::string::npos) throw ValueError(std::string("embedded null byte in ") + what);
}

// posix_spawn's file actions and attributes, destroyed on every way out.
struct SpawnPlan {
  SpawnPlan() {
    check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
    if (const int rc = posix_spawnattr_init(&attr); rc != 0) {
      posix_spawn_file_actions_destroy(&actions);
      throw_errno(rc, "posix_spawnattr_init");
    }
  }
  SpawnPlan(const SpawnPlan&) = delete;
  SpawnPlan& operator=(const SpawnPlan&) = delete;
  ~SpawnPlan() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
};

// Moves `fd` to 3 or above. A program started with a standard descriptor
// closed gets it back from pipe2(); left there, a child end would be the
// dup2 target itself (and keep its close-on-exec flag) or be overwritten
// by another stream's dup2 before its own.
void raise_above_stdio(OwnedFd& fd) {
  if (fd.get() > 2) return;
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) throw_errno(errno, "fcntl(F_DUPFD_CLOEXEC)");
  fd = OwnedFd(moved);
}

struct Pipe {
  OwnedFd read_end;
  OwnedFd write_end;
};

// Close-on-exec on both ends: only the child's dup2 onto 0, 1 or 2 survives exec.
Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  Pipe p{OwnedFd(fds[0]), OwnedFd(fds[1])};
  raise_above_stdio(p.read_end);
  raise_above_stdio(p.write_end);
  return p;
}

// The PATH the child's program is looked up in (Python's os.get_exec_path(env)).
std::string search_path(const SubprocessOptions& o) {
  if (o.env) {
    const auto it = o.env->find("PATH");
    return it != o.env->end() ? it->second : std::string(default_search_path);
  }
  const char* inherited = ::getenv("PATH");
  return inherited ? std::string(inherited) : std::string(default_search_path);
}

// The program's path: as given when it has a '/', else the first
// executable regular file named so in the search path (execvp's rules:
// EACCES when only non-executable ones exist, else ENOENT). Relative
// entries are relative to the child's cwd, where the child will exec them.
std::string resolve_program(const std::string& name, const SubprocessOptions& o) {
  if (name.empty()) throw_errno(ENOENT, "''");
  if (name.find('/') != std::string::npos) return name;
  const std::string path = search_path(o);
  bool denied = false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = path.find(':', start);
    std::string dir(std::string_view(path).substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (dir.empty()) dir.push_back('.');  // not dir = ".": g++ 12 -O3 warns falsely (stringop-overflow)
    std::string candidate = dir + "/" + name;
    const std::string probe = (candidate[0] != '/' && !o.cwd.empty()) ? o.cwd + "/" + candidate : candidate;
    struct stat st {};
    if (::stat(probe.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(probe.c_str(), X_OK) == 0) return candidate;
      denied = true;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  throw_errno(denied ? EACCES : ENOENT, name);
}

std::vector<std::string> environment_entries(const SubprocessOptions& o) {
  std::vector<std::string> entries;
  if (!o.env) return entries;
  entries.reserve(o.env->size());
  for (const auto& [key, value] : *o.env) {
    check_no_nul(key, "an environment variable name");
    check_no_nul(value, "an environment variable value");
    if (key.empty() || key.find('=') != std::string::npos) throw ValueError("illegal environment variable name");
    entries.push_back(key + "=" + value);
  }
  return entries;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Kills and reaps a child that cannot be handed out (its pidfd failed).
void discard_child(pid_t pid) noexcept {
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

SpawnedChild spawn_child(const std::vector<std::string>& argv_in, const SubprocessOptions& o) {
  if (argv_in.empty()) throw ValueError("create_subprocess_exec: argv must not be empty");
  if (o.stdin_mode == Stdio::to_stdout || o.stdout_mode == Stdio::to_stdout)
    throw ValueError("create_subprocess_exec: Stdio::to_stdout is for stderr only");
  for (const auto& arg : argv_in) check_no_nul(arg, "an argument");
  check_no_nul(o.cwd, "cwd");
  std::vector<std::string> env = environment_entries(o);
  std::vector<std::string> argv = argv_in;
  const std::string program = resolve_program(argv[0], o);

  SpawnPlan plan;
  SpawnedChild child;
  Pipe in, out, err;  // the child's ends close in the parent when this returns
  auto* actions = &plan.actions;
  switch (o.stdin_mode) {
    case Stdio::pipe:
      in = make_pipe();
      check(posix_spawn_file_actions_adddup2(actions, in.read_end.get(), 0), "adddup2");
      child.stdin_pipe = std::move(in.write_end);
      break;
    case Stdio::devnull:
      check(posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0), "addopen");
      break;
    default:
      break;
  }
  switch (o.stdout_mode) {
    case Stdio::pipe:
      out = make_pipe();
      check(posix_spawn_file_actions_adddup2(actions, out.write_end.get(), 1), "adddup2");
      child.stdout_pipe = std::move(out.read_end);
      break;
    case Stdio::devnull:
      check(posix_spawn_file_actions_addopen(actions, 1, "/dev/null", O_WRONLY, 0), "addopen");
      break;
    default:
      break;
  }
  switch (o.stderr_mode) {
    case Stdio::pipe:
      err = make_pipe();
      check(posix_spawn_file_actions_adddup2(actions, err.write_end.get(), 2), "adddup2");
      child.stderr_pipe = std::move(err.read_end);
      break;
    case Stdio::devnull:
      check(posix_spawn_file_actions_addopen(actions, 2, "/dev/null", O_WRONLY, 0), "addopen");
      break;
    case Stdio::to_stdout:  // after stdout's own action: wherever it went
      check(posix_spawn_file_actions_adddup2(actions, 1, 2), "adddup2");
      break;
    case Stdio::inherit:
      break;
  }
  if (!o.cwd.empty()) check(posix_spawn_file_actions_addchdir_np(actions, o.cwd.c_str()), "addchdir");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors other code opened without O_CLOEXEC (close_fds=True).
  check(posix_spawn_file_actions_addclosefrom_np(actions, 3), "addclosefrom");
#endif

  // An empty mask (the loop thread may block signals it waits for) and
  // SIGPIPE and SIGXFSZ at their default action, as Python's restore_signals.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  check(posix_spawnattr_setsigmask(&plan.attr, &none), "setsigmask");
  check(posix_spawnattr_setsigdefault(&plan.attr, &defaults), "setsigdefault");
  check(posix_spawnattr_setflags(&plan.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF), "setflags");

  auto argv_ptrs = pointers(argv);
  auto env_ptrs = pointers(env);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, program.c_str(), actions, &plan.attr, argv_ptrs.data(), o.env ? env_ptrs.data() : environ);
  if (rc != 0) throw_errno(rc, argv[0]);

  const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    const int e = errno;
    discard_child(pid);
    throw_errno(e, "pidfd_open");
  }
  child.pid = pid;
  child.pidfd = OwnedFd(static_cast<int>(pidfd));
  return child;
}

}  // namespace aio::detail
