// aio/getaddrinfo.hpp — public. getaddrinfo as a coroutine, as asyncio's loop.getaddrinfo.
//
//   auto infos = co_await aio::getaddrinfo("localhost", 7000);
//   for (const auto& ai : infos) spdlog::info("{} {}", ai.family == AF_INET6 ? "v6" : "v4", ai.address);
//
// The lookup runs on Asio's resolver thread (one per loop, shared by every
// lookup of that loop), so the loop goes on while the system's resolver
// reads /etc/hosts or asks DNS. Address literals ("127.0.0.1", "::1") come
// back from the system's getaddrinfo too, as in asyncio; open_connection
// and start_server skip the lookup for them.
//
// Records are asyncio's 5-tuples (family, type, proto, canonname, sockaddr)
// with the socket address as text and a port. Only stream and datagram
// lookups are offered (Asio's resolvers are per protocol): type 0, which
// asks the system for every socket type, is refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <aio/tasks.hpp>

namespace aio {

struct AddrInfo {
  int family = 0;         // AF_INET or AF_INET6
  int type = 0;           // SOCK_STREAM or SOCK_DGRAM
  int protocol = 0;       // IPPROTO_TCP or IPPROTO_UDP
  std::string canonname;  // the first record's, with AI_CANONNAME; else empty
  std::string address;    // "127.0.0.1", "::1", "fe80::1%eth0"
  std::uint16_t port = 0;

  bool operator==(const AddrInfo&) const = default;
};

// The addresses `host` (empty: none, so the wildcard with AI_PASSIVE and
// loopback without) and `port` resolve to, in the system's order.
// `family`: AF_UNSPEC (0), AF_INET or AF_INET6; `type`: SOCK_STREAM or
// SOCK_DGRAM; `flags`: AI_* flags, passed to the system as they are.
//
// Cancellation: the waiter is released at once with CancelledError; the
// lookup is abandoned (one the resolver thread has already started runs to
// its end there, and the loop's later lookups wait behind it).
// Throws: std::system_error with the resolver's error (asio::error::
// host_not_found for an unknown name, ...); ValueError for another type or
// family.
[[nodiscard]] Task<std::vector<AddrInfo>> getaddrinfo(std::string host, std::uint16_t port, int family,
                                                      int type, int flags);
// SOCK_STREAM records of any family, flags 0.
[[nodiscard]] Task<std::vector<AddrInfo>> getaddrinfo(std::string host, std::uint16_t port);

}  // namespace aio
