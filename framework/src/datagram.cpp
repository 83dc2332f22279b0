// UDP endpoints: asyncio's create_datagram_endpoint, pulled by coroutines.
//
// A receive tries recvmsg() first and waits for readability only when the
// queue is empty, so a datagram is taken from the kernel by the receiving
// coroutine itself, never by a callback on its behalf: a receive that is
// cancelled while it waits has taken nothing, and one that took a
// datagram returns it. Sends work the same way round, waiting for room.
#include <aio/datagram.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/udp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include <aio/detail/wait_list.hpp>
#include <aio/exceptions.hpp>
#include <aio/getaddrinfo.hpp>

namespace aio::detail {

using asio::ip::udp;

class DatagramState {
 public:
  explicit DatagramState(udp::socket s) : sock(std::move(s)) {
    std::error_code ec;
    const auto local = sock.local_endpoint(ec);
    v6 = local.protocol() == udp::v6();
  }

  void close() noexcept {
    if (closed) return;
    refresh_sockname();
    closed = true;
    std::error_code ignored;
    sock.close(ignored);  // waiting receives and sends wake with operation_aborted
  }

  void refresh_sockname() noexcept {
    if (closed) return;
    std::error_code ec;
    const auto local = sock.local_endpoint(ec);
    if (!ec) sockname = {local.address().to_string(), local.port()};
  }

  udp::socket sock;
  bool v6 = false;
  // The default destination (remote_addr); `connected` unless allow_broadcast.
  std::optional<udp::endpoint> remote;
  bool connected = false;
  bool closed = false;
  // A refusal that a send took from the socket: it belongs to the receives.
  int deferred_error = 0;
  // DatagramEndpoint handles; the last one closes (Tasks hold the state only).
  std::size_t handles = 0;
  Address sockname;
};

}  // namespace aio::detail

namespace aio {
namespace {

using asio::ip::udp;
using detail::DatagramState;
using State = std::shared_ptr<DatagramState>;

std::string host_port(const udp::endpoint& ep) {
  const std::string host = ep.address().to_string();
  const std::string port = std::to_string(ep.port());
  return ep.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

Address to_address(const udp::endpoint& ep) { return {ep.address().to_string(), ep.port()}; }

// Asio's socket calls report errno in a category of their own, which does
// not compare equal to std::errc values: give callers the system's.
std::error_code system_code(const std::error_code& ec) {
  if (ec.category() == asio::error::get_system_category()) return {ec.value(), std::system_category()};
  return ec;
}

[[noreturn]] void throw_closed() { throw ConnectionResetError("datagram endpoint is closed"); }

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::system_category(), what);
}

// The form of `ep` the endpoint's socket can send to: IPv4 addresses
// v4-mapped on an IPv6 socket.
udp::endpoint for_socket(const DatagramState& st, udp::endpoint ep) {
  if (st.v6 && ep.address().is_v4()) {
    const auto mapped = asio::ip::make_address_v6(asio::ip::v4_mapped, ep.address().to_v4());
    return udp::endpoint(mapped, ep.port());
  }
  return ep;
}

// True, with `out` set, when `host` is an address literal of `family`.
bool literal_endpoint(const std::string& host, std::uint16_t port, int family, udp::endpoint& out) {
  std::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return false;
  if (family == AF_INET && !address.is_v4()) return false;
  if (family == AF_INET6 && !address.is_v6()) return false;
  out = udp::endpoint(address, port);
  return true;
}

// The addresses of host:port in the resolver's order; a literal is no lookup.
Task<std::vector<udp::endpoint>> resolve(std::string host, std::uint16_t port, int family, int flags) {
  std::vector<udp::endpoint> out;
  udp::endpoint literal;
  if (literal_endpoint(host, port, family, literal)) {
    out.push_back(literal);
    co_return out;
  }
  auto infos = co_await aio::getaddrinfo(std::move(host), port, family, SOCK_DGRAM, flags);
  out.reserve(infos.size());
  for (const auto& ai : infos) out.emplace_back(asio::ip::make_address(ai.address), ai.port);
  co_return out;
}

// Where a datagram to host:port goes from this socket: its family's first
// address, else (IPv6 socket) the first IPv4 one, v4-mapped.
Task<udp::endpoint> destination(State st, std::string host, std::uint16_t port) {
  udp::endpoint literal;
  if (literal_endpoint(host, port, AF_UNSPEC, literal)) co_return for_socket(*st, literal);
  const std::string name = host;
  auto found = co_await resolve(std::move(host), port, st->v6 ? AF_UNSPEC : AF_INET, 0);
  const auto same_family = std::find_if(found.begin(), found.end(),
                                        [&](const udp::endpoint& ep) { return ep.address().is_v6() == st->v6; });
  if (same_family != found.end()) co_return *same_family;
  if (st->v6 && !found.empty()) co_return for_socket(*st, found.front());
  throw std::system_error(asio::error::host_not_found, "sendto " + name);
}

// Waits until the socket is ready for `what`.
Task<void> wait_ready(DatagramState& st, asio::socket_base::wait_type what) {
  const auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec] = co_await st.sock.async_wait(what, token);
  if (ec == asio::error::operation_aborted) {
    const auto cs = co_await asio::this_coro::cancellation_state;
    if (detail::cancel_requested(cs)) co_await detail::raise_cancelled();
  }
  if (st.closed) throw_closed();
  if (ec && ec != asio::error::operation_aborted) throw std::system_error(system_code(ec), "datagram endpoint wait");
}

