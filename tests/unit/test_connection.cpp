// Behaviours of aio/connection.hpp and aio/getaddrinfo.hpp over real sockets
// on loopback addresses: lookups, Happy Eyeballs (after CPython's
// test_base_events.py create_connection tests and staggered.py), local_addr,
// family, and TLS over Unix sockets (test certificates from tests/support).
#include <harness.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <asio/ip/tcp.hpp>

#include <aio/connection.hpp>
#include <aio/detail/getaddrinfo_hook.hpp>
#include <aio/getaddrinfo.hpp>
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

Task<void> line_echo(StreamReader r, StreamWriter w) {
  for (;;) {
    auto line = co_await r.readline();
    if (line.empty()) break;
    w.write(line);
    co_await w.drain();
  }
}

Task<void> shutdown(aio::Server& server) {
  server.close();
  co_await server.wait_closed();
}

// Names that resolve to chosen loopback addresses, through the resolver's
// test hook, for as long as the object lives.
class FakeNames {
 public:
  explicit FakeNames(std::map<std::string, std::vector<std::string>> names) {
    table() = std::move(names);
    previous_ = aio::detail::set_getaddrinfo_hook(&lookup);
  }
  FakeNames(const FakeNames&) = delete;
  FakeNames& operator=(const FakeNames&) = delete;
  ~FakeNames() {
    aio::detail::set_getaddrinfo_hook(previous_);
    table().clear();
  }

 private:
  static std::map<std::string, std::vector<std::string>>& table() {
    static std::map<std::string, std::vector<std::string>> t;
    return t;
  }
  static std::optional<std::vector<aio::AddrInfo>> lookup(const std::string& host, std::uint16_t port,
                                                          int family, int type, int) {
    auto it = table().find(host);
    if (it == table().end()) return std::nullopt;
    std::vector<aio::AddrInfo> out;
    for (const auto& address : it->second) {
      const int f = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
      if (family != AF_UNSPEC && family != f) continue;
      out.push_back(
          aio::AddrInfo{f, type, type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP, "", address, port});
    }
    return out;
  }
  aio::detail::GetaddrinfoHook previous_ = nullptr;
};

sockaddr_in v4(const char* address, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &addr.sin_addr);
  return addr;
}

// A listener on `address` whose accept queue is full: Linux drops further
// SYNs, so a connect to it hangs (a blackhole on loopback).
struct Blackhole {
  int listener = -1;
  std::vector<int> fillers;
  std::uint16_t port = 0;
  explicit Blackhole(const char* address, std::uint16_t wanted = 0) {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto addr = v4(address, wanted);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 0) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) {  // fill the queue; later connects no longer complete at once
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
      fillers.push_back(fd);
    }
  }
  Blackhole(const Blackhole&) = delete;
  Blackhole& operator=(const Blackhole&) = delete;
  ~Blackhole() {
    for (int fd : fillers) ::close(fd);
    ::close(listener);
  }
};

// One port bound, with nothing listening, on each of `addresses` (the
// first picks it): connects there are refused at once.
struct RefusingPort {
  std::vector<int> fds;
  std::uint16_t port = 0;
  explicit RefusingPort(const std::vector<std::string>& addresses) {
    for (const auto& address : addresses) {
      sockaddr_storage ss{};
      socklen_t len = 0;
      if (address.find(':') == std::string::npos) {
        auto a4 = v4(address.c_str(), port);
        std::memcpy(&ss, &a4, sizeof a4);
        len = sizeof a4;
      } else {
        sockaddr_in6 a6{};
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(port);
        ::inet_pton(AF_INET6, address.c_str(), &a6.sin6_addr);
        std::memcpy(&ss, &a6, sizeof a6);
        len = sizeof a6;
      }
      const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      fds.push_back(fd);
      REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0);
      if (port == 0) {
        sockaddr_storage bound{};
        socklen_t blen = sizeof bound;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) == 0);
        port = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
      }
    }
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  ~RefusingPort() {
    for (int fd : fds) ::close(fd);
  }
};

// How many IPv4 sockets of this machine are in SYN_SENT towards
// address:port (/proc/net/tcp: addresses in network order as hex words).
int syn_sent_to(const char* address, std::uint16_t port) {
  in_addr a{};
  ::inet_pton(AF_INET, address, &a);
  char want[16];
  std::snprintf(want, sizeof want, "%08X:%04X", a.s_addr, port);
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (remote == want && state == "02") ++n;
  }
  return n;
}

