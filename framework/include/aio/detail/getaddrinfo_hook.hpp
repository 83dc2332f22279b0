// aio/detail/getaddrinfo_hook.hpp — internal. A test seam in front of the system's resolver.
//
// Happy Eyeballs and server binding are tested over real sockets with names
// that resolve to chosen loopback addresses, which no /etc/hosts entry on a
// shared machine provides. While a hook is installed, every name lookup of
// getaddrinfo(), open_connection() and start_server() asks it first; a
// record list it returns is the answer (an empty list: "no such name"),
// nullopt passes the lookup on to the system. Address literals never reach
// it (they are not looked up).
//
// Concurrency: one hook per process; install it before the loops that use it
// run, remove it after.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <aio/getaddrinfo.hpp>

namespace aio::detail {

using GetaddrinfoHook = std::optional<std::vector<AddrInfo>> (*)(const std::string& host, std::uint16_t port,
                                                                 int family, int type, int flags);

// Returns the hook it replaces; nullptr removes it.
GetaddrinfoHook set_getaddrinfo_hook(GetaddrinfoHook hook) noexcept;

}  // namespace aio::detail
