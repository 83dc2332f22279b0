// framework/src/resolve.hpp — private. Name lookups for open_connection and start_server.
//
// One path for both: an address literal is no lookup at all (Asio's
// resolver would ask getaddrinfo on its thread, a round trip between
// threads on every connect); else the test hook (detail/getaddrinfo_hook.hpp);
// else Asio's resolver, through an operation that a cancellation or a
// deadline releases at once (Asio's own resolver operations ignore
// per-operation cancellation and complete only when the resolver thread
// reaches them).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace aio::detail {

// A lookup in flight, as a deadline sees it.
class PendingLookup {
 public:
  // Releases the waiter now with operation_aborted; the lookup is abandoned.
  virtual void abort() noexcept = 0;

 protected:
  ~PendingLookup() = default;
};

// True, with `out` set, when `host` is an address literal of `family`
// (AF_UNSPEC: either).
bool literal_endpoint(const std::string& host, std::uint16_t port, int family, asio::ip::tcp::endpoint& out);

// The TCP endpoints of host:port in the resolver's order. While the lookup
// runs, *pending (when given) points at it; nullptr otherwise.
// Cancellation: at once, with CancelledError.
// Throws: std::system_error (the resolver's error, host_not_found for an
// empty answer; operation_aborted after PendingLookup::abort()).
asio::awaitable<std::vector<asio::ip::tcp::endpoint>> resolve_tcp(std::string host, std::uint16_t port,
                                                                  int family, int flags,
                                                                  PendingLookup** pending = nullptr);

}  // namespace aio::detail
