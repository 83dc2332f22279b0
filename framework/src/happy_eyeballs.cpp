// Connecting to the first of several addresses: asyncio's staggered_race over connects.
#include "happy_eyeballs.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include <aio/detail/transport.hpp>
#include <aio/detail/wait_list.hpp>

namespace aio::detail {

std::vector<asio::ip::tcp::endpoint> interleave_families(
    const std::vector<asio::ip::tcp::endpoint>& endpoints, std::size_t first_family_count) {
  if (first_family_count == 0) return endpoints;
  std::vector<std::vector<asio::ip::tcp::endpoint>> families;
  for (const auto& ep : endpoints) {
    auto same = [&ep](const std::vector<asio::ip::tcp::endpoint>& f) {
      return f.front().protocol() == ep.protocol();
    };
    auto it = std::find_if(families.begin(), families.end(), same);
    if (it == families.end()) {
      families.emplace_back(1, ep);
    } else {
      it->push_back(ep);
    }
  }
  std::vector<asio::ip::tcp::endpoint> out;
  out.reserve(endpoints.size());
  std::vector<std::size_t> taken(families.size(), 0);
  if (!families.empty()) {
    taken[0] = std::min(first_family_count - 1, families[0].size());
    out.insert(out.end(), families[0].begin(), families[0].begin() + static_cast<std::ptrdiff_t>(taken[0]));
  }
  while (out.size() < endpoints.size()) {
    for (std::size_t f = 0; f < families.size(); ++f)
      if (taken[f] < families[f].size()) out.push_back(families[f][taken[f]++]);
  }
  return out;
}

bool open_and_bind(asio::ip::tcp::socket& sock, const asio::ip::tcp::endpoint& remote,
                   const std::vector<asio::ip::tcp::endpoint>& local,
                   std::vector<std::system_error>& errors) {
  std::error_code ec;
  sock.open(remote.protocol(), ec);
  if (ec) {
    errors.emplace_back(ec, "socket for " + format_endpoint(remote));
    return false;
  }
  if (local.empty()) return true;
  bool matched = false;
  for (const auto& addr : local) {
    if (addr.protocol() != remote.protocol()) continue;
    matched = true;
    sock.bind(addr, ec);
    if (!ec) return true;
    errors.emplace_back(ec, "error while attempting to bind on address " + format_endpoint(addr));
  }
  if (!matched) {
    const char* family = remote.address().is_v6() ? "AF_INET6" : "AF_INET";
    errors.emplace_back(std::make_error_code(std::errc::address_family_not_supported),
                        std::string("no matching local address with family=") + family + " found");
  }
  sock.close(ec);
  return false;
}

namespace {

// The attempts of one race. Shared with their connect handlers, which may
// run after the race has returned (a closed socket's connect completes
// later, with operation_aborted).
class Race final : public PendingConnect, public std::enable_shared_from_this<Race> {
 public:
  struct Attempt {
    explicit Attempt(const asio::any_io_executor& ex) : socket(ex) {}
    asio::ip::tcp::socket socket;
    std::vector<std::system_error> errors;
    bool ended = false;
  };

  explicit Race(const asio::any_io_executor& ex) : wake(ex) {}

  // Starts the next attempt; it may fail at once (socket, bind).
  void launch(const asio::ip::tcp::endpoint& ep, const std::vector<asio::ip::tcp::endpoint>& local) {
    attempts.push_back(std::make_unique<Attempt>(wake.get_executor()));
    auto& a = *attempts.back();
    if (!open_and_bind(a.socket, ep, local, a.errors)) {
      a.ended = true;
      return;
    }
    auto on_connect = [self = shared_from_this(), i = attempts.size() - 1, ep](const std::error_code& ec) {
      self->connected(i, ep, ec);
    };
    a.socket.async_connect(ep, std::move(on_connect));
  }

  bool last_failed() const {
    return !attempts.empty() && attempts.back()->ended && winner != attempts.size() - 1;
  }

  bool all_ended() const {
    for (const auto& a : attempts)
      if (!a->ended) return false;
    return true;
  }

  void abort() noexcept override {
    aborted = true;
    close_losers();
    wake.cancel();
  }

  // On every way out of the race: nothing but the winner stays open.
  void finish() noexcept {
    finished = true;
    close_losers();
  }

  void take_errors(std::vector<std::system_error>& out) {
    for (auto& a : attempts)
      for (auto& e : a->errors) out.push_back(std::move(e));
  }

  std::vector<std::unique_ptr<Attempt>> attempts;
  asio::steady_timer wake;  // the race's sleep: until the next start is due, or an attempt ends
  std::optional<std::size_t> winner;
  bool aborted = false;

 private:
  void connected(std::size_t i, const asio::ip::tcp::endpoint& ep, const std::error_code& ec) {
    auto& a = *attempts[i];
    a.ended = true;
    if (!ec && !winner && !finished && !aborted) {
      winner = i;
    } else if (!ec) {
      std::error_code ignored;  // a second success: the race is decided already
      a.socket.close(ignored);
    } else if (!finished) {
      a.errors.emplace_back(ec, "connect to " + format_endpoint(ep));
    }
    wake.cancel();
  }

  void close_losers() noexcept {
    std::error_code ignored;
    for (std::size_t i = 0; i < attempts.size(); ++i)
      if (winner != i) attempts[i]->socket.close(ignored);
  }

  bool finished = false;
};

}  // namespace

asio::awaitable<std::optional<asio::ip::tcp::socket>> staggered_connect(
    std::vector<asio::ip::tcp::endpoint> endpoints, std::vector<asio::ip::tcp::endpoint> local,
    std::chrono::steady_clock::duration delay, std::vector<std::system_error>& errors,
    PendingConnect** pending) {
  auto ex = co_await asio::this_coro::executor;
  auto race = std::make_shared<Race>(ex);
  struct Finish {  // on every way out, cancellation included
    Race& race;
    PendingConnect** pending;
    ~Finish() {
      race.finish();
      if (pending) *pending = nullptr;
    }
  } finish{*race, pending};
  if (pending) *pending = race.get();

  std::size_t next = 0;
  auto next_start = std::chrono::steady_clock::now();
  bool due = true;
  for (;;) {
    if (race->winner || race->aborted) break;
    if (due && next < endpoints.size()) {
      race->launch(endpoints[next++], local);
      next_start = std::chrono::steady_clock::now() + delay;
      due = race->last_failed();  // failed at once: the next one starts now
      continue;
    }
    if (next == endpoints.size() && race->all_ended()) break;
    if (next < endpoints.size()) {
      race->wake.expires_at(next_start);
    } else {
      race->wake.expires_at(asio::steady_timer::time_point::max());
    }
    auto [ec] = co_await race->wake.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (cancel_requested(co_await asio::this_coro::cancellation_state)) co_await raise_cancelled();
    due = !ec || race->last_failed();
  }
  std::optional<asio::ip::tcp::socket> won;
  if (race->winner && !race->aborted) {
    won.emplace(std::move(race->attempts[*race->winner]->socket));
  } else {
    race->take_errors(errors);
  }
  co_return won;
}

}  // namespace aio::detail
