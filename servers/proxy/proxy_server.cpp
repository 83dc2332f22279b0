// servers/proxy/proxy_server.cpp — choosing, connecting, relaying.
#include "proxy_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>
#include <unordered_set>
#include <utility>

#include <aio/connection.hpp>
#include <aio/exceptions.hpp>
#include <aio/metrics.hpp>

#include "host_port.hpp"
#include "splice.hpp"

namespace proxy {

struct ProxyService::LoopState {
  LoopState(aio::Loop& l, const UpstreamSet& set, Policy policy) : loop(l), picker(set, policy) {}
  aio::Loop& loop;
  Picker picker;
  std::unordered_set<Relay*> relays;  // with --on-down close only
  PipePool pipes;                     // with --splice only
  std::vector<aio::TaskHandle<void>> background;
  std::chrono::steady_clock::time_point last_refusal_log{};
};

namespace {

// "10.0.0.7" of "10.0.0.7:51234", "::1" of "[::1]:51234".
std::string without_port(const std::string& peer) {
  auto colon = peer.rfind(':');
  std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

ProxyService::ProxyService(ProxyOptions options, aio::metrics::Registry& registry)
    : options_(std::move(options)),
      registry_(registry),
      no_upstream_(registry.counter("proxy_no_upstream_total", "Clients closed because no upstream could take them")),
      set_(registry) {
  for (const auto& name : options_.upstreams) {
    std::vector<std::pair<std::string, std::uint16_t>> addresses;
    if (aio::program::is_address_literal(name.host)) {
      addresses.emplace_back(name.host, name.port);
    } else {
      try {
        addresses = resolve(name.host, name.port);
      } catch (const std::exception& e) {
        spdlog::warn("cannot resolve {}: {}; trying again every {} s", name.source, e.what(),
                     std::chrono::duration<double>(options_.resolve_interval).count());
      }
    }
    set_.update(name.source, addresses, true);
  }
  if (options_.on_down == OnDown::close) set_.on_down([this](Upstream& u) { upstream_down(u); });
}

ProxyService::~ProxyService() = default;

aio::ClientConnected ProxyService::start_loop(std::size_t index) {
  auto st = std::make_shared<LoopState>(aio::get_running_loop(), set_, options_.policy);
  {
    std::lock_guard lock(loops_m_);
    if (loops_.size() <= index) loops_.resize(index + 1);
    loops_[index] = st;
  }
  if (index == 0) {
    st->background.push_back(aio::create_task(run_health_checks(set_, options_.health), "health-checks"));
    std::vector<UpstreamName> names;
    for (const auto& n : options_.upstreams)
      if (!aio::program::is_address_literal(n.host)) names.push_back(n);
    if (!names.empty())
      st->background.push_back(
          aio::create_task(run_discovery(set_, std::move(names), options_.resolve_interval, options_.health),
                           "discovery"));
  }
  return [this, st](aio::StreamReader reader, aio::StreamWriter writer) {
    return serve(*st, std::move(reader), std::move(writer));
  };
}

void ProxyService::stop_loop(std::size_t index) {
  std::shared_ptr<LoopState> st;
  {
    std::lock_guard lock(loops_m_);
    if (index < loops_.size()) st = std::exchange(loops_[index], nullptr);
  }
  if (!st) return;
  for (auto& t : st->background) t.cancel();
}

void ProxyService::upstream_down(Upstream& upstream) {
  // Any loop's thread: each loop closes its own relays to the upstream.
  std::lock_guard lock(loops_m_);
  for (const auto& st : loops_) {
    if (!st) continue;
    Upstream* up = &upstream;  // upstreams live as long as the set
    st->loop.call_soon_threadsafe([st, up] {
      std::vector<Relay*> doomed;
      for (Relay* r : st->relays)
        if (&r->upstream() == up) doomed.push_back(r);
      if (!doomed.empty()) spdlog::info("closing {} relays to {} (--on-down close)", doomed.size(), up->label());
      for (Relay* r : doomed) r->abort();
    });
  }
}

struct ProxyService::Connected {
  UpstreamPtr upstream;
  aio::StreamReader reader;
  aio::StreamWriter writer;
};

aio::Task<std::optional<ProxyService::Connected>> ProxyService::connect_upstream(LoopState& loop, std::string client) {
  aio::ConnectOptions connect;
  connect.timeout = options_.connect_timeout;
  connect.limit = options_.buffer_size;
  connect.ssl = options_.upstream_tls;
  std::vector<const Upstream*> tried;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    UpstreamPtr up = loop.picker.pick(client, tried);
    if (!up) break;
    tried.push_back(up.get());
    if (connect.ssl) {
      connect.server_hostname = options_.upstream_server_name;
      if (connect.server_hostname.empty()) {
        auto hp = aio::program::parse_host_port(up->source());
        connect.server_hostname = hp ? hp->host : up->host();
      }
    }
    const auto started = std::chrono::steady_clock::now();
    Failure why = Failure::error;
    std::string detail;
    try {
      std::string host = up->host();  // g++ 12: no temporaries inside a co_await expression
      auto [reader, writer] = co_await aio::open_connection(std::move(host), up->port(), connect);
      up->connected(std::chrono::steady_clock::now() - started);
      co_return Connected{std::move(up), std::move(reader), std::move(writer)};
    } catch (const aio::TimeoutError&) {
      why = Failure::timeout;
      detail = "connect timed out";
    } catch (const std::system_error& e) {
      why = e.code().value() == ECONNREFUSED ? Failure::refused : Failure::error;
      detail = e.code().message();
    }
    up->connect_failed(why, detail);
  }
  no_upstream_.inc();
  // One line a second at most: a dead backend tier must not flood the log.
  const auto now = std::chrono::steady_clock::now();
  if (now - loop.last_refusal_log >= std::chrono::seconds(1)) {
    loop.last_refusal_log = now;
    spdlog::warn("no upstream for {}: {}", client,
                 tried.empty() ? "none is healthy" : std::to_string(tried.size()) + " connects failed");
  }
  co_return std::nullopt;
}

aio::Task<void> ProxyService::serve(LoopState& loop, aio::StreamReader reader, aio::StreamWriter writer) {
  std::string client = without_port(writer.peername());  // g++ 12: no temporaries inside a co_await expression
  auto connected = co_await connect_upstream(loop, std::move(client));
  if (!connected) {
    writer.close();
    co_return;
  }
  Upstream& up = *connected->upstream;
  connected->writer.set_write_buffer_limits(options_.buffer_size);
  writer.set_write_buffer_limits(options_.buffer_size);
  if (options_.send_proxy != ProxyProtocol::none)
    connected->writer.write(proxy_header_for_socket(options_.send_proxy, writer.native_handle()));

  up.relay_started();
  Relay relay(std::move(reader), std::move(writer), std::move(connected->reader), std::move(connected->writer), up,
              options_.relay, &loop.pipes);
  const bool tracked = options_.on_down == OnDown::close;
  if (tracked) loop.relays.insert(&relay);
  struct Ended {  // runs on every way out, cancellation included
    LoopState& loop;
    Relay& relay;
    Upstream& upstream;
    bool tracked;
    ~Ended() {
      if (tracked) loop.relays.erase(&relay);
      upstream.relay_ended();
    }
  } ended{loop, relay, up, tracked};
  co_await relay.run();
}

}  // namespace proxy
