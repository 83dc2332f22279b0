// StreamWriter::sendfile, ported from CPython 3.13's
// Lib/test/test_asyncio/test_sendfile.py (SendfileMixin): sendfile(2) on
// plain sockets, the read-and-write fallback over TLS and for files
// sendfile(2) cannot read, the file position afterwards, and how it ends
// when the peer goes, the task is cancelled or the stream is aborted.
#include <harness.hpp>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <aio/connection.hpp>
#include <aio/locks.hpp>
#include <aio/server.hpp>
#include <aio/streams.hpp>
#include <aio/tls.hpp>
#include <certs.hpp>

using namespace std::chrono_literals;
using aio::StreamReader;
using aio::StreamWriter;
using aio::Task;
using aio::test::caught;
using aio::test::run_test;

namespace {

// A temporary file of pseudo-random bytes, open for reading.
class TempFile {
 public:
  explicit TempFile(std::size_t size) : data_(size, '\0') {
    std::mt19937 gen(static_cast<std::uint32_t>(size));
    for (auto& c : data_) c = static_cast<char>(gen());
    char tmpl[] = "/tmp/aio-sendfile-XXXXXX";
    fd_ = ::mkstemp(tmpl);
    if (fd_ < 0) throw std::runtime_error("mkstemp failed");
    path_ = tmpl;
    for (std::size_t done = 0; done < data_.size();) {
      const ssize_t n = ::write(fd_, data_.data() + done, data_.size() - done);
      if (n <= 0) throw std::runtime_error("write failed");
      done += static_cast<std::size_t>(n);
    }
    ::lseek(fd_, 0, SEEK_SET);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  const std::string& data() const { return data_; }
  // The file's position (Python's file.tell()).
  std::uint64_t tell() const { return static_cast<std::uint64_t>(::lseek(fd_, 0, SEEK_CUR)); }

 private:
  std::string data_;
  std::filesystem::path path_;
  int fd_ = -1;
};

constexpr std::size_t kBig = 8 * 1024 * 1024;

// A server that reads everything each client sends until EOF (after `go`
// is set, when it is given one) and keeps it.
struct Sink {
  std::string received;
  aio::Event done;
  aio::Event* go = nullptr;