// One recvmsg() without waiting: 0 with `out` filled, or the errno.
int receive_now(DatagramState& st, std::size_t max_size, Datagram& out) {
  // One scratch buffer per thread (a loop runs on one): a waiting receive
  // holds no buffer, and the result is exactly the datagram's size.
  thread_local std::vector<char> scratch;
  if (scratch.size() < max_size) scratch.resize(max_size);
  sockaddr_storage from{};
  iovec iov{scratch.data(), max_size};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n = 0;
  do {
    n = ::recvmsg(st.sock.native_handle(), &msg, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  out.data.assign(scratch.data(), static_cast<std::size_t>(n));
  out.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  udp::endpoint peer;
  const std::size_t len = std::min<std::size_t>(msg.msg_namelen, peer.capacity());
  std::memcpy(peer.data(), &from, len);
  peer.resize(len);
  out.peer = to_address(peer);
  return 0;
}

Task<Datagram> receive(State st, std::size_t max_size) {
  Datagram out;
  for (;;) {
    // Checked on every pass: a cancellation that came after the last wait
    // ended has no operation left to abort.
    const auto cs = co_await asio::this_coro::cancellation_state;
    if (detail::cancel_requested(cs)) co_await detail::raise_cancelled();
    if (!st || st->closed) throw_closed();
    if (st->deferred_error != 0) throw_errno(std::exchange(st->deferred_error, 0), "recvfrom");
    const int err = receive_now(*st, max_size, out);
    if (err == 0) co_return std::move(out);
    if (err != EAGAIN && err != EWOULDBLOCK) throw_errno(err, "recvfrom");
    co_await wait_ready(*st, asio::socket_base::wait_read);
  }
}

Task<std::string> receive_data(State st, std::size_t max_size) {
  auto dgram = co_await receive(std::move(st), max_size);
  co_return std::move(dgram.data);
}

// Sends `data` to `to`, or to the connected peer when `to` is unset.
Task<void> transmit(State st, std::string_view data, std::optional<udp::endpoint> to) {
  bool retried = false;
  for (;;) {
    const auto cs = co_await asio::this_coro::cancellation_state;
    if (detail::cancel_requested(cs)) co_await detail::raise_cancelled();
    if (st->closed) throw_closed();
    const int fd = st->sock.native_handle();
    const int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    const ssize_t n = to ? ::sendto(fd, data.data(), data.size(), flags, to->data(), static_cast<socklen_t>(to->size()))
                         : ::send(fd, data.data(), data.size(), flags);
    if (n >= 0) co_return;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      co_await wait_ready(*st, asio::socket_base::wait_write);
      continue;
    }
    if (err == ECONNREFUSED) {
      // The ICMP answer to an earlier datagram, reported by whichever call
      // comes first: keep it for the receives and send this one (once; a
      // second refusal in a row drops it, as asyncio drops on error).
      st->deferred_error = err;
      if (retried) co_return;
      retried = true;
      continue;
    }
    const auto& target = to ? *to : *st->remote;
    throw_errno(err, "sendto " + host_port(target));
  }
}

Task<void> send_to_host(State st, std::string_view data, std::string host, std::uint16_t port) {
  if (!st || st->closed) throw_closed();
  auto to = co_await destination(st, std::move(host), port);
  // asyncio's rule for an endpoint with a remote address: that one or none.
  if (st->remote && to != *st->remote) throw ValueError("Invalid address: must be None or " + host_port(*st->remote));
  std::optional<udp::endpoint> target;
  if (!st->connected) target = to;
  co_await transmit(std::move(st), data, std::move(target));
}

Task<void> send_to_peer(State st, std::string_view data) {
  if (!st || st->closed) throw_closed();
  if (!st->remote) throw ValueError("send() needs an endpoint with a remote_addr; use sendto()");
  std::optional<udp::endpoint> to;
  if (!st->connected) to = st->remote;
  co_await transmit(std::move(st), data, to);
}

// One family's attempt: the addresses it binds and connects to.
struct Candidate {
  int family = AF_UNSPEC;
  std::optional<udp::endpoint> local;
  std::optional<udp::endpoint> remote;
};

// asyncio's join of the two lookups by family, in order of appearance;
// only families with every address asked for remain.
Task<std::vector<Candidate>> candidates_for(const DatagramOptions& options) {
  std::vector<Candidate> out;
  if (!options.local_addr && !options.remote_addr) {
    if (options.family == AF_UNSPEC) throw ValueError("unexpected address family");
    out.push_back(Candidate{options.family, std::nullopt, std::nullopt});
    co_return out;
  }
  for (int pass = 0; pass < 2; ++pass) {
    const bool local = pass == 0;
    const auto& addr = local ? options.local_addr : options.remote_addr;
    if (!addr) continue;
    std::string host = addr->host;
    const int flags = local && host.empty() ? AI_PASSIVE : 0;
    auto found = co_await resolve(std::move(host), addr->port, options.family, flags);
    for (const auto& ep : found) {
      const int family = ep.address().is_v6() ? AF_INET6 : AF_INET;
      auto it = std::find_if(out.begin(), out.end(), [&](const Candidate& c) { return c.family == family; });
      if (it == out.end()) it = out.insert(out.end(), Candidate{family, std::nullopt, std::nullopt});
      auto& slot = local ? it->local : it->remote;
      if (!slot) slot = ep;  // the resolver's first address of the family
    }
  }
  std::erase_if(out, [&](const Candidate& c) {
    return (options.local_addr && !c.local) || (options.remote_addr && !c.remote);
  });
  if (out.empty()) throw ValueError("can not get address information");
  co_return out;
}

// Opens, configures, binds and connects one family's socket; the failed
// step's error otherwise (the socket is closed with it).
std::optional<udp::socket> open_socket(const asio::any_io_executor& ex, const Candidate& c,
                                       const DatagramOptions& options, std::vector<std::system_error>& errors) {
  udp::socket sock(ex);
  std::error_code ec;
  std::string step = "socket";
  sock.open(c.family == AF_INET6 ? udp::v6() : udp::v4(), ec);
  if (!ec && options.reuse_port) {
    step = "setsockopt(SO_REUSEPORT)";
    const int one = 1;
    if (::setsockopt(sock.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec.assign(errno, std::system_category());
  }
  if (!ec && options.allow_broadcast) {
    step = "setsockopt(SO_BROADCAST)";
    sock.set_option(asio::socket_base::broadcast(true), ec);
  }
  if (!ec && c.local) {
    step = "bind to " + host_port(*c.local);
    sock.bind(*c.local, ec);
  }
  if (!ec && c.remote && !options.allow_broadcast) {
    step = "connect to " + host_port(*c.remote);
    sock.connect(*c.remote, ec);
  }
  if (ec) {
    errors.emplace_back(system_code(ec), step);
    return std::nullopt;
  }
  return sock;
}

Task<DatagramEndpoint> create(DatagramOptions options) {
  const auto cs = co_await asio::this_coro::cancellation_state;
  if (detail::cancel_requested(cs)) co_await detail::raise_cancelled();
  const int family = options.family;
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    throw ValueError("create_datagram_endpoint: family must be AF_UNSPEC, AF_INET or AF_INET6, got " +
                     std::to_string(family));
  auto ex = co_await asio::this_coro::executor;
  auto candidates = co_await candidates_for(options);
  std::vector<std::system_error> errors;
  for (const auto& c : candidates) {
    auto sock = open_socket(ex, c, options, errors);
    if (!sock) continue;
    auto st = std::make_shared<DatagramState>(std::move(*sock));
    st->remote = c.remote;
    st->connected = c.remote && !options.allow_broadcast;
    st->refresh_sockname();
    co_return DatagramEndpoint(std::move(st));
  }
  throw errors.front();
}

}  // namespace

// ------------------------------------------------------------ DatagramEndpoint

DatagramEndpoint::DatagramEndpoint(std::shared_ptr<detail::DatagramState> st) noexcept : st_(std::move(st)) {
  if (st_) ++st_->handles;
}

DatagramEndpoint::DatagramEndpoint(const DatagramEndpoint& other) noexcept : st_(other.st_) {
  if (st_) ++st_->handles;
}

DatagramEndpoint& DatagramEndpoint::operator=(const DatagramEndpoint& other) noexcept {
  if (this != &other) {
    release();
    st_ = other.st_;
    if (st_) ++st_->handles;
  }
  return *this;
}

DatagramEndpoint& DatagramEndpoint::operator=(DatagramEndpoint&& other) noexcept {
  if (this != &other) {
    release();
    st_ = std::move(other.st_);
  }
  return *this;
}

DatagramEndpoint::~DatagramEndpoint() { release(); }

void DatagramEndpoint::release() noexcept {
  if (st_ && --st_->handles == 0) st_->close();
  st_.reset();
}

// Not coroutines: each hands the state and copies of its arguments to one,
// so that the Task does not refer to this handle or to the caller's strings.
Task<Datagram> DatagramEndpoint::recvfrom(std::size_t max_size) const { return receive(st_, max_size); }

Task<std::string> DatagramEndpoint::recv(std::size_t max_size) const { return receive_data(st_, max_size); }

Task<void> DatagramEndpoint::sendto(std::string_view data, std::string_view host, std::uint16_t port) const {
  return send_to_host(st_, data, std::string(host), port);
}

Task<void> DatagramEndpoint::sendto(std::string_view data, const Address& to) const {
  return send_to_host(st_, data, to.host, to.port);
}

Task<void> DatagramEndpoint::send(std::string_view data) const { return send_to_peer(st_, data); }

Address DatagramEndpoint::sockname() const {
  if (!st_) return {};
  st_->refresh_sockname();
  return st_->sockname;
}

std::optional<Address> DatagramEndpoint::peername() const {
  if (!st_ || !st_->connected) return std::nullopt;
  return to_address(*st_->remote);
}

void DatagramEndpoint::close() {
  if (st_) st_->close();
}

bool DatagramEndpoint::is_closing() const noexcept { return !st_ || st_->closed; }

int DatagramEndpoint::native_handle() const { return is_closing() ? -1 : st_->sock.native_handle(); }

Task<DatagramEndpoint> create_datagram_endpoint(const DatagramOptions& options) { return create(options); }

}  // namespace aio
