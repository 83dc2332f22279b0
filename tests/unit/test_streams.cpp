// Behaviours of aio/streams.hpp's StreamReader, ported from CPython 3.13's
// Lib/test/test_asyncio/test_streams.py with the same bytes.
#include <harness.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ssl/context.hpp>

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <aio/connection.hpp>
#include <aio/detail/stream_state.hpp>
#include <aio/runners.hpp>
#include <aio/server.hpp>
#include <aio/streams.hpp>
#include <aio/tls.hpp>
#include <certs.hpp>

using namespace std::chrono_literals;
using aio::StreamReader;
using aio::Task;
using aio::test::caught;
using aio::test::run_test;

namespace {

const std::string DATA = "line1\nline2\nline3\n";

// What the reader holds (CPython's stream._buffer).
std::string buffered(const StreamReader& r) { return std::string(r.state()->rbuf.view()); }

// Awaits `t` and returns the exception of type E it threw, if it did.
// Starts `t` as a task and lets it run until it waits.
template <class T>
Task<aio::TaskHandle<T>> pending(Task<T> t) {
  auto h = aio::create_task(std::move(t));
  co_await aio::sleep(0s);
  co_await aio::sleep(0s);
  co_return h;
}

}  // namespace

TEST_CASE("read(0) returns nothing and leaves the buffer alone", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data(DATA);
    CHECK(co_await r.read(0) == "");
    CHECK(buffered(r) == DATA);
  }());
}

TEST_CASE("read(n) waits for data fed later", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    auto h = co_await pending(r.read(30));
    CHECK_FALSE(h.done());
    r.feed_data(DATA);
    CHECK(co_await h.join() == DATA);
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("read(n) returns at most n bytes across chunks", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("line1");
    r.feed_data("line2");
    CHECK(co_await r.read(5) == "line1");
    CHECK(buffered(r) == "line2");
  }());
}

TEST_CASE("read(n) at EOF returns an empty string", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    auto h = co_await pending(r.read(1024));
    r.feed_eof();
    CHECK(co_await h.join() == "");
  }());
}

TEST_CASE("read(-1) reads every chunk up to EOF", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    auto h = co_await pending(r.read(-1));
    r.feed_data("chunk1\n");
    co_await aio::sleep(0s);
    r.feed_data("chunk2");
    co_await aio::sleep(0s);
    r.feed_eof();
    CHECK(co_await h.join() == "chunk1\nchunk2");
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("an exception set on the reader is raised by the next read even with data buffered", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("line\n");
    CHECK(co_await r.read(2) == "li");
    r.set_exception(std::make_exception_ptr(aio::ValueError("boom")));
    CHECK((co_await caught<aio::ValueError>(r.read(2))).has_value());
    CHECK((co_await caught<aio::ValueError>(r.readline())).has_value());
    CHECK((co_await caught<aio::ValueError>(r.readexactly(2))).has_value());
    CHECK(r.exception() != nullptr);
  }());
}

TEST_CASE("a limit of zero or less is a ValueError", "[streams]") {
  CHECK_THROWS_AS(StreamReader(0), aio::ValueError);
  CHECK_THROWS_AS(StreamReader(-1), aio::ValueError);
}

TEST_CASE("read and readexactly are not capped by the limit", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r(3);
    r.feed_data("chunk");
    CHECK(co_await r.read(5) == "chunk");
    StreamReader r2(3);
    r2.feed_data("chunk");
    CHECK(co_await r2.readexactly(5) == "chunk");
  }());
}

TEST_CASE("readline joins chunks up to the newline", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("chunk1 ");
    auto h = co_await pending(r.readline());
    r.feed_data("chunk2 ");
    co_await aio::sleep(0s);
    r.feed_data("line1\nchunk1");
    CHECK(co_await h.join() == "chunk1 chunk2 line1\n");
    CHECK(buffered(r) == "chunk1");
  }());
}

