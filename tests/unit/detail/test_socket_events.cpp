// aio/detail/socket_events.hpp: a plain socket's epoll events delivered to
// aio, over real loopback TCP connections and Asio's own loop.
#include <harness.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <aio/detail/socket_events.hpp>
#include <aio/detail/transport.hpp>

using aio::detail::SocketEvents;
using asio::ip::tcp;

namespace {

// basic_socket keeps its reactor state in a protected member.
class ReactorSocket : public tcp::socket {
 public:
  explicit ReactorSocket(tcp::socket s) : tcp::socket(std::move(s)) {}
  asio::detail::reactor::per_descriptor_data state() { return this->impl_.get_implementation().reactor_data_; }
};

struct Connection {
  std::unique_ptr<ReactorSocket> server;
  tcp::socket client;
};

Connection connect(asio::io_context& io) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  auto server = std::make_unique<ReactorSocket>(acceptor.accept());
  server->non_blocking(true);
  return {std::move(server), std::move(client)};
}

asio::detail::reactor& reactor_of(asio::io_context& io) { return asio::use_service<asio::detail::reactor>(io); }

SocketEvents* attach(asio::io_context& io, ReactorSocket& s) { return SocketEvents::attach(reactor_of(io), s.state()); }

// A loop as aio runs one (UNSAFE_IO) with one loopback connection whose
// server side's events are aio's.
struct Attached {
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Connection c = connect(io);
  SocketEvents* e = attach(io, *c.server);

  int fd() { return c.server->native_handle(); }
  // Runs the loop until it is out of work or `limit` has passed.
  void run(std::chrono::milliseconds limit) {
    io.restart();
    io.run_for(limit);
  }
};

// One recv per perform, as aio's socket read does; counts the performs
// that found nothing (spurious wakeups).
struct TestRead final : asio::detail::reactor_op {
  explicit TestRead(int socket) : reactor_op(std::error_code(), &perform_recv, &finish), fd(socket) {}

  int fd;
  std::string got;
  int empty_performs = 0;
  int completions = 0;
  bool destroyed = false;
  bool eof = false;
  std::error_code result;
  std::function<void()> then;

  static status perform_recv(reactor_op* base) {
    auto* o = static_cast<TestRead*>(base);
    char buf[4096];
    const ssize_t n = ::recv(o->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ++o->empty_performs;
      return not_done;
    }
    if (n < 0) {
      o->ec_ = std::error_code(errno, std::system_category());
    } else if (n == 0) {
      o->eof = true;
    } else {
      o->got.append(buf, static_cast<std::size_t>(n));
    }
    return done;
  }

  static void finish(void* owner, asio::detail::scheduler_operation* base, const std::error_code&, std::size_t) {
    auto* o = static_cast<TestRead*>(base);
    if (owner == nullptr) {
      o->destroyed = true;
      return;
    }
    ++o->completions;
    o->result = o->ec_;
    if (o->then) o->then();
  }
};

// A readiness wait: perform reports done, as Asio's wait operation does.
struct TestWait final : asio::detail::reactor_op {
  TestWait() : reactor_op(std::error_code(), &ready, &finish) {}
  int completions = 0;
  std::error_code result;

  static status ready(reactor_op*) { return done; }
  static void finish(void* owner, asio::detail::scheduler_operation* base, const std::error_code&, std::size_t) {
    auto* o = static_cast<TestWait*>(base);
    if (owner == nullptr) return;
    ++o->completions;
    o->result = o->ec_;
  }
};

void send_all(tcp::socket& s, const std::string& data) { asio::write(s, asio::buffer(data)); }

// Writes until the kernel takes nothing more, also after the peer's kernel
// has acknowledged what it could (which frees send space again); returns
// the bytes written. The peer must not read meanwhile.
std::size_t fill_send_buffer(tcp::socket& s) {
  const std::string chunk(64 * 1024, 'x');
  std::size_t total = 0;
  for (;;) {
    std::size_t pass = 0;
    for (;;) {
      const ssize_t n = ::send(s.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
        break;
      }
      pass += static_cast<std::size_t>(n);
    }
    total += pass;
    if (pass == 0) return total;
    ::usleep(20000);
  }
}

