// aio/detail/epoll_hints.hpp — internal. What aio changes in Asio's epoll registration of a socket.
//
// A read that returns fewer bytes than asked has emptied the socket, so the
// next read could wait for the next epoll edge without trying recv() first
// (saving one EAGAIN recv per message) — unless the peer's FIN arrived with
// the data: its edge was the one already consumed, and no new edge comes.
// Registering EPOLLRDHUP (Asio does not) makes the FIN visible in the event
// mask epoll reports. With both, "short read and no RDHUP/HUP/ERR in the
// last report" proves the socket drained: a FIN or data arriving later is a
// new report. aio's own event delivery (socket_events.hpp) registers it
// and keeps the last mask.
//
// Linux epoll only; elsewhere the function does nothing and reports false.
#pragma once

#include <asio/detail/reactor.hpp>

namespace aio::detail {

// Points the socket's epoll registration at `target` (every event,
// edge-triggered, EPOLLRDHUP included: one epoll_ctl) and marks those
// events as registered in Asio's state, so that Asio never re-registers the
// socket to add one; with target null, points it back at Asio's state.
// False when epoll_ctl failed (other reactor, closed socket).
bool redirect_events(asio::detail::reactor& reactor, asio::detail::reactor::per_descriptor_data state,
                     void* target) noexcept;

}  // namespace aio::detail