TEST_CASE("readline over the limit with existing data discards through the newline or all", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r(3);
    r.feed_data("li");
    r.feed_data("ne1\nline2\n");
    CHECK((co_await caught<aio::ValueError>(r.readline())).has_value());
    // The newline is in the buffer: the line is dropped through it.
    CHECK(buffered(r) == "line2\n");

    StreamReader r2(3);
    r2.feed_data("li");
    r2.feed_data("ne1");
    r2.feed_data("li");
    auto e = co_await caught<aio::LimitOverrunError>(r2.readline());
    CHECK(e.has_value());
    // No newline: the whole buffer goes.
    CHECK(buffered(r2) == "");
  }());
}

TEST_CASE("readline with limit 7 passes 1234567 and rejects 12345678", "[streams]") {
  run_test([]() -> Task<> {
    {
      StreamReader r(7);
      auto h = aio::create_task(r.readline());
      co_await aio::sleep(0s);
      r.feed_data("chunk1");
      r.feed_data("chunk2");
      r.feed_data("chunk3\n");
      CHECK((co_await caught<aio::ValueError>(h.join())).has_value());
      CHECK(buffered(r) == "");
    }
    {
      StreamReader r(7);
      auto h = aio::create_task(r.readline());
      co_await aio::sleep(0s);
      r.feed_data("chunk1");
      r.feed_data("chunk2\n");
      r.feed_data("chunk3\n");
      CHECK((co_await caught<aio::ValueError>(h.join())).has_value());
      CHECK(buffered(r) == "chunk3\n");
    }
    StreamReader r(7);
    r.feed_data("1234567\n");
    CHECK(co_await r.readline() == "1234567\n");
    CHECK(buffered(r) == "");
    r.feed_data("12345678\n");
    CHECK((co_await caught<aio::ValueError>(r.readline())).has_value());
    CHECK(buffered(r) == "");
    r.feed_data("12345678");
    CHECK((co_await caught<aio::ValueError>(r.readline())).has_value());
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("readline returns lines already buffered without waiting", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data(DATA.substr(0, 6));
    r.feed_data(DATA.substr(6));
    CHECK(co_await r.readline() == "line1\n");
    CHECK(buffered(r) == "line2\nline3\n");
    CHECK(co_await r.read(7) == "line2\nl");
    CHECK(buffered(r) == "ine3\n");
  }());
}

TEST_CASE("at_eof becomes true only once EOF is fed and the buffer is empty", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    CHECK_FALSE(r.at_eof());
    r.feed_data("some data\n");
    CHECK_FALSE(r.at_eof());
    co_await r.readline();
    CHECK_FALSE(r.at_eof());
    r.feed_data("some data\n");
    r.feed_eof();
    CHECK_FALSE(r.at_eof());
    co_await r.readline();
    CHECK(r.at_eof());
  }());
}

TEST_CASE("readline at EOF returns the partial line, then an empty string", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("some data");
    r.feed_eof();
    CHECK(co_await r.readline() == "some data");
    CHECK(co_await r.readline() == "");
  }());
}

TEST_CASE("readline after an exception is set raises it and the buffer is empty", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("line\n");
    CHECK(co_await r.readline() == "line\n");
    r.set_exception(std::make_exception_ptr(aio::ValueError("x")));
    CHECK((co_await caught<aio::ValueError>(r.readline())).has_value());
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("readuntil with an empty separator is a ValueError", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    CHECK((co_await caught<aio::ValueError>(r.readuntil(""))).has_value());
  }());
}

TEST_CASE("readuntil finds a multi-byte separator split across chunks", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("lineAAA");
    CHECK(co_await r.readuntil("AAA") == "lineAAA");
    CHECK(buffered(r) == "");
    r.feed_data("lineAAAxxx");
    CHECK(co_await r.readuntil("AAA") == "lineAAA");
    CHECK(buffered(r) == "xxx");
  }());
}

