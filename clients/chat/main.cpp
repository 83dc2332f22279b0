// aio-chat-client — a terminal for aio-chat: stdin to the server, the server to stdout, both at once.
//
//   aio-chat-client [--host 127.0.0.1] [--port 7001] [--nick NAME] [--tls [--ca-file F | --insecure]]
//
// The canonical asyncio demo: two tasks on one loop. One copies stdin to the
// server (a non-blocking asio::posix::stream_descriptor for a terminal or a
// pipe; a regular file is read directly, it never blocks), the other copies
// what the server sends to stdout. With --nick the client sends "/nick NAME"
// first. At stdin EOF it sends "/quit" and waits (5 s at most) for the
// server's "* bye" and close. Exit status: 0 when the session ended (stdin
// EOF or the server closed), 1 on a connection error (a line on stderr),
// 2 on bad usage.
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include <asio/posix/stream_descriptor.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aio/connection.hpp>
#include <aio/runners.hpp>
#include <aio/tls.hpp>

#include <array>
#include <cstdio>
#include <exception>
#include <string>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7001;
  std::string nick;
  bool tls = false;
  std::string ca_file;
  bool insecure = false;
};

// Reads stdin in chunks; "" at EOF. A pipe or a terminal is waited on by the
// loop; a regular file (or /dev/null) is read directly.
class Stdin {
 public:
  explicit Stdin(asio::any_io_executor ex) : desc_(ex) {
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) != 0) return;
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || ::isatty(STDIN_FILENO)) {
      flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
      desc_.assign(::dup(STDIN_FILENO));
    }
  }
  Stdin(const Stdin&) = delete;
  Stdin& operator=(const Stdin&) = delete;
  // The descriptor's flags are shared with the terminal: put them back.
  ~Stdin() {
    if (flags_ >= 0) ::fcntl(STDIN_FILENO, F_SETFL, flags_);
  }

  aio::Task<std::string_view> read() {
    if (!desc_.is_open()) {
      ssize_t n = ::read(STDIN_FILENO, buf_.data(), buf_.size());
      co_return std::string_view(buf_.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
    }
    std::size_t n = 0;
    try {
      n = co_await desc_.async_read_some(asio::buffer(buf_), aio::use_task);
    } catch (const std::system_error& e) {
      if (e.code() != asio::error::eof) throw;
    }
    co_return std::string_view(buf_.data(), n);
  }

 private:
  asio::posix::stream_descriptor desc_;
  int flags_ = -1;
  std::array<char, 16 * 1024> buf_{};
};

// stdin -> server; "/quit" at EOF, then a bounded wait for the server to close.
aio::Task<void> send_stdin(aio::StreamWriter writer, bool& quit_sent) {
  Stdin in(co_await asio::this_coro::executor);
  bool at_line_start = true;
  for (;;) {
    std::string_view chunk = co_await in.read();
    if (chunk.empty()) break;
    writer.write(chunk);
    at_line_start = chunk.back() == '\n';
    co_await writer.drain();
  }
  writer.write(at_line_start ? "/quit\n" : "\n/quit\n");
  quit_sent = true;
  co_await writer.drain();
  co_await aio::sleep(std::chrono::seconds(5));  // the server answers "* bye" and closes long before
  writer.abort();
}

// server -> stdout, until the server closes.
aio::Task<void> print_server(aio::StreamReader reader) {
  for (;;) {
    std::string_view data = co_await reader.read_some();
    if (data.empty()) break;
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
  }
}

aio::Task<int> run_client(const Options& o) {
  aio::ConnectOptions copts;
  copts.timeout = std::chrono::seconds(10);
  if (o.tls) copts.ssl = aio::tls::client_context(o.ca_file, !o.insecure);
  auto [reader, writer] = co_await aio::open_connection(o.host, o.port, copts);
  if (!o.nick.empty()) writer.write("/nick " + o.nick + "\n");
  bool quit_sent = false;
  auto sending = aio::create_task(send_stdin(writer, quit_sent), "stdin-to-server");
  std::exception_ptr lost;
  try {
    co_await print_server(reader);
  } catch (const std::exception&) {
    lost = std::current_exception();
  }
  sending.cancel();
  try {
    co_await sending.join();
  } catch (...) {
  }
  if (lost && !quit_sent) std::rethrow_exception(lost);  // a reset after our /quit is a normal end
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("aio-chat-client: stdin to an aio-chat server, the server to stdout", "aio-chat-client");
  app.add_option("--host", o.host, "server host")->capture_default_str();
  app.add_option("--port", o.port, "server port")->capture_default_str();
  app.add_option("--nick", o.nick, "send /nick NAME first");
  app.add_flag("--tls", o.tls, "connect with TLS (1.2 or later)");
  app.add_option("--ca-file", o.ca_file, "verify the server against this CA (PEM) instead of the system's")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure, "do not verify the server's certificate");
  app.set_version_flag("--version", "aio-chat-client 0.1.0");
  if (auto status = aio::clients::parse_or_exit(app, argc, argv, "aio-chat-client")) return *status;
  try {
    return aio::run(run_client(o));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aio-chat-client: %s:%u: %s\n", o.host.c_str(), o.port, e.what());
    return 1;
  }
}
