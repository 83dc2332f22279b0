// getaddrinfo as a coroutine, and the lookups of open_connection and start_server.
#include <aio/getaddrinfo.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <aio/detail/getaddrinfo_hook.hpp>
#include <aio/detail/wait_list.hpp>
#include <aio/exceptions.hpp>

#include "resolve.hpp"

namespace aio::detail {
namespace {

std::atomic<GetaddrinfoHook> hook{nullptr};

// One lookup on a resolver of its own. Held by the resolver's completion
// (the only strong reference: the cancellation slot holds a weak one, else
// the slot, which lives in the waiting coroutine's frames, and the handler,
// which owns those frames, would keep each other alive when a loop is
// destroyed with the lookup pending).
template <class Protocol, class Handler>
class Lookup final : public PendingLookup, public std::enable_shared_from_this<Lookup<Protocol, Handler>> {
 public:
  using Results = typename asio::ip::basic_resolver<Protocol>::results_type;

  Lookup(const asio::any_io_executor& ex, Handler h) : resolver_(ex), handler_(std::move(h)) {}

  void start(const std::string& host, const std::string& service, int family, int flags) {
    slot_ = asio::get_associated_cancellation_slot(*handler_);
    if (slot_.is_connected()) {
      auto on_cancel = [weak = this->weak_from_this()](asio::cancellation_type) {
        if (auto self = weak.lock()) self->abort();
      };
      slot_.assign(std::move(on_cancel));
    }
    auto ex = asio::get_associated_executor(*handler_, resolver_.get_executor());
    auto done = [self = this->shared_from_this()](const std::error_code& ec, Results results) {
      self->complete(ec, std::move(results));
    };
    const auto f = static_cast<asio::ip::resolver_base::flags>(flags);
    if (family == AF_UNSPEC) {
      resolver_.async_resolve(host, service, f, asio::bind_executor(ex, std::move(done)));
    } else {
      const auto protocol = family == AF_INET ? Protocol::v4() : Protocol::v6();
      resolver_.async_resolve(protocol, host, service, f, asio::bind_executor(ex, std::move(done)));
    }
  }

  // From the cancellation slot (so the slot is left alone: clearing it
  // would destroy the handler that is running) or from a deadline. The
  // waiter resumes on a later turn, as every aio wake-up.
  void abort() noexcept override {
    if (!handler_) return;
    resolver_.cancel();
    auto h = std::move(*handler_);
    handler_.reset();
    auto ex = asio::get_associated_executor(h, resolver_.get_executor());
    auto resume = [h = std::move(h)]() mutable { std::move(h)(asio::error::operation_aborted, Results()); };
    asio::post(ex, std::move(resume));
  }

 private:
  void complete(const std::error_code& ec, Results results) {
    if (!handler_) return;  // aborted: the waiter has gone
    if (slot_.is_connected()) slot_.clear();
    auto h = std::move(*handler_);
    handler_.reset();
    std::move(h)(ec, std::move(results));
  }

  asio::ip::basic_resolver<Protocol> resolver_;
  std::optional<Handler> handler_;
  asio::cancellation_slot slot_;
};

template <class Protocol>
struct InitiateLookup {
  asio::any_io_executor ex;
  PendingLookup** pending;

