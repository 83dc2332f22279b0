// Behaviours of aio/subprocess.hpp against real programs (cat, sh, sleep),
// after CPython 3.13's Lib/test/test_asyncio/test_subprocess.py.
#include <harness.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <aio/compose.hpp>
#include <aio/subprocess.hpp>

using namespace std::chrono_literals;
using aio::Process;
using aio::Stdio;
using aio::StreamReader;
using aio::StreamWriter;
using aio::SubprocessOptions;
using aio::Task;
using aio::test::caught;
using aio::test::run_test;

namespace {

// The state letter of our child `pid` in /proc ('S', 'R', 'Z', ...), or 0
// when no child of ours has that pid any more (reaped).
char child_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  char state = 0;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid == ::getpid() ? state : 0;
}

// Zombies whose parent is this process: children nobody reaped.
int zombie_children() {
  int zombies = 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return -1;
  while (const dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid > 0 && child_state(pid) == 'Z') ++zombies;
  }
  ::closedir(proc);
  return zombies;
}

// Waits (on the loop) until `pid` is no longer a child of ours, for up to `limit`.
Task<bool> reaped_within(pid_t pid, std::chrono::steady_clock::duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (child_state(pid) != 0) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await aio::sleep(20ms);
  }
  co_return true;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4099) & 0xff);
  return s;
}

SubprocessOptions piped(bool in, bool out, bool err) {
  SubprocessOptions o;
  if (in) o.stdin_mode = Stdio::pipe;
  if (out) o.stdout_mode = Stdio::pipe;
  if (err) o.stderr_mode = Stdio::pipe;
  return o;
}

Task<void> write_in_pieces(StreamWriter w, std::string data) {
  constexpr std::size_t piece = 64 * 1024;
  for (std::size_t at = 0; at < data.size(); at += piece) {
    const std::string_view part = std::string_view(data).substr(at, piece);
    w.write(part);
    co_await w.drain();
  }
  w.write_eof();
}

Task<std::string> read_all_some(StreamReader r) {
  std::string all;
  for (;;) {
    auto chunk = co_await r.read_some();
    if (chunk.empty()) break;
    all.append(chunk);
  }
  co_return all;
}

}  // namespace

TEST_CASE("cat sends a megabyte written to its stdin back on its stdout, byte for byte", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"cat"};
    const auto options = piped(true, true, false);
    auto proc = co_await aio::create_subprocess_exec(argv, options);
    REQUIRE(proc.stdin_writer().has_value());
    REQUIRE(proc.stdout_reader().has_value());
    CHECK_FALSE(proc.stderr_reader().has_value());
    const std::string data = pattern(1024 * 1024);
    auto writing = write_in_pieces(*proc.stdin_writer(), data);
    auto reading = read_all_some(*proc.stdout_reader());
    auto both = aio::gather(std::move(writing), std::move(reading));
    auto [written, echoed] = co_await std::move(both);
    (void)written;
    REQUIRE(echoed.size() == data.size());
    std::size_t first_difference = data.size();
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (echoed[i] != data[i]) {
        first_difference = i;
        break;
      }
    }
    CHECK(first_difference == data.size());
    CHECK(co_await proc.wait() == 0);
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("communicate returns a shell command's stdout, stderr and exit status", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto options = piped(false, true, true);
    auto proc = co_await aio::create_subprocess_shell("echo out; echo err >&2; exit 3", options);
    CHECK_FALSE(proc.returncode().has_value());
    auto [out, err] = co_await proc.communicate();
    CHECK(out == "out\n");
    CHECK(err == "err\n");
    CHECK(proc.returncode() == 3);
    CHECK(co_await proc.wait() == 3);
  }());
}

