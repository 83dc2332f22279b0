// Behaviours of aio/datagram.hpp over real UDP sockets on 127.0.0.1 and ::1
// (ephemeral ports), after CPython's test_asyncio/test_base_events.py and
// test_events.py datagram tests.
#include <harness.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <aio/datagram.hpp>

using namespace std::chrono_literals;
using aio::Address;
using aio::DatagramEndpoint;
using aio::DatagramOptions;
using aio::Task;
using aio::test::caught;
using aio::test::run_test;

namespace {

Task<DatagramEndpoint> bound_to(std::string host, std::uint16_t port = 0) {
  DatagramOptions options;
  options.local_addr = Address{std::move(host), port};
  co_return co_await aio::create_datagram_endpoint(options);
}

Task<DatagramEndpoint> connected_to(Address peer) {
  DatagramOptions options;
  options.remote_addr = std::move(peer);
  co_return co_await aio::create_datagram_endpoint(options);
}

// A port on `host` that nobody listens on: bound, read back, closed.
Task<std::uint16_t> closed_port(std::string host) {
  auto probe = co_await bound_to(std::move(host));
  const auto port = probe.sockname().port;
  probe.close();
  co_return port;
}

// Echoes every datagram to its sender until "bye"; returns how many it
// echoed. `last_peer`, when given, is set to the last sender.
Task<int> echo_server(DatagramEndpoint endpoint, Address* last_peer = nullptr) {
  int echoed = 0;
  for (;;) {
    auto dgram = co_await endpoint.recvfrom();
    if (dgram.data == "bye") co_return echoed;
    if (last_peer) *last_peer = dgram.peer;
    co_await endpoint.sendto(dgram.data, dgram.peer);
    ++echoed;
  }
}

bool refused(const std::optional<std::system_error>& e) {
  return e && e->code() == std::errc::connection_refused;
}

}  // namespace

TEST_CASE("an echo endpoint and a connected client exchange 100 datagrams", "[datagram]") {
  const std::string loopback = GENERATE(std::string("127.0.0.1"), std::string("::1"));
  run_test([](std::string host) -> Task<> {
    auto server = co_await bound_to(host);
    const Address where = server.sockname();
    CHECK(where.host == host);
    CHECK(where.port != 0);
    CHECK_FALSE(server.peername().has_value());
    auto echo = aio::create_task(echo_server(server));
    auto client = co_await connected_to(where);
    CHECK(client.peername() == where);
    int matched = 0;
    for (int i = 0; i < 100; ++i) {
      const std::string message = "datagram " + std::to_string(i);
      co_await client.send(message);
      const std::string reply = co_await client.recv();
      if (reply == message) ++matched;
    }
    CHECK(matched == 100);
    co_await client.send("bye");
    CHECK(co_await echo.join() == 100);
  }(loopback));
}

TEST_CASE("an asyncio datagram client in python3 gets its datagrams echoed by an aio endpoint", "[datagram]") {
  run_test([]() -> Task<> {
    auto server = co_await bound_to("127.0.0.1");
    const auto port = server.sockname().port;
    Address python_peer;
    auto echo = aio::create_task(echo_server(server, &python_peer));

    const auto script = std::filesystem::temp_directory_path() / ("aio_datagram_" + std::to_string(::getpid()) + ".py");
    std::ofstream(script) << R"(import asyncio, sys

async def main(port):
    loop = asyncio.get_running_loop()
    got = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            got.put_nowait((data, addr))

        def error_received(self, exc):
            got.put_nowait((None, exc))

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    echoed = 0
    for i in range(20):
        message = b"python %d" % i
        transport.sendto(message)
        data, addr = await asyncio.wait_for(got.get(), 5)
        if data != message or addr[1] != port:
            print("mismatch", data, addr)
            sys.exit(1)
        echoed += 1
    transport.sendto(b"bye")
    print("ok", echoed, transport.get_extra_info("sockname")[1])
    transport.close()

asyncio.run(main(int(sys.argv[1])))
)";
    const std::string command = "timeout 20 python3 " + script.string() + " " + std::to_string(port);
    auto run = [command] {
      std::string out;
      FILE* p = ::popen(command.c_str(), "r");
      if (p == nullptr) return out;
      std::array<char, 256> buf{};
      while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
      ::pclose(p);
      return out;
    };
    const std::string out = co_await aio::to_thread(run);
    std::filesystem::remove(script);
    const int echoed = co_await aio::wait_for(echo.join(), 5s);
    CHECK(echoed == 20);
    CHECK(out == "ok 20 " + std::to_string(python_peer.port) + "\n");
    CHECK(python_peer.host == "127.0.0.1");
  }());
}

