// Where a cancellation slot keeps its handler pointer (socket_read_op.hpp's
// WarmList prefetches it). asio::cancellation_slot holds it in a private
// member, reached with the explicit-instantiation rule ([temp.spec]/6, as
// in epoll_hints.cpp), confined to this file and checked against Asio 1.22.
#include <aio/detail/socket_read_op.hpp>

namespace aio::detail {
namespace {

struct SlotHandler {
  using type = asio::detail::cancellation_handler_base** asio::cancellation_slot::*;
  friend type member_of(SlotHandler);
};

template <class Tag, typename Tag::type Member>
struct Grant {
  friend typename Tag::type member_of(Tag) { return Member; }
};

template struct Grant<SlotHandler, &asio::cancellation_slot::handler_>;

}  // namespace

const void* cancellation_slot_word(const asio::cancellation_slot& slot) noexcept { return slot.*member_of(SlotHandler{}); }

}  // namespace aio::detail