TEST_CASE("communicate feeds its input to stdin and closes it", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"cat"};
    const auto options = piped(true, true, false);
    auto proc = co_await aio::create_subprocess_exec(argv, options);
    auto [out, err] = co_await proc.communicate("some input\nand more");
    CHECK(out == "some input\nand more");
    CHECK(err.empty());
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("stderr to_stdout merges the child's stderr into its stdout pipe", "[subprocess]") {
  run_test([]() -> Task<> {
    auto options = piped(false, true, false);
    options.stderr_mode = Stdio::to_stdout;
    auto proc = co_await aio::create_subprocess_shell("echo out; echo err >&2", options);
    CHECK_FALSE(proc.stderr_reader().has_value());
    auto [out, err] = co_await proc.communicate();
    CHECK(out == "out\nerr\n");
    CHECK(err.empty());
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("devnull gives the child EOF on stdin and swallows what it writes", "[subprocess]") {
  run_test([]() -> Task<> {
    SubprocessOptions options;
    options.stdin_mode = Stdio::devnull;
    options.stdout_mode = Stdio::devnull;
    options.stderr_mode = Stdio::pipe;
    // cat reads EOF from /dev/null at once; what it would print goes nowhere.
    auto proc = co_await aio::create_subprocess_shell("cat; echo hidden; echo shown >&2", options);
    CHECK_FALSE(proc.stdin_writer().has_value());
    CHECK_FALSE(proc.stdout_reader().has_value());
    auto [out, err] = co_await proc.communicate();
    CHECK(out.empty());
    CHECK(err == "shown\n");
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("terminate ends sleep and the return code is minus SIGTERM", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"sleep", "30"};
    auto proc = co_await aio::create_subprocess_exec(argv);
    proc.terminate();
    CHECK(co_await proc.wait() == -SIGTERM);
    CHECK(proc.returncode() == -SIGTERM);
  }());
}

TEST_CASE("a child that ignores SIGTERM outlives terminate() and kill() ends it with -9", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto options = piped(false, true, false);
    // exec keeps the ignored disposition, and leaves no grandchild behind.
    auto proc = co_await aio::create_subprocess_shell("trap '' TERM; echo ready; exec sleep 30", options);
    CHECK(co_await proc.stdout_reader()->readline() == "ready\n");
    proc.terminate();
    auto waiting = proc.wait();
    auto bounded = aio::wait_for(std::move(waiting), 300ms);
    auto still_running = co_await caught<aio::TimeoutError>(std::move(bounded));
    CHECK(still_running.has_value());
    CHECK_FALSE(proc.returncode().has_value());
    proc.kill();
    CHECK(co_await proc.wait() == -9);
  }());
}

TEST_CASE("exec of a program that does not exist throws ENOENT and leaves no child", "[subprocess]") {
  run_test([]() -> Task<> {
    const int zombies_before = zombie_children();
    std::vector<std::string> by_path{"/nonexistent/aio-no-such-program"};
    auto failing = aio::create_subprocess_exec(by_path);
    auto e = co_await caught<std::system_error>(std::move(failing));
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::no_such_file_or_directory);

    std::vector<std::string> by_name{"aio-no-such-program-on-path"};
    auto failing_name = aio::create_subprocess_exec(by_name);
    e = co_await caught<std::system_error>(std::move(failing_name));
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::no_such_file_or_directory);

    std::vector<std::string> argv{"true"};
    SubprocessOptions in_missing_dir;
    in_missing_dir.cwd = "/nonexistent/aio-no-such-dir";
    auto failing_cwd = aio::create_subprocess_exec(argv, in_missing_dir);
    e = co_await caught<std::system_error>(std::move(failing_cwd));
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::no_such_file_or_directory);
    CHECK(zombie_children() == zombies_before);
  }());
}

TEST_CASE("a non-executable file is refused with EACCES, an empty argv with ValueError", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto file = std::filesystem::temp_directory_path() / ("aio-subprocess-" + std::to_string(::getpid()));
    std::ofstream(file) << "#!/bin/sh\n";
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::vector<std::string> argv{file.string()};
    auto failing = aio::create_subprocess_exec(argv);
    auto e = co_await caught<std::system_error>(std::move(failing));
    std::filesystem::remove(file);
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::permission_denied);

    std::vector<std::string> empty;
    auto refused = aio::create_subprocess_exec(empty);
    CHECK((co_await caught<aio::ValueError>(std::move(refused))).has_value());
  }());
}

