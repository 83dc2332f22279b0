// servers/proxy/discovery.cpp — DNS re-resolution of named upstreams.
#include "discovery.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <aio/runners.hpp>

#include "host_port.hpp"

namespace proxy {

std::vector<std::pair<std::string, std::uint16_t>> resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) throw std::runtime_error(::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, &::freeaddrinfo);
  std::vector<std::pair<std::string, std::uint16_t>> out;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    char buf[NI_MAXHOST];
    if (::getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    std::pair<std::string, std::uint16_t> a{buf, port};
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
  }
  return out;
}

aio::Task<void> run_discovery(UpstreamSet& set, std::vector<UpstreamName> names,
                              std::chrono::steady_clock::duration interval, HealthOptions health) {
  for (;;) {
    co_await aio::sleep(interval);
    for (const auto& name : names) {
      std::vector<std::pair<std::string, std::uint16_t>> addresses;
      try {
        auto lookup = [host = name.host, port = name.port] { return resolve(host, port); };
        addresses = co_await aio::to_thread(lookup);
      } catch (const std::runtime_error& e) {
        spdlog::warn("cannot resolve {}: {}; keeping the last answer", name.source, e.what());
        continue;
      }
      for (auto& u : set.update(name.source, addresses, false)) aio::create_task(check_upstream(u, health), "check");
    }
  }
}

}  // namespace proxy
