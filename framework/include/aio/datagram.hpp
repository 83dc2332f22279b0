// aio/datagram.hpp — public. UDP endpoints, as asyncio's loop.create_datagram_endpoint.
//
//   aio::DatagramOptions options;
//   options.local_addr = aio::Address{"127.0.0.1", 9999};
//   auto endpoint = co_await aio::create_datagram_endpoint(options);
//   for (;;) {
//     auto dgram = co_await endpoint.recvfrom();
//     co_await endpoint.sendto(dgram.data, dgram.peer);
//   }
//
// asyncio hands datagrams to a protocol's datagram_received callback; aio's
// endpoint is pulled instead, in aio's coroutine style: recvfrom() waits for
// the next datagram, sendto() sends one. Nothing is buffered in user space:
// a datagram is either returned by a receive or still in the kernel's queue,
// and one a send returns from is in the kernel's hands.
//
// Addresses: an address literal ("127.0.0.1", "::1", "fe80::1%eth0") is
// used as it is; a name goes through aio::getaddrinfo (SOCK_DGRAM). An
// IPv6 endpoint sends to an IPv4 address through its v4-mapped form
// (::ffff:a.b.c.d), and reports IPv4 peers in that form too.
//
// Errors the network reports later (ICMP port unreachable for a datagram
// sent earlier on a connected endpoint) are raised by the next receive as
// std::system_error with std::errc::connection_refused (Python's
// ConnectionRefusedError, which asyncio hands to error_received). It is
// not fatal: the receive after it waits for datagrams again, as asyncio's
// transport keeps going after error_received. Linux reports such errors
// only for connected endpoints, as asyncio sees them.
//
// Concurrency: loop-local. Any number of coroutines may receive and send
// on one endpoint at a time; each datagram goes to exactly one receiver.
//
// Ownership: DatagramEndpoint is a cheap handle (copies share the socket).
// The socket is closed by close() or when the last handle is gone, as a
// StreamWriter closes its connection. A Task from a handle's method keeps
// the socket's state alive, so the handle itself may go first; the bytes
// passed to a send must stay valid until its Task is done (await it in the
// same statement, as the example does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <aio/tasks.hpp>

namespace aio {

namespace detail {
class DatagramState;
}

// A host and port, as asyncio's (host, port) tuples. `host` is an address
// literal when aio produced it (a peer, sockname(), peername()); in what
// you pass in it may be a name too.
struct Address {
  std::string host;
  std::uint16_t port = 0;

  bool operator==(const Address&) const = default;
};

// One datagram received and who sent it. `truncated` is set when the
// datagram was longer than the receive's max_size: `data` then holds its
// first max_size bytes and the kernel dropped the rest (recvmsg's MSG_TRUNC;
// asyncio truncates to its transport's max_size silently).
struct Datagram {
  std::string data;
  Address peer;
  bool truncated = false;
};

// create_datagram_endpoint's arguments, named as asyncio's.
struct DatagramOptions {
  // Bind here first; port 0: any free port (sockname() tells which); an
  // empty host: the wildcard address of the family.
  std::optional<Address> local_addr;
  // connect() to this peer: send() and recv() then need no address, only
  // its datagrams are received, and ICMP errors are reported. With
  // allow_broadcast the socket is not connected (as asyncio): the address
  // is only send()'s default.
  std::optional<Address> remote_addr;
  // AF_UNSPEC (0), AF_INET or AF_INET6: which addresses to use; required
  // when neither address is given (an unbound socket of that family).
  int family = 0;
  // SO_REUSEPORT: several endpoints may bind the same address and port.
  bool reuse_port = false;
  // SO_BROADCAST: datagrams may go to broadcast addresses.
  bool allow_broadcast = false;
};

class DatagramEndpoint {
 public:
  // As large as a UDP payload can be, so that the default never truncates.
  static constexpr std::size_t default_max_size = 64 * 1024;

  // A closed endpoint: every receive and send raises ConnectionResetError.
  DatagramEndpoint() = default;
  DatagramEndpoint(const DatagramEndpoint& other) noexcept;
  DatagramEndpoint(DatagramEndpoint&& other) noexcept = default;
  DatagramEndpoint& operator=(const DatagramEndpoint& other) noexcept;
  DatagramEndpoint& operator=(DatagramEndpoint&& other) noexcept;
  // The last handle closes the socket.
  ~DatagramEndpoint();

