// aio-echo-client — sends messages to an echo server and checks what comes back.
//
//   aio-echo-client [--host 127.0.0.1] [--port 7000] [--tls [--ca-file F | --insecure]]
//                   [--count N] [MESSAGE...]
//
// Each MESSAGE (or, without any, each line of stdin) is sent --count times
// with a newline; every echo is read back, printed on stdout and compared
// with what was sent. Exit status: 0 when every echo matched, 1 on a
// mismatch or a connection error (with a line on stderr), 2 on bad usage.
#include <CLI/CLI.hpp>

#include "cli.hpp"

#include <aio/connection.hpp>
#include <aio/runners.hpp>
#include <aio/timeouts.hpp>
#include <aio/tls.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;
  bool tls = false;
  std::string ca_file;
  bool insecure = false;
  std::size_t count = 1;
  double timeout = 10.0;  // seconds for each connect and each echo
  std::vector<std::string> messages;
};

// The next message: from the arguments, else the next line of stdin
// (read on a worker thread so that the loop never blocks).
aio::Task<std::optional<std::string>> next_message(const Options& o, std::size_t& index) {
  if (!o.messages.empty()) {
    if (index >= o.messages.size()) co_return std::nullopt;
    co_return o.messages[index++];
  }
  auto read_line = []() -> std::optional<std::string> {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  };
  co_return co_await aio::to_thread(read_line);
}

aio::Task<int> run_client(const Options& o) {
  aio::ConnectOptions copts;
  copts.timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(o.timeout));
  if (o.tls) copts.ssl = aio::tls::client_context(o.ca_file, !o.insecure);
  auto [reader, writer] = co_await aio::open_connection(o.host, o.port, copts);
  int mismatches = 0;
  std::size_t index = 0;
  for (;;) {
    auto message = co_await next_message(o, index);
    if (!message) break;
    const std::string sent = *message + "\n";
    for (std::size_t i = 0; i < o.count; ++i) {
      writer.write(sent);
      co_await writer.drain();
      std::string back = co_await aio::wait_for(reader.readexactly(sent.size()), copts.timeout);
      std::cout << std::string_view(back).substr(0, back.size() - 1) << "\n" << std::flush;
      if (back != sent) {
        std::cerr << "aio-echo-client: mismatch: sent " << sent.size() << " bytes, got different ones back\n";
        ++mismatches;
      }
    }
  }
  if (writer.can_write_eof()) {
    // Plain TCP: half-close; the server closes after our EOF, and anything
    // more than that is unexpected. (TLS has no half-close: we just close.)
    writer.write_eof();
    std::string rest = co_await aio::wait_for(reader.read(), copts.timeout);
    if (!rest.empty()) {
      std::cerr << "aio-echo-client: " << rest.size() << " unexpected bytes after the last echo\n";
      ++mismatches;
    }
  }
  writer.close();
  co_await writer.wait_closed();
  co_return mismatches == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"aio-echo-client: sends messages to an echo server and checks the echoes"};
  app.set_version_flag("--version", "aio-echo-client 0.1.0");
  app.add_option("--host", o.host, "server host")->capture_default_str();
  app.add_option("--port", o.port, "server port")->capture_default_str();
  app.add_flag("--tls", o.tls, "connect with TLS (verified against the system's CAs unless told otherwise)");
  app.add_option("--ca-file", o.ca_file, "verify the server against this CA certificate (PEM)")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure, "do not verify the server's certificate");
  app.add_option("-n,--count", o.count, "send each message this many times")->capture_default_str();
  aio::clients::add_duration_option(app, "--timeout", o.timeout, "for the connection and for each echo (10s, 500ms)");
  app.add_option("message", o.messages, "messages to send (default: the lines of stdin)");
  if (auto status = aio::clients::parse_or_exit(app, argc, argv, "aio-echo-client")) return *status;
  try {
    return aio::run(run_client(o));
  } catch (const aio::IncompleteReadError& e) {
    std::cerr << "aio-echo-client: the server closed the connection before the whole echo came back\n";
  } catch (const aio::TimeoutError&) {
    std::cerr << "aio-echo-client: timed out after " << o.timeout << " s\n";
  } catch (const std::exception& e) {
    std::cerr << "aio-echo-client: " << o.host << ":" << o.port << ": " << e.what() << "\n";
  }
  return 1;
}