const aio::test::TestCerts& certs() {
  static aio::test::TestCerts c;
  return c;
}

std::string temp_socket_path(const std::string& stem) {
  return (std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()) + ".sock"))
      .string();
}

}  // namespace

// ---------------------------------------------------------------- getaddrinfo

TEST_CASE("getaddrinfo gives asyncio's records for localhost", "[connection][getaddrinfo]") {
  run_test([]() -> Task<> {
    auto infos = co_await aio::getaddrinfo("localhost", 8080);
    REQUIRE_FALSE(infos.empty());
    const aio::AddrInfo expected{AF_INET, SOCK_STREAM, IPPROTO_TCP, "", "127.0.0.1", 8080};
    CHECK(std::find(infos.begin(), infos.end(), expected) != infos.end());
    for (const auto& ai : infos) CHECK(ai.type == SOCK_STREAM);
  }());
}

TEST_CASE("getaddrinfo of no host with AI_PASSIVE gives the IPv4 and IPv6 wildcards",
          "[connection][getaddrinfo]") {
  run_test([]() -> Task<> {
    auto infos = co_await aio::getaddrinfo("", 7000, AF_UNSPEC, SOCK_STREAM, AI_PASSIVE);
    std::vector<std::string> addresses;
    for (const auto& ai : infos) addresses.push_back(ai.address);
    CHECK(std::find(addresses.begin(), addresses.end(), "0.0.0.0") != addresses.end());
    CHECK(std::find(addresses.begin(), addresses.end(), "::") != addresses.end());
  }());
}

TEST_CASE("getaddrinfo honours family and type, and refuses type 0", "[connection][getaddrinfo]") {
  run_test([]() -> Task<> {
    auto udp = co_await aio::getaddrinfo("::1", 53, AF_INET6, SOCK_DGRAM, 0);
    REQUIRE(udp.size() == 1);
    CHECK(udp.front() == aio::AddrInfo{AF_INET6, SOCK_DGRAM, IPPROTO_UDP, "", "::1", 53});
    CHECK((co_await caught<std::system_error>(aio::getaddrinfo("127.0.0.1", 80, AF_INET6, SOCK_STREAM, 0)))
              .has_value());
    CHECK((co_await caught<aio::ValueError>(aio::getaddrinfo("localhost", 80, AF_UNSPEC, 0, 0))).has_value());
    CHECK((co_await caught<aio::ValueError>(aio::getaddrinfo("localhost", 80, AF_UNIX, SOCK_STREAM, 0)))
              .has_value());
    CHECK((co_await caught<std::system_error>(aio::getaddrinfo("no-such-host.invalid", 80))).has_value());
  }());
}

TEST_CASE("a cancelled getaddrinfo returns at once, not when the resolver thread reaches it",
          "[connection][getaddrinfo]") {
  run_test([]() -> Task<> {
    // Asio's resolver has one thread per loop: these lookups, queued in a
    // tight loop without tasks, are ahead of the one that is cancelled.
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    constexpr int kAhead = 20000;
    int finished = 0;
    for (int i = 0; i < kAhead; ++i)
      resolver.async_resolve("localhost", "80",
                             [&finished](const std::error_code&, const auto&) { ++finished; });
    auto target = aio::create_task(aio::getaddrinfo("localhost", 80));
    co_await aio::sleep(0ms);
    co_await aio::sleep(0ms);
    REQUIRE_FALSE(target.done());
    target.cancel();
    auto cancelled = co_await caught<aio::CancelledError>(target.join());
    const int ahead_left = kAhead - finished;
    CHECK(cancelled.has_value());
    CHECK(ahead_left > 0);
    while (finished < kAhead) co_await aio::sleep(1ms);
  }());
}