TEST_CASE("readuntil handles every chunking of test_readuntil_multi_chunks_1", "[streams]") {
  run_test([]() -> Task<> {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"QWEaa", "XYaa", "a"}, "QWEaaXYaaa"},
        {{"QWEaa", "XYa", "aa"}, "QWEaaXYaaa"},
        {{"aaa"}, "aaa"},
        {{"Xaaa"}, "Xaaa"},
        {{"XXX", "a", "a", "a"}, "XXXaaa"},
    };
    for (const auto& [chunks, expected] : cases) {
      StreamReader fed;  // all chunks buffered first, as CPython's test does
      for (const auto& c : chunks) fed.feed_data(c);
      CHECK(co_await fed.readuntil("aaa") == expected);
      CHECK(buffered(fed) == "");

      StreamReader live;  // the same chunks arriving while readuntil waits
      auto h = aio::create_task(live.readuntil("aaa"));
      for (const auto& c : chunks) {
        co_await aio::sleep(0s);
        live.feed_data(c);
      }
      CHECK(co_await h.join() == expected);
      CHECK(buffered(live) == "");
    }
  }());
}

TEST_CASE("readuntil at EOF raises IncompleteReadError with the partial data and no expected size", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("some dataAA");
    r.feed_eof();
    auto e = co_await caught<aio::IncompleteReadError>(r.readuntil("AAA"));
    REQUIRE(e.has_value());
    CHECK(e->partial == "some dataAA");
    CHECK_FALSE(e->expected.has_value());
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("readuntil over the limit leaves the data buffered, found or not", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r(3);
    r.feed_data("some dataAA");
    auto e = co_await caught<aio::LimitOverrunError>(r.readuntil("AAA"));
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()).find("not found") != std::string::npos);
    CHECK(buffered(r) == "some dataAA");
    r.feed_data("A");
    e = co_await caught<aio::LimitOverrunError>(r.readuntil("AAA"));
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()).find("is found") != std::string::npos);
    CHECK(buffered(r) == "some dataAAA");
  }());
}

// asyncio 3.13's readuntil with a tuple of separators.
TEST_CASE("readuntil rejects an empty list of separators and an empty separator in a list", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    const std::vector<std::string_view> none;
    auto e = co_await caught<aio::ValueError>(r.readuntil(std::span<const std::string_view>(none)));
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()).find("Separator should contain") != std::string::npos);
    const std::array<std::string_view, 1> empty{""};
    e = co_await caught<aio::ValueError>(r.readuntil(empty));
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()).find("Separator should be") != std::string::npos);
  }());
}

TEST_CASE("readuntil with several separators stops at the first end position, even of a longer match", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    const std::array<std::string_view, 2> eol{"\r", "\n"};
    r.feed_data("line 1\nline 2\r");
    CHECK(co_await r.readuntil(eol) == "line 1\n");
    CHECK(co_await r.readuntil(eol) == "line 2\r");
    CHECK(buffered(r) == "");
    r.feed_data("ABCDEFG");
    const std::array<std::string_view, 2> seps{"DEF", "BCDE"};
    CHECK(co_await r.readuntil(seps) == "ABCDE");
    CHECK(buffered(r) == "FG");
  }());
}

TEST_CASE("readuntil with several separators takes the shortest one found for the limit", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r(3);
    r.feed_data("some dataA");
    const std::array<std::string_view, 2> seps{"A", "ome dataA"};
    auto e = co_await caught<aio::LimitOverrunError>(r.readuntil(seps));
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()).find("is found") != std::string::npos);
    CHECK(e->consumed == 9);
    CHECK(buffered(r) == "some dataA");
  }());
}

TEST_CASE("readuntil with two separators ending at the same byte counts the shorter one as the match", "[streams]") {
  run_test([]() -> Task<> {
    // "ab" starts at 1 (within the limit), "b" at 2 (beyond it): asyncio
    // sorts by length and keeps the first of equal ends, so "b" matched.
    StreamReader r(1);
    r.feed_data("xab");
    const std::array<std::string_view, 2> seps{"ab", "b"};
    auto e = co_await caught<aio::LimitOverrunError>(r.readuntil(seps));
    REQUIRE(e.has_value());
    CHECK(e->consumed == 2);
    CHECK(buffered(r) == "xab");
  }());
}