// Fills the server side's send buffer, lets the loop take the reports of
// space freed meanwhile, then tells the events the last write found no
// room, as the transport's write does on EAGAIN. Returns the bytes queued.
std::size_t block_writes(Attached& t) {
  const std::size_t queued = fill_send_buffer(*t.c.server);
  REQUIRE(queued > 0);
  t.run(std::chrono::milliseconds(50));
  t.e->write_blocked();
  return queued;
}

}  // namespace

TEST_CASE("a SocketEvents is laid out as the scheduler operation Asio's event loop queues", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);
  // epoll_reactor::run treats the epoll data pointer as an operation at
  // the same address.
  CHECK(static_cast<void*>(static_cast<asio::detail::scheduler_operation*>(t.e)) == static_cast<void*>(t.e));
  t.e->detach(false);
}

TEST_CASE("on a loop whose hint lets several threads do reactor I/O, Asio keeps the socket's events",
          "[socket_events]") {
  asio::io_context io;  // the default hint: any number of threads, locking on
  auto c = connect(io);
  CHECK(attach(io, *c.server) == nullptr);
  // Asio's own wait still works there.
  bool readable = false;
  c.server->async_wait(tcp::socket::wait_read, [&](std::error_code ec) { readable = !ec; });
  send_all(c.client, "x");
  io.run_for(std::chrono::seconds(5));
  CHECK(readable);
}

TEST_CASE("a parked read completes when the peer writes, and the loop then runs out of work", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);

  TestRead read(t.fd());
  t.e->start_read(&read, false);  // nothing there yet: parks
  CHECK(read.empty_performs == 1);
  t.run(std::chrono::milliseconds(50));
  CHECK(read.completions == 0);

  send_all(t.c.client, "hello");
  t.run(std::chrono::seconds(5));
  CHECK(t.io.stopped());  // out of work, not out of time: the accounting balances
  CHECK(read.completions == 1);
  CHECK(read.got == "hello");
  CHECK_FALSE(read.result);
  CHECK(t.e->short_read_drains());  // data without a FIN
  t.e->detach(false);
}

TEST_CASE("a read finds bytes already there without waiting for an event", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);
  send_all(t.c.client, "early");
  ::usleep(20000);  // loopback delivery is immediate; this only removes doubt

  TestRead read(t.fd());
  t.e->start_read(&read, false);
  CHECK(read.empty_performs == 0);
  t.run(std::chrono::seconds(5));
  CHECK(read.completions == 1);
  CHECK(read.got == "early");
  t.e->detach(false);
}

TEST_CASE("after the peer's FIN is reported a short read no longer proves the socket drained", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);

  TestRead read(t.fd());
  t.e->start_read(&read, false);
  send_all(t.c.client, "last words");
  t.c.client.shutdown(tcp::socket::shutdown_send);
  t.run(std::chrono::seconds(5));
  REQUIRE(read.completions == 1);
  CHECK(read.got == "last words");
  CHECK_FALSE(t.e->short_read_drains());  // RDHUP came with the data: read again, do not wait

  TestRead rest(t.fd());
  t.e->start_read(&rest, false);
  t.run(std::chrono::seconds(5));
  CHECK(rest.completions == 1);
  CHECK(rest.eof);
  t.e->detach(false);
}