TEST_CASE("open_connection's timeout ends a lookup queued behind others with TimeoutError",
          "[connection][getaddrinfo]") {
  run_test([]() -> Task<> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    constexpr int kAhead = 20000;
    int finished = 0;
    for (int i = 0; i < kAhead; ++i)
      resolver.async_resolve("localhost", "80",
                             [&finished](const std::error_code&, const auto&) { ++finished; });
    aio::ConnectOptions copts;
    copts.timeout = 1ms;
    auto timed_out = co_await caught<aio::TimeoutError>(aio::open_connection("localhost", 9, copts));
    const int ahead_left = kAhead - finished;
    CHECK(timed_out.has_value());
    CHECK(ahead_left > 0);
    while (finished < kAhead) co_await aio::sleep(1ms);
  }());
}

// ---------------------------------------------------------------- addresses in turn

TEST_CASE("open_connection tries a name's addresses in turn: a refused one, then the next", "[connection]") {
  RefusingPort nothing({"127.0.0.2"});
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(line_echo, "127.0.0.3", nothing.port);
    FakeNames names({{"two.test", {"127.0.0.2", "127.0.0.3"}}});
    auto [r, w] = co_await aio::open_connection("two.test", nothing.port);
    CHECK(w.peername() == "127.0.0.3:" + std::to_string(nothing.port));
    w.write("hi\n");
    CHECK(co_await r.readline() == "hi\n");
    w.close();
    co_await shutdown(server);
  }());
}

TEST_CASE(
    "when every address fails, the error names each, in the order tried (asyncio's Multiple exceptions)",
    "[connection]") {
  RefusingPort nothing({"127.0.0.2", "127.0.0.3", "::1"});
  run_test([&]() -> Task<> {
    FakeNames names({{"three.test", {"127.0.0.2", "127.0.0.3", "::1"}}});
    const std::string p = std::to_string(nothing.port);
    auto in_turn = co_await caught<std::system_error>(aio::open_connection("three.test", nothing.port));
    REQUIRE(in_turn.has_value());
    const std::string sequential = in_turn->what();
    INFO(sequential);
    CHECK(sequential.find("Multiple exceptions") != std::string::npos);
    CHECK(in_turn->code().value() == ECONNREFUSED);
    const auto a = sequential.find("127.0.0.2:" + p), b = sequential.find("127.0.0.3:" + p),
               c = sequential.find("[::1]:" + p);
    REQUIRE(a != std::string::npos);
    REQUIRE(b != std::string::npos);
    REQUIRE(c != std::string::npos);
    CHECK((a < b && b < c));

    // Interleaved by family (asyncio's interleave=1): v4, v6, v4.
    aio::ConnectOptions copts;
    copts.interleave = 1;
    auto interleaved =
        co_await caught<std::system_error>(aio::open_connection("three.test", nothing.port, copts));
    REQUIRE(interleaved.has_value());
    const std::string order = interleaved->what();
    INFO(order);
    const auto ia = order.find("127.0.0.2:" + p), ib = order.find("127.0.0.3:" + p),
               ic = order.find("[::1]:" + p);
    CHECK((ia < ic && ic < ib));

    // One address: its own error, no list.
    auto one = co_await caught<std::system_error>(aio::open_connection("127.0.0.2", nothing.port));
    REQUIRE(one.has_value());
    CHECK(std::string(one->what()).find("Multiple") == std::string::npos);
  }());
}

TEST_CASE("in turn, a blackholed first address holds the connect until the timeout", "[connection]") {
  Blackhole hole("127.0.0.2");
  const int fillers = syn_sent_to("127.0.0.2", hole.port);  // the blackhole's own
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(line_echo, "127.0.0.3", hole.port);
    FakeNames names({{"he.test", {"127.0.0.2", "127.0.0.3"}}});
    aio::ConnectOptions copts;
    copts.timeout = 300ms;
    CHECK(
        (co_await caught<aio::TimeoutError>(aio::open_connection("he.test", hole.port, copts))).has_value());
    CHECK(syn_sent_to("127.0.0.2", hole.port) == fillers);
    co_await shutdown(server);
  }());
}

// ---------------------------------------------------------------- Happy Eyeballs