TEST_CASE("readuntil with a long and a short separator keeps its offset from going negative", "[streams]") {
  run_test([]() -> Task<> {
    // CPython's test_readuntil_multi_separator_negative_offset: the buffer
    // fits the short separator but not the long one.
    StreamReader r;
    r.feed_data("data");
    const std::array<std::string_view, 2> seps{"A", "long sep"};
    auto h = co_await pending(r.readuntil(seps));
    r.feed_data("Z");
    co_await aio::sleep(0s);
    r.feed_data("Aaaa");
    CHECK(co_await h.join() == "dataZA");
    CHECK(buffered(r) == "aaa");
  }());
}

TEST_CASE("readuntil finds one of several separators split across chunks", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    const std::vector<std::string_view> seps{"\r\n", "\n\n"};
    auto h = co_await pending(r.readuntil(seps));
    r.feed_data("abc\r");
    co_await aio::sleep(0s);
    CHECK_FALSE(h.done());
    r.feed_data("\nrest");
    CHECK(co_await h.join() == "abc\r\n");
    CHECK(buffered(r) == "rest");
    r.feed_data("\n\n");
    CHECK(co_await r.readuntil(seps) == "rest\n\n");
  }());
}

TEST_CASE("readuntil with several separators at EOF raises IncompleteReadError with everything left", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("no end\r");
    r.feed_eof();
    const std::array<std::string_view, 2> seps{"\r\n", "\n"};
    auto e = co_await caught<aio::IncompleteReadError>(r.readuntil(seps));
    REQUIRE(e.has_value());
    CHECK(e->partial == "no end\r");
    CHECK_FALSE(e->expected.has_value());
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("readuntil copies a braced list of separators, so the Task outlives the list", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    // The list's array is gone at the end of this statement; the Task has
    // not started yet (g++ 12 rejects the list inside a co_await itself).
    auto t = r.readuntil({std::string("--boundary--"), std::string("\n")});
    r.feed_data("part--boundary--tail");
    CHECK(co_await std::move(t) == "part--boundary--");
    CHECK(buffered(r) == "tail");
  }());
}

TEST_CASE("readexactly(0) returns nothing and readexactly(-1) is a ValueError", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data(DATA);
    CHECK(co_await r.readexactly(0) == "");
    CHECK(buffered(r) == DATA);
    CHECK((co_await caught<aio::ValueError>(r.readexactly(-1))).has_value());
    CHECK(buffered(r) == DATA);
  }());
}

TEST_CASE("readexactly collects bytes across three feeds", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    const auto n = static_cast<std::ptrdiff_t>(2 * DATA.size());
    auto h = co_await pending(r.readexactly(n));
    r.feed_data(DATA);
    r.feed_data(DATA);
    r.feed_data(DATA);
    CHECK(co_await h.join() == DATA + DATA);
    CHECK(buffered(r) == DATA);
  }());
}

TEST_CASE("readexactly at EOF raises IncompleteReadError with CPython's message", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    const auto n = static_cast<std::ptrdiff_t>(2 * DATA.size());
    auto h = co_await pending(r.readexactly(n));
    r.feed_data(DATA);
    r.feed_eof();
    auto e = co_await caught<aio::IncompleteReadError>(h.join());
    REQUIRE(e.has_value());
    CHECK(e->partial == DATA);
    CHECK(e->expected == std::optional<std::size_t>(36));
    CHECK(std::string(e->what()) == "18 bytes read on a total of 36 expected bytes");
    CHECK(buffered(r) == "");
  }());
}

TEST_CASE("an exception set while a reader waits is raised in it", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    auto h = co_await pending(r.readline());
    r.set_exception(std::make_exception_ptr(aio::ValueError("x")));
    CHECK((co_await caught<aio::ValueError>(h.join())).has_value());
  }());
}

TEST_CASE("a cancelled readline leaves the reader usable and loses nothing", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("par");
    auto h = co_await pending(r.readline());
    h.cancel();
    CHECK((co_await caught<aio::CancelledError>(h.join())).has_value());
    r.feed_data("tial\n");
    CHECK(co_await r.readline() == "partial\n");
  }());
}

