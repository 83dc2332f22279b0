// aio/detail/epoll_hints.hpp — internal. What Asio's epoll reactor knows but does not tell: peer shutdown.
//
// A read that returns fewer bytes than asked has emptied the socket, so the
// next read could wait for the next epoll edge without trying recv() first
// (saving one EAGAIN recv per message) — unless the peer's FIN arrived with
// the data: its edge was the one already consumed, and no new edge comes.
// Registering EPOLLRDHUP (Asio does not) makes the FIN visible in the event
// mask epoll reported last, which Asio keeps on the descriptor's state. With
// both, "short read and no RDHUP/HUP/ERR in the last report" proves the
// socket drained: a FIN or data arriving later is a new report.
//
// Linux epoll only; elsewhere the functions do nothing and report "unknown".
#pragma once

#include <asio/detail/reactor.hpp>

namespace aio::detail {

// Adds EPOLLRDHUP to the socket's epoll registration (one epoll_ctl). False
// when it could not (other reactor, closed socket).
bool watch_peer_shutdown(asio::detail::reactor& reactor, asio::detail::reactor::per_descriptor_data state) noexcept;

// True when a short read on this socket proves it drained: EPOLLRDHUP is
// registered and the last reported event mask holds no RDHUP, HUP or ERR.
bool short_read_drains(asio::detail::reactor::per_descriptor_data state) noexcept;

}  // namespace aio::detail