TEST_CASE(
    "happy eyeballs connects to the second address after the delay when the first blackholes, "
    "and closes the losing attempt",
    "[connection][happy_eyeballs]") {
  Blackhole hole("127.0.0.2");
  const int fillers = syn_sent_to("127.0.0.2", hole.port);
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(line_echo, "127.0.0.3", hole.port);
    FakeNames names({{"he.test", {"127.0.0.2", "127.0.0.3"}}});
    aio::ConnectOptions copts;
    copts.happy_eyeballs_delay = 150ms;
    copts.timeout = 5s;
    const auto t0 = std::chrono::steady_clock::now();
    auto [r, w] = co_await aio::open_connection("he.test", hole.port, copts);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(w.peername() == "127.0.0.3:" + std::to_string(hole.port));
    CHECK(took >= 140ms);
    CHECK(took < 3s);
    CHECK(syn_sent_to("127.0.0.2", hole.port) == fillers);  // the loser is closed, not left retrying its SYN
    w.write("over the second\n");
    CHECK(co_await aio::wait_for(r.readline(), 5s) == "over the second\n");
    w.close();
    co_await shutdown(server);
  }());
}

TEST_CASE("happy eyeballs starts the next attempt at once when the previous one is refused",
          "[connection][happy_eyeballs]") {
  RefusingPort nothing({"127.0.0.2"});
  run_test([&]() -> Task<> {
    auto server = co_await aio::start_server(line_echo, "127.0.0.3", nothing.port);
    FakeNames names({{"two.test", {"127.0.0.2", "127.0.0.3"}}});
    aio::ConnectOptions copts;
    copts.happy_eyeballs_delay = 10s;  // longer than the test may take: only the refusal starts the second
    const auto t0 = std::chrono::steady_clock::now();
    auto [r, w] = co_await aio::open_connection("two.test", nothing.port, copts);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    CHECK(w.peername() == "127.0.0.3:" + std::to_string(nothing.port));
    w.close();
    co_await shutdown(server);
  }());
}

TEST_CASE("happy eyeballs with every address blackholed ends in TimeoutError with every attempt closed",
          "[connection][happy_eyeballs]") {
  Blackhole first("127.0.0.2");
  Blackhole second("127.0.0.3", first.port);
  const int fillers2 = syn_sent_to("127.0.0.2", first.port), fillers3 = syn_sent_to("127.0.0.3", first.port);
  run_test([&]() -> Task<> {
    FakeNames names({{"holes.test", {"127.0.0.2", "127.0.0.3"}}});
    aio::ConnectOptions copts;
    copts.happy_eyeballs_delay = 50ms;
    copts.timeout = 400ms;
    CHECK((co_await caught<aio::TimeoutError>(aio::open_connection("holes.test", first.port, copts)))
              .has_value());
    CHECK(syn_sent_to("127.0.0.2", first.port) == fillers2);
    CHECK(syn_sent_to("127.0.0.3", first.port) == fillers3);
  }());
}

TEST_CASE("cancelling a happy eyeballs race closes every attempt", "[connection][happy_eyeballs]") {
  Blackhole first("127.0.0.2");
  Blackhole second("127.0.0.3", first.port);
  const int fillers2 = syn_sent_to("127.0.0.2", first.port), fillers3 = syn_sent_to("127.0.0.3", first.port);
  run_test([&]() -> Task<> {
    FakeNames names({{"holes.test", {"127.0.0.2", "127.0.0.3"}}});
    aio::ConnectOptions copts;
    copts.happy_eyeballs_delay = 50ms;
    auto attempt = aio::create_task(aio::open_connection("holes.test", first.port, copts));
    co_await aio::sleep(200ms);  // both attempts are out
    CHECK(syn_sent_to("127.0.0.2", first.port) == fillers2 + 1);
    CHECK(syn_sent_to("127.0.0.3", first.port) == fillers3 + 1);
    attempt.cancel();
    CHECK((co_await caught<aio::CancelledError>(attempt.join())).has_value());
    CHECK(syn_sent_to("127.0.0.2", first.port) == fillers2);
    CHECK(syn_sent_to("127.0.0.3", first.port) == fillers3);
  }());
}

// ---------------------------------------------------------------- local_addr and family