TEST_CASE("a command the shell cannot find is exit status 127, not an exception", "[subprocess]") {
  run_test([]() -> Task<> {
    SubprocessOptions quiet;
    quiet.stderr_mode = Stdio::devnull;
    auto proc = co_await aio::create_subprocess_shell("aio-no-such-command-here", quiet);
    CHECK(co_await proc.wait() == 127);
  }());
}

TEST_CASE("a wait() cut short by wait_for leaves the child running", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"sleep", "30"};
    auto proc = co_await aio::create_subprocess_exec(argv);
    auto waiting = proc.wait();
    auto bounded = aio::wait_for(std::move(waiting), 100ms);
    auto timed_out = co_await caught<aio::TimeoutError>(std::move(bounded));
    CHECK(timed_out.has_value());
    CHECK_FALSE(proc.returncode().has_value());
    CHECK(child_state(proc.pid()) != 0);
    CHECK(child_state(proc.pid()) != 'Z');
    proc.kill();
    CHECK(co_await proc.wait() == -SIGKILL);
  }());
}

TEST_CASE("cancelling the task in wait() raises CancelledError there and leaves the child running", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"sleep", "30"};
    auto proc = co_await aio::create_subprocess_exec(argv);
    auto waiter = aio::create_task(proc.wait());
    co_await aio::sleep(50ms);
    CHECK_FALSE(waiter.done());
    waiter.cancel();
    auto joined = waiter.join();
    CHECK((co_await caught<aio::CancelledError>(std::move(joined))).has_value());
    CHECK(waiter.cancelled());
    CHECK_FALSE(proc.returncode().has_value());
    CHECK(child_state(proc.pid()) != 'Z');
    // Another wait still sees the exit.
    proc.kill();
    CHECK(co_await proc.wait() == -SIGKILL);
  }());
}

TEST_CASE("a communicate() cut short by wait_for leaves the child running", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto options = piped(true, true, false);
    auto proc = co_await aio::create_subprocess_shell("echo started; exec sleep 30", options);
    auto talking = proc.communicate("ignored");
    auto bounded = aio::wait_for(std::move(talking), 200ms);
    auto timed_out = co_await caught<aio::TimeoutError>(std::move(bounded));
    CHECK(timed_out.has_value());
    CHECK_FALSE(proc.returncode().has_value());
    CHECK(child_state(proc.pid()) != 'Z');
    proc.kill();
    CHECK(co_await proc.wait() == -SIGKILL);
  }());
}

TEST_CASE("twenty concurrent children are all reaped, none left a zombie", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<Process> procs;
    std::vector<pid_t> pids;
    for (int i = 0; i < 20; ++i) {
      auto started = aio::create_subprocess_shell("sleep 0.1; exit " + std::to_string(i));
      procs.push_back(co_await std::move(started));
      pids.push_back(procs.back().pid());
    }
    std::vector<Task<int>> waits;
    for (auto& p : procs) waits.push_back(p.wait());
    auto all = aio::gather(std::move(waits));
    auto codes = co_await std::move(all);
    for (int i = 0; i < 20; ++i) CHECK(codes[static_cast<std::size_t>(i)] == i);
    for (pid_t pid : pids) CHECK(child_state(pid) == 0);
    CHECK(zombie_children() == 0);
  }());
}

TEST_CASE("the child of a dropped Process is neither killed nor left a zombie", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto options = piped(false, true, false);
    pid_t pid = 0;
    std::optional<StreamReader> out;
    {
      auto proc = co_await aio::create_subprocess_shell("sleep 0.2; echo done", options);
      pid = proc.pid();
      out = proc.stdout_reader();  // keeps the pipe open past the Process
    }
    // Not killed: it finishes its work.
    CHECK(co_await out->readline() == "done\n");
    CHECK(co_await reaped_within(pid, 5s));
  }());
}