TEST_CASE("two coroutines waiting on one reader is a RuntimeError", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    auto h = co_await pending(r.readline());
    CHECK((co_await caught<aio::RuntimeError>(r.read(1))).has_value());
    r.feed_data("x\n");
    CHECK(co_await h.join() == "x\n");
  }());
}

TEST_CASE("read_some hands out everything buffered and read_into copies", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data("abc");
    r.feed_data("def");
    CHECK(co_await r.read_some() == "abcdef");
    r.feed_data("xyz");
    std::array<char, 2> two{};
    CHECK(co_await r.read_into(two) == 2);
    CHECK(std::string(two.data(), 2) == "xy");
    r.feed_eof();
    CHECK(co_await r.read_some() == "z");
    CHECK(co_await r.read_some() == "");
    CHECK(co_await r.read_into(two) == 0);
  }());
}

TEST_CASE("lines() yields each line until EOF, like async for", "[streams]") {
  run_test([]() -> Task<> {
    StreamReader r;
    r.feed_data(DATA);
    r.feed_data("tail");
    r.feed_eof();
    std::vector<std::string> got;
    auto gen = r.lines();
    while (auto line = co_await gen.next()) got.push_back(*line);
    CHECK(got == std::vector<std::string>{"line1\n", "line2\n", "line3\n", "tail"});
  }());
}

// ---- open_connection(fd): streams over a socket connected elsewhere ----

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

Task<void> echo_lines(StreamReader r, aio::StreamWriter w) {
  for (;;) {
    auto line = co_await r.readline();
    if (line.empty()) break;
    w.write(line);
    co_await w.drain();
  }
}

}  // namespace

TEST_CASE("open_connection(fd) wraps both ends of a socketpair and they talk both ways", "[streams][connection]") {
  const std::size_t before = open_descriptors();
  run_test([]() -> Task<> {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    auto [ra, wa] = co_await aio::open_connection(sv[0]);
    aio::ConnectOptions small;
    small.limit = 16;
    auto [rb, wb] = co_await aio::open_connection(sv[1], small);
    CHECK(wa.native_handle() == sv[0]);
    CHECK(rb.limit() == 16);
    wa.write("ping\n");
    const auto ping = co_await rb.readline();
    CHECK(ping == "ping\n");
    wb.write("pong\n");
    co_await wb.drain();
    const auto pong = co_await ra.readline();
    CHECK(pong == "pong\n");
    wa.close();
    co_await wa.wait_closed();
    const auto eof = co_await rb.read();
    CHECK(eof.empty());
    CHECK(rb.at_eof());
    wb.close();
    co_await wb.wait_closed();
  }());
  CHECK(open_descriptors() == before);
}