TEST_CASE("a connected endpoint sends and receives without addresses, and only from its peer", "[datagram]") {
  run_test([]() -> Task<> {
    auto server = co_await bound_to("127.0.0.1");
    auto client = co_await connected_to(server.sockname());
    auto stranger = co_await bound_to("127.0.0.1");

    co_await client.send("hello");
    auto first = co_await server.recvfrom();
    CHECK(first.data == "hello");
    CHECK(first.peer == client.sockname());
    CHECK_FALSE(first.truncated);

    // The stranger's datagram comes first, but the kernel drops it: the
    // client is connected to the server.
    co_await stranger.sendto("not for you", client.sockname());
    co_await server.sendto("from the peer", first.peer);
    CHECK(co_await client.recv() == "from the peer");

    // sendto is allowed to the peer's own address, refused elsewhere (asyncio).
    co_await client.sendto("again", server.sockname());
    CHECK((co_await server.recvfrom()).data == "again");
    auto elsewhere = co_await caught<aio::ValueError>(client.sendto("no", stranger.sockname()));
    REQUIRE(elsewhere.has_value());
    CHECK(std::string(elsewhere->what()).starts_with("Invalid address: must be None or 127.0.0.1:"));

    // send() needs a remote address.
    CHECK((co_await caught<aio::ValueError>(server.send("to whom?"))).has_value());
  }());
}

TEST_CASE("a recvfrom cancelled by wait_for loses no datagram: the next recvfrom gets it", "[datagram]") {
  run_test([]() -> Task<> {
    auto receiver = co_await bound_to("127.0.0.1");
    auto sender = co_await bound_to("127.0.0.1");
    CHECK((co_await caught<aio::TimeoutError>(aio::wait_for(receiver.recvfrom(), 20ms))).has_value());
    co_await sender.sendto("after the timeout", receiver.sockname());
    auto dgram = co_await aio::wait_for(receiver.recvfrom(), 5s);
    CHECK(dgram.data == "after the timeout");
    CHECK(dgram.peer == sender.sockname());
  }());
}

TEST_CASE("a recvfrom cancelled while datagrams arrive loses none and duplicates none", "[datagram]") {
  run_test([]() -> Task<> {
    auto receiver = co_await bound_to("127.0.0.1");
    auto sender = co_await bound_to("127.0.0.1");
    const Address to = receiver.sockname();
    int cancelled = 0;
    int rounds_intact = 0;
    for (int round = 0; round < 40; ++round) {
      auto waiting = aio::create_task(receiver.recvfrom());
      co_await aio::sleep(0s);
      co_await aio::sleep(0s);
      const std::string a = "a" + std::to_string(round);
      const std::string b = "b" + std::to_string(round);
      co_await sender.sendto(a, to);
      co_await sender.sendto(b, to);
      // Cancel before the loop turns, or after a turn or more: the wait may
      // be pending, done but not yet resumed, or resumed.
      for (int turn = 0; turn < round % 4; ++turn) co_await aio::sleep(0s);
      waiting.cancel();
      std::vector<std::string> got;
      try {
        auto first = co_await waiting.join();
        got.push_back(first.data);
      } catch (const aio::CancelledError&) {
        ++cancelled;
      }
      while (got.size() < 2) {
        auto next = co_await aio::wait_for(receiver.recvfrom(), 2s);
        got.push_back(next.data);
      }
      const bool nothing_more = (co_await caught<aio::TimeoutError>(aio::wait_for(receiver.recvfrom(), 5ms))).has_value();
      const std::vector<std::string> sent{a, b};
      if (got == sent && nothing_more) ++rounds_intact;
    }
    CHECK(rounds_intact == 40);
    // The rounds cancelled before the loop turned must have raised.
    CHECK(cancelled >= 10);
  }());
}

