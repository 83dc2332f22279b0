// framework/src/happy_eyeballs.hpp — private. Connecting to the first of several addresses that answers.
//
// asyncio's create_connection tries the resolved addresses in turn, or
// with happy_eyeballs_delay races them (staggered.py's staggered_race,
// RFC 8305): the first attempt starts at once, each next one when the
// previous has failed or the delay has passed, the first connect to
// succeed wins and the others are closed. The families are interleaved
// first (interleave_families), so that a dead IPv6 path costs one delay,
// not one per IPv6 address.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <system_error>
#include <vector>

namespace aio::detail {

// asyncio's _interleave_addrinfos: the addresses grouped by family (in
// order of first appearance), the first `first_family_count - 1` of the
// first family up front, then one of each family in turn. 0 keeps the order.
std::vector<asio::ip::tcp::endpoint> interleave_families(
    const std::vector<asio::ip::tcp::endpoint>& endpoints, std::size_t first_family_count);

// Opens `sock` for the family of `remote` and, when `local` is not empty,
// binds it to the first address of `local` of that family that takes it
// (asyncio's _connect_sock). False, with `sock` closed and the reasons
// appended to `errors`, when it cannot.
bool open_and_bind(asio::ip::tcp::socket& sock, const asio::ip::tcp::endpoint& remote,
                   const std::vector<asio::ip::tcp::endpoint>& local, std::vector<std::system_error>& errors);

// A staggered connect in flight, as a deadline sees it.
class PendingConnect {
 public:
  // Closes every socket being connected; the race then ends with no winner.
  virtual void abort() noexcept = 0;

 protected:
  ~PendingConnect() = default;
};

// The race of connects to `endpoints` (in that order), each next one
// started `delay` after the previous or when the previous failed. The
// winner's socket, or nullopt when every attempt failed (their errors
// appended to `errors`, in start order) or abort() was called. Every other
// socket is closed before this returns, whatever the outcome. While it
// runs, *pending (when given) points at the race; nullptr afterwards.
// Cancellation: every socket is closed; CancelledError.
asio::awaitable<std::optional<asio::ip::tcp::socket>> staggered_connect(
    std::vector<asio::ip::tcp::endpoint> endpoints, std::vector<asio::ip::tcp::endpoint> local,
    std::chrono::steady_clock::duration delay, std::vector<std::system_error>& errors,
    PendingConnect** pending);

}  // namespace aio::detail