  aio::ClientConnected handler() {
    return [this](StreamReader r, StreamWriter) -> Task<> {
      if (go) co_await go->wait();
      received = co_await r.read();
      done.set();
    };
  }
};

const aio::test::TestCerts& certs() {
  static aio::test::TestCerts c;
  return c;
}

}  // namespace

TEST_CASE("sendfile sends an 8 MB file byte for byte and leaves the file position at its end", "[sendfile]") {
  TempFile file(kBig);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    const std::size_t sent = co_await w.sendfile(file.fd());
    CHECK(sent == kBig);
    CHECK(file.tell() == kBig);
    CHECK(w.get_write_buffer_size() == 0);
    w.close();
    co_await aio::wait_for(sink.done.wait(), 20s);
    CHECK(sink.received.size() == kBig);
    CHECK(sink.received == file.data());
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile over a Unix socket uses sendfile(2) too, and write_eof during it waits for the file",
          "[sendfile]") {
  TempFile file(kBig);
  aio::Event go;
  Sink sink;
  sink.go = &go;
  run_test([&]() -> Task<> {
    const auto path =
        (std::filesystem::temp_directory_path() / ("aio-sendfile-" + std::to_string(::getpid()) + ".sock")).string();
    auto server = co_await aio::start_unix_server(sink.handler(), path);
    auto [r, w] = co_await aio::open_unix_connection(path);
    auto h = aio::create_task(w.sendfile(file.fd()));
    co_await aio::sleep(50ms);
    REQUIRE_FALSE(h.done());
    CHECK_THROWS_WITH(w.write("x"), Catch::Contains("sendfile is in progress"));
    w.write_eof();  // the FIN follows the file
    go.set();
    CHECK(co_await h.join() == kBig);
    co_await aio::wait_for(sink.done.wait(), 20s);
    CHECK(sink.received == file.data());
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile with an offset and a count sends that range and moves the position after it",
          "[sendfile]") {
  TempFile file(128 * 1024);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    CHECK(co_await w.sendfile(file.fd(), 1000, 100) == 100);
    CHECK(file.tell() == 1100);
    CHECK(co_await w.sendfile(file.fd(), 1000, 2000) == 2000);
    CHECK(file.tell() == 3000);
    // A count past the end stops at the end.
    CHECK(co_await w.sendfile(file.fd(), file.data().size() - 10, 1000) == 10);
    w.close();
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received == file.data().substr(1000, 100) + file.data().substr(1000, 2000) +
                               file.data().substr(file.data().size() - 10));
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile keeps its place between what was written before and after it", "[sendfile]") {
  TempFile file(128 * 1024 + 16);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    std::string prefix;
    for (int i = 0; i < 1024; ++i) prefix += "PREFIX__";
    // More than the kernel takes at once, so part of it is still queued
    // when sendfile starts and must go first.
    const std::string big_prefix = prefix + std::string(4 * 1024 * 1024, 'p');
    std::string suffix;
    for (int i = 0; i < 1024; ++i) suffix += "--SUFFIX";
    w.write(big_prefix);
    CHECK(co_await w.sendfile(file.fd()) == file.data().size());
    w.write(suffix);
    w.close();
    co_await aio::wait_for(sink.done.wait(), 20s);
    CHECK(sink.received == big_prefix + file.data() + suffix);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile of an empty file sends nothing and leaves the position alone", "[sendfile]") {
  TempFile empty(0);
  TempFile file(10);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    CHECK(co_await w.sendfile(empty.fd()) == 0);
    CHECK(empty.tell() == 0);
    auto bad = co_await caught<aio::ValueError>(w.sendfile(file.fd(), 0, 0));
    REQUIRE(bad.has_value());
    CHECK(std::string(bad->what()).find("count must be a positive integer") != std::string::npos);
    w.close();
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received.empty());
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile on a closing stream is a RuntimeError and sends nothing", "[sendfile]") {
  TempFile file(1000);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    w.close();
    auto e = co_await caught<aio::RuntimeError>(w.sendfile(file.fd()));
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()).find("is closing") != std::string::npos);
    CHECK(file.tell() == 0);
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received.empty());
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile by path opens the file for the call, and a missing file fails when awaited",
          "[sendfile]") {
  TempFile file(300 * 1024);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    const std::filesystem::path missing = file.path().string() + ".missing";
    auto t = w.sendfile(missing);  // no throw yet
    auto e = co_await caught<std::system_error>(std::move(t));
    REQUIRE(e.has_value());
    CHECK(e->code() == std::errc::no_such_file_or_directory);
    CHECK(co_await w.sendfile(file.path(), 10) == file.data().size() - 10);
    w.close();
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received == file.data().substr(10));
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("sendfile of a pipe, which sendfile(2) cannot seek, falls back to reading and writing",
          "[sendfile]") {
  Sink sink;
  const std::string payload(60000, 'q');  // fits in the pipe: written before the loop runs
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  REQUIRE(::write(pipe_fds[1], payload.data(), payload.size()) == static_cast<ssize_t>(payload.size()));
  ::close(pipe_fds[1]);
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    CHECK(co_await w.sendfile(pipe_fds[0]) == payload.size());
    w.close();
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received == payload);
    server.close();
    co_await server.wait_closed();
  }());
  ::close(pipe_fds[0]);
}