TEST_CASE("a recvfrom cancelled after its wait has ended loses no datagram", "[datagram]") {
  // Two receivers wait on one socket; one event ends both waits, the first
  // runs at once and cancels the second, whose resumption is already
  // queued. Had the second taken its datagram before it ran (a receive
  // done by the reactor, as Asio's async_receive_from does), raising
  // CancelledError then would drop it.
  run_test([]() -> Task<> {
    auto receiver = co_await bound_to("127.0.0.1");
    auto sender = co_await connected_to(receiver.sockname());
    int rounds_intact = 0;
    for (int round = 0; round < 20; ++round) {
      auto victim = std::make_shared<aio::TaskHandle<aio::Datagram>>();
      auto receive_then_cancel = [](DatagramEndpoint on,
                                    std::shared_ptr<aio::TaskHandle<aio::Datagram>> other) -> Task<std::string> {
        auto mine = co_await on.recvfrom();
        other->cancel();
        co_return mine.data;
      };
      auto first = aio::create_task(receive_then_cancel(receiver, victim));
      co_await aio::sleep(0s);
      co_await aio::sleep(0s);
      *victim = aio::create_task(receiver.recvfrom());
      co_await aio::sleep(0s);
      co_await aio::sleep(0s);
      const std::string a = "a" + std::to_string(round);
      const std::string b = "b" + std::to_string(round);
      co_await sender.send(a);
      co_await sender.send(b);
      std::vector<std::string> got;
      got.push_back(co_await aio::wait_for(first.join(), 2s));
      try {
        auto second = co_await victim->join();
        got.push_back(second.data);
      } catch (const aio::CancelledError&) {
      }
      while (got.size() < 2) {
        auto next = co_await aio::wait_for(receiver.recvfrom(), 2s);
        got.push_back(next.data);
      }
      const bool nothing_more = (co_await caught<aio::TimeoutError>(aio::wait_for(receiver.recvfrom(), 5ms))).has_value();
      const std::vector<std::string> sent{a, b};
      if (got == sent && nothing_more) ++rounds_intact;
    }
    CHECK(rounds_intact == 20);
  }());
}

TEST_CASE("TaskHandle::cancel ends a waiting recv with CancelledError and the endpoint goes on", "[datagram]") {
  run_test([]() -> Task<> {
    auto server = co_await bound_to("::1");
    auto client = co_await connected_to(server.sockname());
    auto waiting = aio::create_task(client.recv());
    co_await aio::sleep(5ms);
    CHECK_FALSE(waiting.done());
    waiting.cancel();
    CHECK((co_await caught<aio::CancelledError>(waiting.join())).has_value());
    co_await server.sendto("still here", client.sockname());
    CHECK(co_await aio::wait_for(client.recv(), 5s) == "still here");
  }());
}

TEST_CASE("a datagram to a closed port makes the next recv of a connected endpoint raise connection refused",
          "[datagram]") {
  const std::string loopback = GENERATE(std::string("127.0.0.1"), std::string("::1"));
  run_test([](std::string host) -> Task<> {
    const auto port = co_await closed_port(host);
    const Address nobody{host, port};  // named: g++ 12 corrupts a braced temporary inside co_await
    auto client = co_await connected_to(nobody);
    co_await client.send("anyone?");
    auto error = co_await caught<std::system_error>(aio::wait_for(client.recv(), 5s));
    CHECK(refused(error));
    // Reported once, not fatal: the next receive waits for datagrams again.
    CHECK((co_await caught<aio::TimeoutError>(aio::wait_for(client.recv(), 30ms))).has_value());
    CHECK_FALSE(client.is_closing());
  }(loopback));
}

TEST_CASE("a refusal that a send finds is kept for the next receive and the datagram still goes out",
          "[datagram]") {
  run_test([]() -> Task<> {
    const auto port = co_await closed_port("127.0.0.1");
    const Address nobody{"127.0.0.1", port};
    auto client = co_await connected_to(nobody);
    co_await client.send("one");
    co_await aio::sleep(50ms);  // the ICMP answer to "one" is in
    co_await client.send("two");  // finds it: must not raise
    CHECK(refused(co_await caught<std::system_error>(aio::wait_for(client.recv(), 5s))));
    // "two" went out after all: its own answer comes back.
    CHECK(refused(co_await caught<std::system_error>(aio::wait_for(client.recv(), 5s))));
  }());
}