TEST_CASE("sockets ready in one epoll batch each complete their own read, with other handlers queued among them",
          "[socket_events]") {
  // Each event looks at the operation queued after it (to prefetch the
  // read parked there): here another socket's events with a read, one with
  // none, and a plain handler posted meanwhile.
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Connection c[3] = {connect(io), connect(io), connect(io)};
  SocketEvents* e[3];
  for (int i = 0; i < 3; ++i) {
    e[i] = attach(io, *c[i].server);
    REQUIRE(e[i] != nullptr);
  }
  TestRead first(c[0].server->native_handle()), second(c[1].server->native_handle());
  bool posted_ran = false;
  first.then = [&] { asio::post(io, [&] { posted_ran = true; }); };
  e[0]->start_read(&first, false);
  e[1]->start_read(&second, false);
  for (int i = 0; i < 3; ++i) send_all(c[i].client, std::string(1, static_cast<char>('a' + i)));
  ::usleep(20000);  // all three ready before the loop's first epoll_wait

  io.run_for(std::chrono::seconds(5));
  CHECK(io.stopped());  // the event that found no read is accounted for too
  CHECK(first.got == "a");
  CHECK(second.got == "b");
  CHECK(first.completions == 1);
  CHECK(second.completions == 1);
  CHECK(posted_ran);
  for (auto* events : e) events->detach(false);
}

TEST_CASE("cancel_read ends the parked read with operation_aborted, and only for its own key", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);

  int key = 0;
  int other_key = 0;
  TestRead read(t.fd());
  read.cancellation_key_ = &key;
  t.e->start_read(&read, false);
  t.e->cancel_read(&other_key);
  t.run(std::chrono::milliseconds(50));
  CHECK(read.completions == 0);

  t.e->cancel_read(&key);
  t.run(std::chrono::seconds(5));
  CHECK(t.io.stopped());
  CHECK(read.completions == 1);
  CHECK(read.result == asio::error::operation_aborted);
  t.e->detach(false);
}

TEST_CASE("a write wait parks until the kernel frees send space", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);
  // A parked read keeps the loop polling epoll, so that the report the
  // registration itself causes is taken before the test goes on.
  TestRead read(t.fd());
  t.e->start_read(&read, false);
  t.run(std::chrono::milliseconds(50));

  // A fresh socket is writable: the first wait does not park.
  TestWait first;
  t.e->start_write_wait(&first, false);
  t.run(std::chrono::milliseconds(50));
  CHECK(first.completions == 1);

  const std::size_t queued = block_writes(t);
  TestWait wait;
  t.e->start_write_wait(&wait, false);
  t.run(std::chrono::milliseconds(100));
  CHECK(wait.completions == 0);

  // The peer reads everything: the kernel frees the space, epoll reports it.
  std::string sink(1 << 20, '\0');
  std::size_t drained = 0;
  while (drained < queued) drained += t.c.client.read_some(asio::buffer(sink));
  t.run(std::chrono::milliseconds(200));
  CHECK(wait.completions == 1);
  CHECK_FALSE(wait.result);
  CHECK(read.completions == 0);
  t.e->detach(false);
  t.run(std::chrono::seconds(5));
  CHECK(read.result == asio::error::operation_aborted);
}

TEST_CASE("detach ends a parked read and a parked write wait with operation_aborted", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);

  TestWait first;
  t.e->start_write_wait(&first, false);  // takes the fresh socket's "writable"
  t.run(std::chrono::seconds(5));
  block_writes(t);

  TestRead read(t.fd());
  TestWait wait;
  t.e->start_read(&read, false);
  t.e->start_write_wait(&wait, false);
  t.e->detach(false);
  t.run(std::chrono::seconds(5));
  CHECK(t.io.stopped());
  CHECK(read.completions == 1);
  CHECK(read.result == asio::error::operation_aborted);
  CHECK(wait.completions == 1);
  CHECK(wait.result == asio::error::operation_aborted);
}

TEST_CASE("detach with restore gives the socket's events back to Asio", "[socket_events]") {
  Attached t;
  REQUIRE(t.e != nullptr);
  t.e->detach(true);

  // Asio's own wait: it completes only if epoll reports to Asio's state.
  std::string got(16, '\0');
  std::size_t n = 0;
  bool done = false;
  t.c.server->async_wait(tcp::socket::wait_read, [&](std::error_code ec) {
    REQUIRE_FALSE(ec);
    n = t.c.server->read_some(asio::buffer(got));
    done = true;
  });
  t.run(std::chrono::milliseconds(50));
  CHECK_FALSE(done);
  send_all(t.c.client, "asio");
  t.run(std::chrono::seconds(5));
  CHECK(done);
  CHECK(got.substr(0, n) == "asio");
}