TEST_CASE("cwd and env are the child's working directory and whole environment", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto dir = std::filesystem::canonical(std::filesystem::temp_directory_path());
    auto options = piped(false, true, false);
    options.cwd = dir.string();
    options.env = std::map<std::string, std::string>{{"FOO", "bar baz"}};
    auto proc = co_await aio::create_subprocess_shell("pwd; echo \"$FOO\"; echo \"${HOME:-unset}\"", options);
    auto [out, err] = co_await proc.communicate();
    CHECK(out == dir.string() + "\nbar baz\nunset\n");
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("a program name is looked up in the PATH of the replaced environment", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"sh", "-c", "exit 7"};
    SubprocessOptions nowhere;
    nowhere.env = std::map<std::string, std::string>{{"PATH", "/nonexistent/aio-bin"}};
    auto failing = aio::create_subprocess_exec(argv, nowhere);
    auto e = co_await caught<std::system_error>(std::move(failing));
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::no_such_file_or_directory);

    SubprocessOptions bin;
    bin.env = std::map<std::string, std::string>{{"PATH", "/nonexistent/aio-bin:/bin"}};
    auto proc = co_await aio::create_subprocess_exec(argv, bin);
    CHECK(co_await proc.wait() == 7);
  }());
}

TEST_CASE("the loop serves other tasks while a child runs", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"sleep", "0.3"};
    auto proc = co_await aio::create_subprocess_exec(argv);
    int ticks = 0;
    bool stop = false;
    auto tick = [&]() -> Task<> {
      while (!stop) {
        co_await aio::sleep(10ms);
        ++ticks;
      }
    };
    auto ticker = aio::create_task(tick());
    CHECK(co_await proc.wait() == 0);
    stop = true;
    co_await ticker.join();
    CHECK(ticks >= 3);
  }());
}

TEST_CASE("writing to the stdin of a child that exited fails as a lost connection, without SIGPIPE",
          "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"true"};
    const auto options = piped(true, false, false);
    auto proc = co_await aio::create_subprocess_exec(argv, options);
    CHECK(co_await proc.wait() == 0);
    auto& in = *proc.stdin_writer();
    in.write(pattern(256 * 1024));
    auto draining = in.drain();
    CHECK((co_await caught<aio::ConnectionResetError>(std::move(draining))).has_value());
  }());
}

TEST_CASE("communicate ignores the broken pipe of a child that never reads its input", "[subprocess]") {
  run_test([]() -> Task<> {
    const auto options = piped(true, true, false);
    auto proc = co_await aio::create_subprocess_shell("echo bye", options);
    auto [out, err] = co_await proc.communicate(pattern(1024 * 1024));
    CHECK(out == "bye\n");
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("send_signal after the child was reaped does nothing", "[subprocess]") {
  run_test([]() -> Task<> {
    std::vector<std::string> argv{"true"};
    auto proc = co_await aio::create_subprocess_exec(argv);
    CHECK(co_await proc.wait() == 0);
    proc.terminate();
    proc.kill();
    CHECK(proc.returncode() == 0);
  }());
}

TEST_CASE("the child inherits no descriptor of the parent but 0, 1 and 2", "[subprocess]") {
  run_test([]() -> Task<> {
    const int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
    REQUIRE(leaky > 2);
    const auto options = piped(true, true, true);
    const std::string probe = "for fd in 0 1 2 " + std::to_string(leaky) +
                              "; do [ -e /proc/$$/fd/$fd ] && echo open || echo closed; done";
    auto proc = co_await aio::create_subprocess_shell(probe, options);
    auto [out, err] = co_await proc.communicate();
    ::close(leaky);
    CHECK(out == "open\nopen\nopen\nclosed\n");
    CHECK(err.empty());
  }());
}

TEST_CASE("the stdout and stderr readers take the limit option", "[subprocess]") {
  run_test([]() -> Task<> {
    auto options = piped(false, true, true);
    options.limit = 10;
    auto proc = co_await aio::create_subprocess_shell("echo a-line-longer-than-ten; echo short", options);
    CHECK(proc.stdout_reader()->limit() == 10);
    CHECK(proc.stderr_reader()->limit() == 10);
    auto overlong = proc.stdout_reader()->readline();
    CHECK((co_await caught<aio::LimitOverrunError>(std::move(overlong))).has_value());
    CHECK(co_await proc.stdout_reader()->readline() == "short\n");
    CHECK(co_await proc.wait() == 0);
  }());
}