TEST_CASE("close() wakes a waiting recvfrom with ConnectionResetError; later calls raise it too", "[datagram]") {
  run_test([]() -> Task<> {
    auto endpoint = co_await bound_to("127.0.0.1");
    const Address was = endpoint.sockname();
    auto waiting = aio::create_task(endpoint.recvfrom());
    co_await aio::sleep(5ms);
    CHECK_FALSE(waiting.done());
    endpoint.close();
    CHECK(endpoint.is_closing());
    CHECK(endpoint.native_handle() == -1);
    CHECK(endpoint.sockname() == was);
    auto woken = co_await caught<aio::ConnectionResetError>(aio::wait_for(waiting.join(), 5s));
    REQUIRE(woken.has_value());
    CHECK(std::string(woken->what()) == "datagram endpoint is closed");
    CHECK((co_await caught<aio::ConnectionResetError>(endpoint.recv())).has_value());
    CHECK((co_await caught<aio::ConnectionResetError>(endpoint.sendto("x", was))).has_value());
    endpoint.close();  // idempotent
  }());
}

TEST_CASE("the last handle to go closes the socket under a waiting receive", "[datagram]") {
  run_test([]() -> Task<> {
    std::optional<DatagramEndpoint> endpoint = co_await bound_to("127.0.0.1");
    auto copy = std::make_optional(*endpoint);
    auto waiting = aio::create_task(endpoint->recv());
    co_await aio::sleep(5ms);
    endpoint.reset();
    co_await aio::sleep(5ms);
    CHECK_FALSE(waiting.done());  // a copy still holds it open
    CHECK_FALSE(copy->is_closing());
    copy.reset();
    CHECK((co_await caught<aio::ConnectionResetError>(aio::wait_for(waiting.join(), 5s))).has_value());
  }());
}

TEST_CASE("a datagram longer than max_size comes back cut and marked truncated", "[datagram]") {
  run_test([]() -> Task<> {
    auto receiver = co_await bound_to("127.0.0.1");
    auto sender = co_await connected_to(receiver.sockname());
    const std::string big(1000, 'x');
    co_await sender.send(big);
    co_await sender.send("small");
    auto cut = co_await receiver.recvfrom(10);
    CHECK(cut.data == std::string(10, 'x'));
    CHECK(cut.truncated);
    auto whole = co_await receiver.recvfrom(10);  // the rest of `big` is gone
    CHECK(whole.data == "small");
    CHECK_FALSE(whole.truncated);
  }());
}

TEST_CASE("an empty datagram is sent and received as one", "[datagram]") {
  run_test([]() -> Task<> {
    auto receiver = co_await bound_to("127.0.0.1");
    auto sender = co_await connected_to(receiver.sockname());
    co_await sender.send("");
    co_await sender.send("next");
    auto empty = co_await receiver.recvfrom();
    CHECK(empty.data.empty());
    CHECK(empty.peer == sender.sockname());
    CHECK((co_await receiver.recvfrom()).data == "next");
  }());
}

TEST_CASE("two receivers on one endpoint get one datagram each", "[datagram]") {
  run_test([]() -> Task<> {
    auto receiver = co_await bound_to("127.0.0.1");
    auto sender = co_await connected_to(receiver.sockname());
    auto first = aio::create_task(receiver.recv());
    auto second = aio::create_task(receiver.recv());
    co_await aio::sleep(5ms);
    co_await sender.send("one");
    co_await sender.send("two");
    std::vector<std::string> got;
    got.push_back(co_await aio::wait_for(first.join(), 5s));
    got.push_back(co_await aio::wait_for(second.join(), 5s));
    std::sort(got.begin(), got.end());
    const std::vector<std::string> sent{"one", "two"};
    CHECK(got == sent);
  }());
}

TEST_CASE("an IPv6 wildcard endpoint talks to IPv4 peers through v4-mapped addresses", "[datagram]") {
  run_test([]() -> Task<> {
    auto dual = co_await bound_to("::");
    auto v4 = co_await bound_to("127.0.0.1");
    co_await v4.sendto("over v4", "127.0.0.1", dual.sockname().port);
    auto dgram = co_await aio::wait_for(dual.recvfrom(), 5s);
    CHECK(dgram.data == "over v4");
    CHECK(dgram.peer == Address{"::ffff:127.0.0.1", v4.sockname().port});
    // A plain IPv4 literal works too: it is mapped for the IPv6 socket.
    co_await dual.sendto("back", "127.0.0.1", v4.sockname().port);
    CHECK((co_await aio::wait_for(v4.recvfrom(), 5s)).data == "back");
  }());
}