  // The next datagram from anybody (from the peer only, when connected),
  // cut to max_size bytes (see Datagram::truncated). An empty datagram is
  // a datagram: data "" is no end of anything.
  // Cancellation: no datagram is lost. The receiving coroutine takes the
  // datagram from the kernel itself, when it runs, and returns it without
  // waiting again; a receive cancelled at any point before (its wait for
  // readability ended or not) raises CancelledError and leaves the queue
  // as it was.
  // Throws: ConnectionResetError ("datagram endpoint is closed") once the
  // endpoint is closed, also when close() comes while it waits (asyncio's
  // drain() raises the same on a closed transport; a datagram has no EOF
  // to return instead); std::system_error for an error the socket reports
  // (connection_refused: see the top of this header).
  [[nodiscard]] Task<Datagram> recvfrom(std::size_t max_size = default_max_size) const;

  // recvfrom() without the sender, for connected endpoints (any endpoint
  // may call it). A truncated datagram is returned cut, unmarked.
  // Cancellation, Throws: as recvfrom().
  [[nodiscard]] Task<std::string> recv(std::size_t max_size = default_max_size) const;

  // Sends one datagram to host:port. Where asyncio's sendto never waits
  // and buffers what the kernel does not take, this one waits until the
  // socket has room: a full send buffer holds the sender up instead of
  // growing a queue.
  // Cancellation: the datagram is sent whole or not at all; cancelled
  // while it waits for room (or for a name's lookup), it is not sent.
  // Throws: ValueError when the endpoint has a remote_addr and host:port
  // is another address ("Invalid address: must be None or ...", as
  // asyncio); ConnectionResetError once closed; std::system_error for the
  // lookup or the send (EMSGSIZE for a datagram too large, EACCES for a
  // broadcast address without allow_broadcast, ...). connection_refused
  // left by an earlier datagram is not this send's error: it is kept for
  // the next receive, and this datagram is sent.
  [[nodiscard]] Task<void> sendto(std::string_view data, std::string_view host, std::uint16_t port) const;
  [[nodiscard]] Task<void> sendto(std::string_view data, const Address& to) const;

  // Sends one datagram to remote_addr.
  // Cancellation: as sendto().
  // Throws: ValueError when the endpoint has no remote_addr; otherwise as
  // sendto().
  [[nodiscard]] Task<void> send(std::string_view data) const;

  // Where the socket is bound ({"0.0.0.0", 0} for an unbound IPv4 socket
  // until its first send binds it); the last known address once closed.
  Address sockname() const;
  // The connected peer; std::nullopt when not connected (allow_broadcast
  // included), as asyncio's get_extra_info("peername") is None.
  std::optional<Address> peername() const;

  // Closes the socket at once: waiting receives and sends raise
  // ConnectionResetError. There is no send buffer to flush (asyncio's
  // close() flushes its buffer first). Idempotent.
  void close();
  bool is_closing() const noexcept;

  // The socket, for socket options (asyncio's get_extra_info("socket"));
  // -1 once closed. Receiving or sending on it directly bypasses the
  // endpoint: do not.
  int native_handle() const;

  // Internal.
  explicit DatagramEndpoint(std::shared_ptr<detail::DatagramState> st) noexcept;

 private:
  void release() noexcept;
  std::shared_ptr<detail::DatagramState> st_;
};

// Creates a UDP socket as asyncio's create_datagram_endpoint does: both
// addresses are resolved (with `family`), grouped by family, and for each
// family that has every address asked for, a socket is opened, its options
// set, bound to local_addr and connected to remote_addr, until one works.
// Neither address given: an unbound socket of `family`.
//
// Options are taken by const& (no braced default): g++ 12 mishandles a
// braced argument built inside a co_await expression (its strings come out
// corrupted), so name options and Address values first, as the example at
// the top does.
//
// Cancellation: at once, during a name's lookup too; no socket is left.
// Throws: ValueError for no address and family AF_UNSPEC ("unexpected
// address family"), for another family, or when no family has both
// addresses ("can not get address information"); std::system_error from
// the lookup, or the first family's error when every family failed
// (EADDRINUSE from the bind, ...), as asyncio raises exceptions[0].
[[nodiscard]] Task<DatagramEndpoint> create_datagram_endpoint(const DatagramOptions& options);

}  // namespace aio