TEST_CASE("an event queued for a detached SocketEvents is a spurious wakeup for its next socket",
          "[socket_events]") {
  asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  auto a = connect(io);
  auto b = connect(io);
  auto c = connect(io);
  SocketEvents* ea = attach(io, *a.server);
  SocketEvents* eb = attach(io, *b.server);
  REQUIRE(ea != nullptr);
  REQUIRE(eb != nullptr);

  TestRead read_a(a.server->native_handle());
  TestRead read_b(b.server->native_handle());
  TestRead read_c(c.server->native_handle());
  SocketEvents* ec = nullptr;
  // Whichever read completes first detaches the other socket while that
  // socket's event is already queued (one epoll_wait reports both), and
  // attaches a third socket, which gets the freed object and the event.
  auto first = [&](SocketEvents* other_events) {
    return [&, other_events] {
      if (ec != nullptr) return;
      other_events->detach(false);
      ec = attach(io, *c.server);
      REQUIRE(ec == other_events);  // the pool hands the freed object out again
      ec->start_read(&read_c, false);
    };
  };
  read_a.then = first(eb);
  read_b.then = first(ea);
  ea->start_read(&read_a, false);
  eb->start_read(&read_b, false);
  send_all(a.client, "a");
  send_all(b.client, "b");
  ::usleep(20000);
  io.run_for(std::chrono::milliseconds(200));

  REQUIRE(ec != nullptr);
  CHECK(read_a.completions + read_b.completions == 2);  // one with data, one aborted by detach
  CHECK(((read_a.got == "a" && read_b.result == asio::error::operation_aborted) ||
         (read_b.got == "b" && read_a.result == asio::error::operation_aborted)));
  CHECK(read_c.completions == 0);
  CHECK(read_c.empty_performs == 2);  // at its start, then the stale event

  send_all(c.client, "c");
  io.restart();
  io.run_for(std::chrono::seconds(5));
  CHECK(read_c.completions == 1);
  CHECK(read_c.got == "c");
  ec->detach(false);
  (read_a.completions && read_a.got == "a" ? ea : eb)->detach(false);
  io.restart();
  io.run_for(std::chrono::seconds(5));
  CHECK(io.stopped());
}

TEST_CASE("the loop's shutdown destroys operations still parked", "[socket_events]") {
  TestRead read(-1);
  {
    asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    auto c = connect(io);
    SocketEvents* e = attach(io, *c.server);
    REQUIRE(e != nullptr);
    read.fd = c.server->native_handle();
    e->start_read(&read, false);
    REQUIRE(read.completions == 0);
    c.server->close();  // Asio deregisters the descriptor; aio's object stays in the pool
  }
  CHECK(read.completions == 0);
  CHECK(read.destroyed);
}

TEST_CASE("a plain transport writes 8 MiB through waits for send space", "[socket_events][transport]") {
  asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  auto c = connect(io);
  auto transport = aio::detail::make_tcp_transport(std::move(static_cast<tcp::socket&>(*c.server)));
  const std::string payload = [] {
    std::string s(8 << 20, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + i % 23);
    return s;
  }();
  std::error_code write_result = asio::error::would_block;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { write_result = co_await transport->async_write_all(payload.data(), payload.size()); },
      asio::detached);

  std::string received;
  std::string buf(256 * 1024, '\0');
  c.client.non_blocking(true);
  while (received.size() < payload.size()) {
    io.run_for(std::chrono::milliseconds(1));
    io.restart();
    std::error_code ec;
    const std::size_t n = c.client.read_some(asio::buffer(buf), ec);
    if (!ec) received.append(buf, 0, n);
    REQUIRE((!ec || ec == asio::error::would_block));
  }
  io.run_for(std::chrono::seconds(1));
  CHECK_FALSE(write_result);
  CHECK(received == payload);
  transport->close();
}