TEST_CASE("names go through the resolver; literals of the wrong family and lone families are refused",
          "[datagram]") {
  run_test([]() -> Task<> {
    auto server = co_await bound_to("127.0.0.1");
    DatagramOptions by_name;
    by_name.remote_addr = Address{"localhost", server.sockname().port};
    by_name.family = AF_INET;
    auto client = co_await aio::create_datagram_endpoint(by_name);
    CHECK(client.peername() == server.sockname());
    co_await server.sendto("hi", "localhost", client.sockname().port);
    CHECK(co_await aio::wait_for(client.recv(), 5s) == "hi");

    DatagramOptions mismatch;
    mismatch.local_addr = Address{"127.0.0.1", 0};
    mismatch.remote_addr = Address{"::1", server.sockname().port};
    auto no_pair = co_await caught<aio::ValueError>(aio::create_datagram_endpoint(mismatch));
    REQUIRE(no_pair.has_value());
    CHECK(std::string(no_pair->what()) == "can not get address information");

    DatagramOptions nothing;
    auto no_family = co_await caught<aio::ValueError>(aio::create_datagram_endpoint(nothing));
    REQUIRE(no_family.has_value());
    CHECK(std::string(no_family->what()) == "unexpected address family");

    DatagramOptions wrong_family;
    wrong_family.local_addr = Address{"::1", 0};
    wrong_family.family = AF_INET;
    CHECK((co_await caught<std::system_error>(aio::create_datagram_endpoint(wrong_family))).has_value());

    DatagramOptions bad_family;
    bad_family.family = AF_UNIX;
    CHECK((co_await caught<aio::ValueError>(aio::create_datagram_endpoint(bad_family))).has_value());
  }());
}

TEST_CASE("an unbound endpoint of a family gets its port from its first send", "[datagram]") {
  run_test([]() -> Task<> {
    auto server = co_await bound_to("127.0.0.1");
    DatagramOptions unbound;
    unbound.family = AF_INET;
    auto client = co_await aio::create_datagram_endpoint(unbound);
    CHECK(client.sockname() == Address{"0.0.0.0", 0});
    co_await client.sendto("first", server.sockname());
    auto dgram = co_await aio::wait_for(server.recvfrom(), 5s);
    CHECK(client.sockname().port != 0);
    CHECK(dgram.peer.port == client.sockname().port);
  }());
}

TEST_CASE("a bound port is refused to a second endpoint unless both set reuse_port", "[datagram]") {
  run_test([]() -> Task<> {
    auto first = co_await bound_to("127.0.0.1");
    auto in_use = co_await caught<std::system_error>(bound_to("127.0.0.1", first.sockname().port));
    REQUIRE(in_use.has_value());
    CHECK(in_use->code() == std::errc::address_in_use);

    DatagramOptions shared;
    shared.local_addr = Address{"127.0.0.1", 0};
    shared.reuse_port = true;
    auto a = co_await aio::create_datagram_endpoint(shared);
    shared.local_addr->port = a.sockname().port;
    auto b = co_await aio::create_datagram_endpoint(shared);
    CHECK(b.sockname() == a.sockname());
  }());
}

TEST_CASE("allow_broadcast keeps remote_addr as send()'s default without connecting", "[datagram]") {
  run_test([]() -> Task<> {
    auto server = co_await bound_to("127.0.0.1");
    DatagramOptions options;
    options.remote_addr = server.sockname();
    options.allow_broadcast = true;
    auto client = co_await aio::create_datagram_endpoint(options);
    CHECK_FALSE(client.peername().has_value());
    int on = 0;
    socklen_t len = sizeof on;
    REQUIRE(::getsockopt(client.native_handle(), SOL_SOCKET, SO_BROADCAST, &on, &len) == 0);
    CHECK(on != 0);
    co_await client.send("to the default");
    CHECK((co_await aio::wait_for(server.recvfrom(), 5s)).data == "to the default");
  }());
}
