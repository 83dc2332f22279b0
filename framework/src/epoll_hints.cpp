// EPOLLRDHUP registration and the last reported event mask
// (detail/epoll_hints.hpp), and where a cancellation slot keeps its handler
// (cancellation_slot_word, detail/socket_read_op.hpp).
//
// Asio keeps what we need in private members (the epoll descriptor, a
// descriptor's registered events, the last event mask in the descriptor's
// scheduler_operation base, a cancellation slot's handler pointer). They
// are reached with the explicit-instantiation rule ([temp.spec]/6: access
// is not checked for the names in an explicit instantiation), confined to
// this file and checked against Asio 1.22.
#include <aio/detail/epoll_hints.hpp>
#include <aio/detail/socket_read_op.hpp>

namespace aio::detail {
namespace {

template <class Tag, typename Tag::type Member>
struct Grant {
  friend typename Tag::type member_of(Tag) { return Member; }
};

struct SlotHandler {
  using type = asio::detail::cancellation_handler_base** asio::cancellation_slot::*;
  friend type member_of(SlotHandler);
};
template struct Grant<SlotHandler, &asio::cancellation_slot::handler_>;

}  // namespace

const void* cancellation_slot_word(const asio::cancellation_slot& slot) noexcept { return slot.*member_of(SlotHandler{}); }

}  // namespace aio::detail

#if defined(ASIO_HAS_EPOLL)

#include <sys/epoll.h>

#include <cstdint>

namespace aio::detail {
namespace {

using Reactor = asio::detail::epoll_reactor;
using DescriptorState = Reactor::descriptor_state;
using Operation = asio::detail::scheduler_operation;

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
struct LastEvents {
  using type = unsigned int Operation::*;
  friend type member_of(LastEvents);
};

template struct Grant<EpollFd, &Reactor::epoll_fd_>;
template struct Grant<Registered, &DescriptorState::registered_events_>;
template struct Grant<Descriptor, &DescriptorState::descriptor_>;
template struct Grant<LastEvents, &Operation::task_result_>;

// descriptor_state derives privately from scheduler_operation; a C-style
// cast is the one conversion that may name an inaccessible base.
Operation* as_operation(DescriptorState* d) noexcept { return (Operation*)d; }  // NOLINT

}  // namespace

bool watch_peer_shutdown(asio::detail::reactor& reactor, asio::detail::reactor::per_descriptor_data state) noexcept {
  if (state == nullptr) return false;
  auto& registered = state->*member_of(Registered{});
  if (registered & EPOLLRDHUP) return true;
  epoll_event ev{};
  ev.events = registered | EPOLLRDHUP;
  ev.data.ptr = state;
  if (::epoll_ctl(reactor.*member_of(EpollFd{}), EPOLL_CTL_MOD, state->*member_of(Descriptor{}), &ev) != 0)
    return false;
  registered |= EPOLLRDHUP;
  return true;
}

bool short_read_drains(asio::detail::reactor::per_descriptor_data state) noexcept {
  if (state == nullptr || (state->*member_of(Registered{}) & EPOLLRDHUP) == 0) return false;
  const unsigned int last = as_operation(state)->*member_of(LastEvents{});
  return (last & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0;
}

}  // namespace aio::detail

#else

namespace aio::detail {

bool watch_peer_shutdown(asio::detail::reactor&, asio::detail::reactor::per_descriptor_data) noexcept { return false; }
bool short_read_drains(asio::detail::reactor::per_descriptor_data) noexcept { return false; }

}  // namespace aio::detail

#endif
