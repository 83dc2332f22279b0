// A socket's epoll registration pointed at aio's events
// (detail/epoll_hints.hpp), and where a cancellation slot keeps its handler
// (cancellation_slot_word, detail/socket_read_op.hpp).
//
// Asio keeps what we need in private members (the epoll descriptor, a
// descriptor's registered events and descriptor, a cancellation slot's
// handler pointer), reached as private_access.hpp describes and checked
// against Asio 1.22.
#include <aio/detail/epoll_hints.hpp>
#include <aio/detail/private_access.hpp>
#include <aio/detail/socket_read_op.hpp>

namespace aio::detail {
namespace {

struct SlotHandler {
  using type = asio::detail::cancellation_handler_base** asio::cancellation_slot::*;
  friend type member_of(SlotHandler);
};
template struct Grant<SlotHandler, &asio::cancellation_slot::handler_>;

}  // namespace

const void* cancellation_slot_word(const asio::cancellation_slot& slot) noexcept { return slot.*member_of(SlotHandler{}); }

asio::detail::cancellation_handler_base* cancellation_slot_handler(const asio::cancellation_slot& slot) noexcept {
  auto** where = slot.*member_of(SlotHandler{});
  return where != nullptr ? *where : nullptr;
}

}  // namespace aio::detail

#if defined(ASIO_HAS_EPOLL)

#include <sys/epoll.h>

#include <cstdint>

namespace aio::detail {
namespace {

using Reactor = asio::detail::epoll_reactor;
using DescriptorState = Reactor::descriptor_state;

struct EpollFd {
  using type = int Reactor::*;
  friend type member_of(EpollFd);
};
struct Registered {
  using type = std::uint32_t DescriptorState::*;
  friend type member_of(Registered);
};
struct Descriptor {
  using type = int DescriptorState::*;
  friend type member_of(Descriptor);
};

template struct Grant<EpollFd, &Reactor::epoll_fd_>;
template struct Grant<Registered, &DescriptorState::registered_events_>;
template struct Grant<Descriptor, &DescriptorState::descriptor_>;

}  // namespace

bool redirect_events(asio::detail::reactor& reactor, asio::detail::reactor::per_descriptor_data state,
                     void* target) noexcept {
  if (state == nullptr) return false;
  auto& registered = state->*member_of(Registered{});
  epoll_event ev{};
  // EPOLLOUT from the start, as an epoll server in C registers it: an edge
  // comes only when the kernel frees send space after a write that did not
  // fit, so a ping-pong connection gets no extra events.
  ev.events = registered | EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = target != nullptr ? target : state;
  if (::epoll_ctl(reactor.*member_of(EpollFd{}), EPOLL_CTL_MOD, state->*member_of(Descriptor{}), &ev) != 0)
    return false;
  registered = ev.events;
  return true;
}

}  // namespace aio::detail

#else

namespace aio::detail {

bool redirect_events(asio::detail::reactor&, asio::detail::reactor::per_descriptor_data, void*) noexcept {
  return false;
}

}  // namespace aio::detail

#endif
