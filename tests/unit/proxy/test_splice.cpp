// tests/unit/proxy/test_splice.cpp — servers/proxy/splice.hpp: splice_once and the pipe pool over loopback TCP.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "splice.hpp"

using proxy::splice_once;
using proxy::SpliceResult;

namespace {
// A connected loopback TCP pair: {client end, server end}, both non-blocking.
std::pair<int, int> tcp_pair() {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(l, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const int s = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(l);
  for (int fd : {c, s}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return {c, s};
}

std::string read_all_now(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}
}  // namespace

TEST_CASE("splice_once moves what the source holds to the destination, in the kernel", "[splice]") {
  auto [a_peer, a] = tcp_pair();  // bytes written at a_peer arrive at a
  auto [b, b_peer] = tcp_pair();  // bytes spliced into b arrive at b_peer
  proxy::PipePool pool;
  const std::string payload(40000, 'x');
  REQUIRE(::write(a_peer, payload.data(), payload.size()) == static_cast<ssize_t>(payload.size()));
  ::usleep(20000);
  std::string got, pending;
  for (int i = 0; i < 10 && got.size() < payload.size(); ++i) {
    std::size_t moved = 0;
    auto pipe = pool.take();
    const auto r = splice_once(a, b, pipe, 65536, moved, pending);
    pool.give(pipe);
    if (r == SpliceResult::would_block) {
      ::usleep(10000);
    } else {
      CHECK(r == SpliceResult::moved);
    }
    ::usleep(10000);
    got += read_all_now(b_peer);
  }
  CHECK(got == payload);
  CHECK(pool.idle() == 1);  // one pipe served every splice, and is back
  for (int fd : {a_peer, a, b, b_peer}) ::close(fd);
}

TEST_CASE("splice_once says would_block with nothing to read and eof after the peer's FIN", "[splice]") {
  auto [a_peer, a] = tcp_pair();
  auto [b, b_peer] = tcp_pair();
  proxy::PipePool pool;
  std::size_t moved = 0;
  std::string pending;
  auto pipe = pool.take();
  CHECK(splice_once(a, b, pipe, 65536, moved, pending) == SpliceResult::would_block);
  ::shutdown(a_peer, SHUT_WR);
  ::usleep(20000);
  CHECK(splice_once(a, b, pipe, 65536, moved, pending) == SpliceResult::eof);
  CHECK(moved == 0);
  pool.give(pipe);
  for (int fd : {a_peer, a, b, b_peer}) ::close(fd);
}

TEST_CASE("splice_once hands back what a full destination cannot take, and loses nothing", "[splice]") {
  auto [a_peer, a] = tcp_pair();
  auto [b, b_peer] = tcp_pair();
  int small = 4096;
  ::setsockopt(b, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(b_peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  proxy::PipePool pool;
  std::string sent;
  std::string received_by_b_side;
  bool saw_full = false;
  for (int round = 0; round < 200 && !saw_full; ++round) {
    const std::string chunk(16384, static_cast<char>('a' + round % 26));
    const ssize_t n = ::write(a_peer, chunk.data(), chunk.size());
    if (n > 0) sent.append(chunk, 0, static_cast<std::size_t>(n));
    ::usleep(2000);
    std::size_t moved = 0;
    std::string pending;
    auto pipe = pool.take();
    const auto r = splice_once(a, b, pipe, 65536, moved, pending);
    pool.give(pipe);
    if (r == SpliceResult::destination_full) {
      saw_full = true;
      received_by_b_side += pending;  // the caller writes these the ordinary way
    }
  }
  REQUIRE(saw_full);
  // What reached b_peer, then what came back as pending, then what a still holds: the stream, in order.
  // Tiny windows reopen slowly (zero-window probes): read both ends until everything is accounted for.
  std::string through, rest;
  for (int i = 0; i < 1000 && through.size() + received_by_b_side.size() + rest.size() < sent.size(); ++i) {
    through += read_all_now(b_peer);
    rest += read_all_now(a);
    ::usleep(5000);
  }
  INFO("sent " << sent.size() << " through " << through.size() << " pending " << received_by_b_side.size() << " rest "
                << rest.size());
  CHECK(through.size() + received_by_b_side.size() + rest.size() == sent.size());
  CHECK(through + received_by_b_side + rest == sent);
  for (int fd : {a_peer, a, b, b_peer}) ::close(fd);
}
