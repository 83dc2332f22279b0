// aio/socket_activation.hpp — public. Listening sockets inherited from systemd (socket activation).
//
//   auto fds = aio::listen_fds();                 // LISTEN_FDS=1 LISTEN_PID=<this pid>
//   if (!fds.empty()) server = co_await aio::start_server(handler, fds.front(), options);
//
// systemd (or systemd-socket-activate, or any launcher that follows
// sd_listen_fds(3)) binds the sockets, passes them as descriptors 3, 4, ...
// and says how many in LISTEN_FDS, for the process named in LISTEN_PID.
// asyncio has no such helper; start_server(fd) is its start_server(sock=).
#pragma once

#include <vector>

namespace aio {

// The descriptors passed to this process, as sd_listen_fds(3): none when
// LISTEN_PID is unset or names another process (a parent's variables
// inherited through a fork), else LISTEN_FDS of them from 3 on, each made
// close-on-exec so that children do not inherit them. With
// `unset_environment` (the default), LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES are removed from the environment on every outcome, so a
// second call, or a child, sees none.
// Concurrency: touches the environment: call it at start-up, before other
// threads run.
// Throws: ValueError when LISTEN_PID or LISTEN_FDS is not a number;
// std::system_error when a descriptor is not open (EBADF).
std::vector<int> listen_fds(bool unset_environment = true);

}  // namespace aio