TEST_CASE("open_connection(fd) takes a TCP socket connected with plain connect() to start_server", "[streams][connection]") {
  run_test([]() -> Task<> {
    auto server = co_await aio::start_server(echo_lines, "127.0.0.1", 0);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Blocking is fine: the kernel completes the handshake from the backlog.
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    {
      auto [r, w] = co_await aio::open_connection(fd);
      CHECK(w.peername() == "127.0.0.1:" + std::to_string(server.port()));
      int nodelay = 0;
      socklen_t len = sizeof nodelay;
      REQUIRE(::getsockopt(w.native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
      CHECK(nodelay != 0);
      w.write("hello\n");
      const std::string big(50000, 'x');  // under the server's 64 KiB line limit
      w.write(big + "\n");
      co_await w.drain();
      const auto hello = co_await r.readline();
      CHECK(hello == "hello\n");
      const auto back = co_await r.readexactly(static_cast<std::ptrdiff_t>(big.size() + 1));
      CHECK(back == big + "\n");
      w.close();
      co_await w.wait_closed();
    }
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("open_connection(fd) rejects what is not a connected stream socket and closes it", "[streams][connection]") {
  const std::size_t before = open_descriptors();
  run_test([]() -> Task<> {
    auto bad = co_await caught<std::system_error>(aio::open_connection(-1));
    REQUIRE(bad.has_value());
    CHECK(bad->code() == std::error_code(EBADF, std::system_category()));

    int pipefd[2];
    REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
    auto not_socket = co_await caught<std::system_error>(aio::open_connection(pipefd[0]));
    REQUIRE(not_socket.has_value());
    CHECK(not_socket->code() == std::error_code(ENOTSOCK, std::system_category()));
    ::close(pipefd[1]);

    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(udp >= 0);
    auto datagram = co_await caught<aio::ValueError>(aio::open_connection(udp));
    CHECK(datagram.has_value());

    const int unconnected = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(unconnected >= 0);
    auto not_connected = co_await caught<std::system_error>(aio::open_connection(unconnected));
    REQUIRE(not_connected.has_value());
    CHECK(not_connected->code() == std::error_code(ENOTCONN, std::system_category()));

    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    aio::ConnectOptions tls;
    tls.ssl = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    tls.server_hostname = "localhost";
    auto tls_over_unix = co_await caught<aio::ValueError>(aio::open_connection(sv[0], tls));
    CHECK(tls_over_unix.has_value());
    { auto dropped = aio::open_connection(sv[1]); }  // never awaited: still closed
  }());
  CHECK(open_descriptors() == before);
}

namespace {

// A TCP socket connected with plain connect() to 127.0.0.1:port. Blocking
// is fine on loopback: the kernel completes the handshake from the backlog.
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("open_connection(fd) with ssl shakes hands as a client, checking server_hostname", "[streams][connection]") {
  const aio::test::TestCerts certs;
  run_test([&certs]() -> Task<> {
    aio::ServerOptions sopts;
    sopts.ssl = aio::tls::server_context(certs.cert(), certs.key());
    auto server = co_await aio::start_server(echo_lines, "127.0.0.1", 0, sopts);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs.ca());
    copts.server_hostname = "localhost";
    {
      const int fd = connect_loopback(server.port());
      REQUIRE(fd >= 0);
      auto [r, w] = co_await aio::open_connection(fd, copts);
      CHECK_FALSE(w.can_write_eof());  // TLS
      w.write("secret\n");
      co_await w.drain();
      const auto back = co_await r.readline();
      CHECK(back == "secret\n");
      w.close();
      co_await w.wait_closed();
    }
    copts.server_hostname = "not-this-host.example";
    const int other = connect_loopback(server.port());
    REQUIRE(other >= 0);
    auto refused = co_await caught<std::system_error>(aio::open_connection(other, copts));
    CHECK(refused.has_value());
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("open_connection(fd) gives up at its timeout and closes the descriptor", "[streams][connection]") {
  const std::size_t before = open_descriptors();
  run_test([]() -> Task<> {
    // A listener nobody accepts from: the TLS handshake is never answered.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    const int fd = connect_loopback(ntohs(addr.sin_port));
    REQUIRE(fd >= 0);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context({}, false);
    copts.server_hostname = "localhost";
    copts.timeout = 200ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto timed_out = co_await caught<aio::TimeoutError>(aio::open_connection(fd, copts));
    CHECK(timed_out.has_value());
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    ::close(listener);
  }());
  CHECK(open_descriptors() == before);
}

// ---- cancelling reads of a real socket (the in-place read path) ----

TEST_CASE("a socket read cancelled while it waits raises CancelledError, and the stream reads on", "[streams][cancel]") {
  run_test([]() -> Task<> {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    auto conn = co_await aio::open_connection(sv[0]);
    StreamReader& r = conn.first;
    auto h = co_await pending(r.read_some());
    h.cancel();
    CHECK((co_await caught<aio::CancelledError>(h.join())).has_value());
    REQUIRE(::write(sv[1], "abc", 3) == 3);
    CHECK(co_await r.read_some() == "abc");
    // A timeout is a cancellation too; again nothing is lost.
    CHECK((co_await caught<aio::TimeoutError>(aio::wait_for(r.read_some(), 20ms))).has_value());
    REQUIRE(::write(sv[1], "def", 3) == 3);
    CHECK(co_await r.read_some() == "def");
    ::close(sv[1]);
  }());
}

TEST_CASE("a cancellation that arrives between socket reads is raised by the next read, losing nothing",
          "[streams][cancel]") {
  run_test([]() -> Task<> {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    auto conn = co_await aio::open_connection(sv[0]);
    StreamReader& r = conn.first;
    REQUIRE(::write(sv[1], "one", 3) == 3);
    bool first_read = false, cancel_sent = false;
    auto body = [&]() -> Task<std::string> {
      std::string got(co_await r.read_some());
      first_read = true;
      // Not an aio wait (no cancellation check, no handler of its own): the
      // cancel() below arrives while the task sits here, between two reads.
      auto ex = co_await asio::this_coro::executor;
      while (!cancel_sent) co_await asio::post(ex, asio::use_awaitable);
      got += co_await r.read_some();
      co_return got;
    };
    auto h = aio::create_task(body());
    while (!first_read) co_await aio::sleep(1ms);
    h.cancel();
    cancel_sent = true;
    REQUIRE(::write(sv[1], "two", 3) == 3);
    CHECK((co_await caught<aio::CancelledError>(aio::wait_for(h.join(), 5s))).has_value());
    CHECK(co_await r.read_some() == "two");
    ::close(sv[1]);
  }());
}

// A socket read's operation lives in the reading coroutine's frame; when the
// loop goes away with the read still queued, the operation must end before
// the frame does (ASan sees any use after free, LSan any leak).
TEST_CASE("a loop closed with a socket read still pending destroys the reader and its operation", "[streams][cancel]") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  auto destroyed = std::make_shared<int>(0);
  struct Guard {
    std::shared_ptr<int> n;
    ~Guard() { ++*n; }
  };
  auto started = std::make_shared<bool>(false);
  {
    aio::Runner runner;
    runner.run([&]() -> Task<> {
      // Not a task: run() and close() cancel tasks and wait for them, so
      // only a bare Asio coroutine is still reading when the loop closes.
      // Named first: g++ 12 frees a capturing lambda created inside a
      // co_await expression twice (g++ 12).
      auto reader = [fd = sv[0], destroyed, started]() -> asio::awaitable<void> {
        Guard guard{destroyed};
        auto [r, w] = co_await aio::open_connection(fd);
        *started = true;
        (void)co_await r.read_some();  // the peer never writes
      };
      auto ex = co_await asio::this_coro::executor;
      asio::co_spawn(ex, std::move(reader), asio::detached);
      while (!*started) co_await aio::sleep(1ms);
      co_await aio::sleep(5ms);
    }());
    CHECK(*destroyed == 0);
  }
  CHECK(*destroyed == 1);
  ::close(sv[1]);
}

TEST_CASE("one task reading two sockets in turn is cancelled on the one it waits for", "[streams][cancel]") {
  run_test([]() -> Task<> {
    int a[2], b[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
    auto ca = co_await aio::open_connection(a[0]);
    auto cb = co_await aio::open_connection(b[0]);
    StreamReader& ra = ca.first;
    StreamReader& rb = cb.first;
    REQUIRE(::write(a[1], "x", 1) == 1);
    bool first_read = false;
    auto body = [&]() -> Task<std::string> {
      std::string got(co_await ra.read_some());
      first_read = true;
      got += co_await rb.read_some();  // waits: b is silent
      co_return got;
    };
    auto h = aio::create_task(body());
    while (!first_read) co_await aio::sleep(1ms);
    co_await aio::sleep(5ms);  // well inside rb's read
    h.cancel();
    CHECK((co_await caught<aio::CancelledError>(aio::wait_for(h.join(), 5s))).has_value());
    REQUIRE(::write(b[1], "y", 1) == 1);
    REQUIRE(::write(a[1], "z", 1) == 1);
    CHECK(co_await rb.read_some() == "y");
    CHECK(co_await ra.read_some() == "z");
    ::close(a[1]);
    ::close(b[1]);
  }());
}