  template <class Handler>
  void operator()(Handler&& handler, const std::string& host, const std::string& service, int family,
                  int flags) const {
    auto lookup =
        std::make_shared<Lookup<Protocol, std::decay_t<Handler>>>(ex, std::forward<Handler>(handler));
    lookup->start(host, service, family, flags);
    if (pending) *pending = lookup.get();
  }
};

// The resolver's answer; CancelledError when the waiter was cancelled.
template <class Protocol>
asio::awaitable<typename asio::ip::basic_resolver<Protocol>::results_type> lookup(std::string host,
                                                                                  std::uint16_t port,
                                                                                  int family, int flags,
                                                                                  PendingLookup** pending) {
  using Results = typename asio::ip::basic_resolver<Protocol>::results_type;
  if (cancel_requested(co_await asio::this_coro::cancellation_state)) co_await raise_cancelled();
  auto ex = co_await asio::this_coro::executor;
  const std::string service = std::to_string(port);
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  // g++ 12: no temporaries inside the co_await expression; name them.
  const InitiateLookup<Protocol> initiate{ex, pending};
  auto [ec, results] = co_await asio::async_initiate<decltype(token), void(std::error_code, Results)>(
      initiate, token, host, service, family, flags);
  if (pending) *pending = nullptr;
  if (ec == asio::error::operation_aborted) {
    if (cancel_requested(co_await asio::this_coro::cancellation_state)) co_await raise_cancelled();
  }
  if (ec) throw std::system_error(ec, "getaddrinfo(" + host + ")");
  if (results.empty()) throw std::system_error(asio::error::host_not_found, "getaddrinfo(" + host + ")");
  co_return results;
}

std::optional<std::vector<AddrInfo>> ask_hook(const std::string& host, std::uint16_t port, int family,
                                              int type, int flags) {
  const GetaddrinfoHook h = hook.load(std::memory_order_acquire);
  if (h == nullptr) return std::nullopt;
  auto answer = h(host, port, family, type, flags);
  if (answer && answer->empty())
    throw std::system_error(asio::error::host_not_found, "getaddrinfo(" + host + ")");
  return answer;
}

void check_family(int family) {
  if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
    throw ValueError("getaddrinfo: family must be AF_UNSPEC, AF_INET or AF_INET6, got " +
                     std::to_string(family));
}

template <class Protocol>
asio::awaitable<std::vector<AddrInfo>> records(std::string host, std::uint16_t port, int family, int flags) {
  const int type = std::is_same_v<Protocol, asio::ip::tcp> ? SOCK_STREAM : SOCK_DGRAM;
  const int protocol = std::is_same_v<Protocol, asio::ip::tcp> ? IPPROTO_TCP : IPPROTO_UDP;
  if (auto answer = ask_hook(host, port, family, type, flags)) co_return std::move(*answer);
  auto results = co_await lookup<Protocol>(host, port, family, flags, nullptr);
  std::vector<AddrInfo> out;
  out.reserve(results.size());
  for (const auto& entry : results) {
    const auto ep = entry.endpoint();
    AddrInfo ai;
    ai.family = ep.address().is_v6() ? AF_INET6 : AF_INET;
    ai.type = type;
    ai.protocol = protocol;
    // Asio copies the canonical name onto every entry; getaddrinfo gives it
    // to the first only.
    if ((flags & AI_CANONNAME) != 0 && out.empty()) ai.canonname = entry.host_name();
    ai.address = ep.address().to_string();
    ai.port = ep.port();
    out.push_back(std::move(ai));
  }
  co_return out;
}

}  // namespace

GetaddrinfoHook set_getaddrinfo_hook(GetaddrinfoHook h) noexcept {
  return hook.exchange(h, std::memory_order_acq_rel);
}

bool literal_endpoint(const std::string& host, std::uint16_t port, int family, asio::ip::tcp::endpoint& out) {
  std::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return false;
  if (family == AF_INET && !address.is_v4()) return false;
  if (family == AF_INET6 && !address.is_v6()) return false;
  out = asio::ip::tcp::endpoint(address, port);
  return true;
}

asio::awaitable<std::vector<asio::ip::tcp::endpoint>> resolve_tcp(std::string host, std::uint16_t port,
                                                                  int family, int flags,
                                                                  PendingLookup** pending) {
  check_family(family);
  std::vector<asio::ip::tcp::endpoint> out;
  asio::ip::tcp::endpoint literal;
  if (literal_endpoint(host, port, family, literal)) {
    out.push_back(literal);
    co_return out;
  }
  if (auto answer = ask_hook(host, port, family, SOCK_STREAM, flags)) {
    for (const auto& ai : *answer) out.emplace_back(asio::ip::make_address(ai.address), ai.port);
    co_return out;
  }
  auto results = co_await lookup<asio::ip::tcp>(host, port, family, flags, pending);
  out.reserve(results.size());
  for (const auto& entry : results) out.push_back(entry.endpoint());
  co_return out;
}

}  // namespace aio::detail

namespace aio {

Task<std::vector<AddrInfo>> getaddrinfo(std::string host, std::uint16_t port, int family, int type,
                                        int flags) {
  detail::check_family(family);
  if (type != SOCK_STREAM && type != SOCK_DGRAM)
    throw ValueError("getaddrinfo: type must be SOCK_STREAM or SOCK_DGRAM, got " + std::to_string(type));
  std::vector<AddrInfo> out;
  if (type == SOCK_STREAM) {
    auto found = co_await detail::records<asio::ip::tcp>(std::move(host), port, family, flags);
    out = std::move(found);
  } else {
    auto found = co_await detail::records<asio::ip::udp>(std::move(host), port, family, flags);
    out = std::move(found);
  }
  co_return out;
}

Task<std::vector<AddrInfo>> getaddrinfo(std::string host, std::uint16_t port) {
  return getaddrinfo(std::move(host), port, AF_UNSPEC, SOCK_STREAM, 0);
}

}  // namespace aio
