// aio/detail/private_access.hpp — internal. Reaching a private member of Asio's by a pointer to it.
//
// aio uses a few of Asio 1.22's private members (epoll_hints.cpp,
// socket_events.cpp). Access is not checked for the names in an explicit
// instantiation ([temp.spec]/6), so instantiating Grant with the member's
// address defines member_of(Tag) to return that member pointer:
//
//   namespace aio::detail { namespace {
//   struct EpollFd {
//     using type = int asio::detail::epoll_reactor::*;
//     friend type member_of(EpollFd);
//   };
//   template struct Grant<EpollFd, &asio::detail::epoll_reactor::epoll_fd_>;
//   } }
//   ... reactor.*member_of(EpollFd{}) ...
//
// Grant lives in an anonymous namespace, so that each .cpp file declares
// its tags and instantiates Grant in its own (an explicit instantiation
// belongs to the template's namespace); check each tag against the Asio
// version it was written for. Include from .cpp files only.
#pragma once

namespace aio::detail {
namespace {

template <class Tag, typename Tag::type Member>
struct Grant {
  friend typename Tag::type member_of(Tag) { return Member; }
};

}  // namespace
}  // namespace aio::detail
