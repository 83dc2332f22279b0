// aio/use_task.hpp — public. A completion token for raw Asio operations inside aio tasks.
//
// `co_await timer.async_wait(aio::use_task)` behaves like asio::use_awaitable,
// except for cancellation: a cancellation of the awaiting task, whether it
// arrives during the operation or was already pending when it started, is
// raised as aio::CancelledError, as every aio wait does. Other errors are
// thrown as std::system_error; results come back as with use_awaitable
// (nothing, one value, or a std::tuple of several).
//
// Cancellation: the operation is cancelled through Asio's per-operation
// cancellation; what it loses is what the operation documents.
#pragma once

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include <aio/detail/wait_list.hpp>

namespace aio {

struct use_task_t {
  constexpr use_task_t() = default;
};
inline constexpr use_task_t use_task;

namespace detail {

template <class... Args>
struct op_result {
  using type = std::tuple<std::decay_t<Args>...>;
};
template <>
struct op_result<> {
  using type = void;
};
template <class A>
struct op_result<A> {
  using type = std::decay_t<A>;
};

template <class... Args>
using op_result_t = typename op_result<Args...>::type;

template <class... Args, class Tuple>
op_result_t<Args...> take_rest(Tuple&& t) {
  if constexpr (sizeof...(Args) == 0) {
    return;
  } else if constexpr (sizeof...(Args) == 1) {
    return std::move(std::get<1>(t));
  } else {
    return std::apply([](auto&&, auto&&... rest) { return op_result_t<Args...>(std::move(rest)...); },
                      std::move(t));
  }
}

}  // namespace detail
}  // namespace aio

template <class... Args>
class asio::async_result<aio::use_task_t, void(std::error_code, Args...)> {
 public:
  using return_type = asio::awaitable<aio::detail::op_result_t<Args...>>;

  template <class Initiation, class... InitArgs>
  static return_type initiate(Initiation init, aio::use_task_t, InitArgs... args) {
    co_await aio::detail::check_cancelled();
    auto result = co_await asio::async_initiate<const asio::experimental::as_tuple_t<asio::use_awaitable_t<>>&,
                                                void(std::error_code, Args...)>(
        std::move(init), asio::experimental::as_tuple(asio::use_awaitable), std::move(args)...);
    const std::error_code ec = std::get<0>(result);
    if (ec == asio::error::operation_aborted) {
      if (co_await aio::detail::cancel_pending()) co_await aio::detail::raise_cancelled();
    }
    if (ec) throw std::system_error(ec);
    co_return aio::detail::take_rest<Args...>(std::move(result));
  }
};

template <>
class asio::async_result<aio::use_task_t, void()> {
 public:
  using return_type = asio::awaitable<void>;

  template <class Initiation, class... InitArgs>
  static return_type initiate(Initiation init, aio::use_task_t, InitArgs... args) {
    co_await aio::detail::check_cancelled();
    co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(std::move(init), asio::use_awaitable,
                                                                          std::move(args)...);
    co_await aio::detail::check_cancelled();
  }
};