TEST_CASE("local_addr binds the client socket before it connects", "[connection]") {
  run_test([]() -> Task<> {
    std::string seen;
    aio::ClientConnected record = [&seen](StreamReader r, StreamWriter w) -> Task<> {
      seen = w.peername();
      co_await line_echo(r, w);
    };
    auto server = co_await aio::start_server(record, "127.0.0.1", 0);
    aio::ConnectOptions copts;
    copts.local_addr.emplace("127.0.0.5", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    CHECK(w.sockname().rfind("127.0.0.5:", 0) == 0);
    w.write("from .5\n");
    CHECK(co_await r.readline() == "from .5\n");
    CHECK(seen == w.sockname());
    w.close();

    aio::ConnectOptions other_family;
    other_family.local_addr.emplace("::1", 0);
    auto refused =
        co_await caught<std::system_error>(aio::open_connection("127.0.0.1", server.port(), other_family));
    REQUIRE(refused.has_value());
    CHECK(std::string(refused->what()).find("no matching local address with family=AF_INET found") !=
          std::string::npos);
    co_await shutdown(server);
  }());
}

TEST_CASE("family limits open_connection to the addresses of one family", "[connection]") {
  run_test([]() -> Task<> {
    auto server = co_await aio::start_server(line_echo, "::1", 0);
    FakeNames names({{"dual.test", {"127.0.0.1", "::1"}}});
    aio::ConnectOptions v6;
    v6.family = AF_INET6;
    auto [r, w] = co_await aio::open_connection("dual.test", server.port(), v6);
    CHECK(w.peername() == "[::1]:" + std::to_string(server.port()));
    w.close();
    aio::ConnectOptions v4;
    v4.family = AF_INET;
    CHECK((co_await caught<std::system_error>(aio::open_connection("::1", server.port(), v4))).has_value());
    co_await shutdown(server);
  }());
}

// ---------------------------------------------------------------- TLS over Unix sockets

TEST_CASE("TLS over a Unix socket: a verified handshake and round trip, as asyncio allows",
          "[connection][tls]") {
  run_test([]() -> Task<> {
    const auto path = temp_socket_path("aio-test-tls");
    aio::ServerOptions sopts;
    sopts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    std::string server_side_peer = "unset";
    aio::ClientConnected handler = [&server_side_peer](StreamReader r, StreamWriter w) -> Task<> {
      server_side_peer = w.peername();
      co_await line_echo(r, w);
    };
    auto server = co_await aio::start_unix_server(handler, path, sopts);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs().ca());
    copts.server_hostname = "localhost";
    auto [r, w] = co_await aio::open_unix_connection(path, copts);
    CHECK_FALSE(w.can_write_eof());
    CHECK(w.peername() == path);
    const std::string big(50000, 'u');
    w.write("secret\n");
    w.write(big + "\n");
    co_await w.drain();
    CHECK(co_await r.readline() == "secret\n");
    CHECK(co_await r.readline() == big + "\n");
    CHECK(server_side_peer.empty());  // an unnamed client socket
    w.close();
    co_await w.wait_closed();
    co_await shutdown(server);
    CHECK_FALSE(std::filesystem::exists(path));
  }());
}

TEST_CASE("TLS over a Unix socket verifies the host name and needs server_hostname", "[connection][tls]") {
  run_test([]() -> Task<> {
    const auto path = temp_socket_path("aio-test-tls-name");
    aio::ServerOptions sopts;
    sopts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    auto server = co_await aio::start_unix_server(line_echo, path, sopts);
    aio::ConnectOptions no_name;
    no_name.ssl = aio::tls::client_context(certs().ca());
    CHECK((co_await caught<aio::ValueError>(aio::open_unix_connection(path, no_name))).has_value());
    aio::ConnectOptions wrong_name = no_name;
    wrong_name.server_hostname = "example.org";
    CHECK((co_await caught<std::system_error>(aio::open_unix_connection(path, wrong_name))).has_value());
    // A plain client does not harm the server.
    {
      auto [r, w] = co_await aio::open_unix_connection(path);
      w.write("not a ClientHello\n");
      co_await w.drain();
      try {
        auto alert = co_await aio::wait_for(r.read(), 5s);  // a TLS alert, then EOF
        CHECK(alert.find("not a ClientHello") == std::string::npos);
      } catch (const std::system_error&) {  // or a reset
      }
    }
    aio::ConnectOptions right = no_name;
    right.server_hostname = "localhost";
    auto [r, w] = co_await aio::open_unix_connection(path, right);
    w.write("still serving\n");
    CHECK(co_await r.readline() == "still serving\n");
    w.close();
    co_await shutdown(server);
  }());
}
