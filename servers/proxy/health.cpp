// servers/proxy/health.cpp — TCP connect checks.
#include "health.hpp"

#include <string>
#include <system_error>
#include <vector>

#include <aio/compose.hpp>
#include <aio/connection.hpp>
#include <aio/exceptions.hpp>

namespace proxy {

aio::Task<void> check_upstream(UpstreamPtr upstream, HealthOptions options) {
  aio::ConnectOptions connect;
  connect.timeout = options.timeout;
  connect.limit = 1024;
  std::string detail;
  try {
    std::string host = upstream->host();  // g++ 12: no temporaries inside a co_await expression
    auto [reader, writer] = co_await aio::open_connection(std::move(host), upstream->port(), connect);
    writer.close();
    upstream->check_passed(options.rules);
    co_return;
  } catch (const aio::TimeoutError&) {
    detail = "connect timed out";
  } catch (const std::system_error& e) {
    detail = e.code().message();
  } catch (const std::exception& e) {
    detail = e.what();
  }
  upstream->check_failed(options.rules, detail);
}

aio::Task<void> run_health_checks(UpstreamSet& set, HealthOptions options) {
  for (;;) {
    std::vector<aio::Task<void>> checks;
    for (auto& u : set.snapshot()) checks.push_back(check_upstream(u, options));
    co_await aio::gather(std::move(checks));
    co_await aio::sleep(options.interval);
  }
}

}  // namespace proxy