TEST_CASE("a write while sendfile runs is a RuntimeError and does not get into the file's bytes",
          "[sendfile]") {
  TempFile file(kBig);
  aio::Event go;
  Sink sink;
  sink.go = &go;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    auto h = aio::create_task(w.sendfile(file.fd()));
    co_await aio::sleep(50ms);  // the peer does not read yet: the sendfile waits for room
    REQUIRE_FALSE(h.done());
    CHECK(w.get_write_buffer_size() > 0);  // what is left of the file
    CHECK_THROWS_WITH(w.write("data"), Catch::Contains("sendfile is in progress"));
    const std::vector<std::string_view> parts{"a", "b"};
    CHECK_THROWS_WITH(w.writelines(parts), Catch::Contains("sendfile is in progress"));
    go.set();
    CHECK(co_await h.join() == kBig);
    w.write("after");
    w.close();
    co_await aio::wait_for(sink.done.wait(), 20s);
    CHECK(sink.received == file.data() + "after");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("close() during sendfile closes once the whole file is sent", "[sendfile]") {
  TempFile file(kBig);
  aio::Event go;
  Sink sink;
  sink.go = &go;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    auto h = aio::create_task(w.sendfile(file.fd()));
    co_await aio::sleep(50ms);
    REQUIRE_FALSE(h.done());
    w.close();
    CHECK(w.is_closing());
    go.set();
    CHECK(co_await h.join() == kBig);
    co_await aio::wait_for(w.wait_closed(), 10s);
    co_await aio::wait_for(sink.done.wait(), 20s);
    CHECK(sink.received == file.data());
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE(
    "a cancelled sendfile raises CancelledError, counts what was sent in the file position and "
    "leaves the stream writable",
    "[sendfile][cancel]") {
  TempFile file(kBig);
  aio::Event go;
  Sink sink;
  sink.go = &go;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    auto h = aio::create_task(w.sendfile(file.fd()));
    co_await aio::sleep(100ms);  // blocked: the peer does not read
    REQUIRE_FALSE(h.done());
    h.cancel();
    CHECK((co_await caught<aio::CancelledError>(h.join())).has_value());
    const std::uint64_t sent = file.tell();
    CHECK(sent > 0);
    CHECK(sent < kBig);
    CHECK(w.get_write_buffer_size() == 0);
    w.write("END");
    w.close();
    go.set();
    co_await aio::wait_for(sink.done.wait(), 20s);
    // Exactly the bytes the kernel took, then what was written after.
    CHECK(sink.received.size() == sent + 3);
    CHECK(sink.received == file.data().substr(0, sent) + "END");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("abort() during a blocked sendfile ends it with ConnectionResetError and closes the socket",
          "[sendfile]") {
  TempFile file(kBig);
  aio::Event go;
  Sink sink;
  sink.go = &go;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    auto h = aio::create_task(w.sendfile(file.fd()));
    co_await aio::sleep(50ms);
    REQUIRE_FALSE(h.done());
    w.abort();
    CHECK((co_await caught<aio::ConnectionResetError>(aio::wait_for(h.join(), 5s))).has_value());
    go.set();
    // The peer reaches the end of the stream: nothing holds the socket open.
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received.size() < kBig);
    CHECK(sink.received == file.data().substr(0, sink.received.size()));
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a peer closing in the middle of a sendfile gives ConnectionResetError, not SIGPIPE",
          "[sendfile]") {
  // The test means something only if SIGPIPE would kill the process.
  struct sigaction current {};
  REQUIRE(::sigaction(SIGPIPE, nullptr, &current) == 0);
  REQUIRE(current.sa_handler == SIG_DFL);
  TempFile file(kBig);
  run_test([&]() -> Task<> {
    aio::ClientConnected close_after_1k = [](StreamReader r, StreamWriter w) -> Task<> {
      co_await r.readexactly(1024);
      w.close();  // with unread bytes: the kernel answers with a reset
    };
    auto server = co_await aio::start_server(close_after_1k, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    auto e = co_await caught<aio::ConnectionResetError>(w.sendfile(file.fd()));
    CHECK(e.has_value());
    CHECK(file.tell() >= 1024);
    CHECK(file.tell() < kBig);
    CHECK(w.is_closing());
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 0);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE(
    "sendfile on a socket shut down for sending raises ConnectionResetError and no SIGPIPE is left pending",
    "[sendfile]") {
  // sendfile(2) raises SIGPIPE here (it has no MSG_NOSIGNAL): the default
  // action would end the test process.
  struct sigaction current {};
  REQUIRE(::sigaction(SIGPIPE, nullptr, &current) == 0);
  REQUIRE(current.sa_handler == SIG_DFL);
  TempFile file(64 * 1024);
  Sink sink;
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    REQUIRE(::shutdown(w.native_handle(), SHUT_WR) == 0);  // behind the stream's back: EPIPE from now on
    auto e = co_await caught<aio::ConnectionResetError>(w.sendfile(file.fd()));
    CHECK(e.has_value());
    CHECK(file.tell() == 0);
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 0);
    co_await aio::wait_for(sink.done.wait(), 10s);
    CHECK(sink.received.empty());
    server.close();
    co_await server.wait_closed();
  }());
}

// Over TLS, sendfile reads and writes (asyncio's fallback: the kernel
// cannot encrypt).
TEST_CASE("sendfile over TLS falls back to writes and keeps order with what is written around it",
          "[sendfile][tls]") {
  TempFile file(1024 * 1024 + 7);
  Sink sink;
  run_test([&]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    auto server = co_await aio::start_server(sink.handler(), "127.0.0.1", 0, opts);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs().ca());
    copts.server_hostname = "localhost";
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    w.write("zxcvbnm");
    CHECK(co_await w.sendfile(file.fd()) == file.data().size());
    CHECK(file.tell() == file.data().size());
    CHECK(co_await w.sendfile(file.fd(), 1000, 100) == 100);
    CHECK(file.tell() == 1100);
    w.write("0987654321");
    w.close();
    co_await aio::wait_for(sink.done.wait(), 20s);
    CHECK(sink.received == "zxcvbnm" + file.data() + file.data().substr(1000, 100) + "0987654321");
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a TLS peer closing in the middle of a sendfile gives ConnectionResetError", "[sendfile][tls]") {
  TempFile file(kBig);
  run_test([&]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    aio::ClientConnected close_after_1k = [](StreamReader r, StreamWriter w) -> Task<> {
      co_await r.readexactly(1024);
      w.abort();
    };
    auto server = co_await aio::start_server(close_after_1k, "127.0.0.1", 0, opts);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs().ca());
    copts.server_hostname = "localhost";
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    auto e = co_await caught<aio::ConnectionResetError>(w.sendfile(file.fd()));
    CHECK(e.has_value());
    CHECK(file.tell() >= 1024);
    CHECK(file.tell() < kBig);
    server.close();
    co_await server.wait_closed();
  }());
}
