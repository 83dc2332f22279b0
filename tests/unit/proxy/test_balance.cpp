// tests/unit/proxy/test_balance.cpp — servers/proxy/balance.hpp: the four policies.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "balance.hpp"

using proxy::Balancer;
using proxy::Candidate;
using proxy::Policy;

namespace {
std::vector<Candidate> three(int a = 0, int b = 0, int c = 0) {
  return {{"10.0.0.1:80", a}, {"10.0.0.2:80", b}, {"10.0.0.3:80", c}};
}
}  // namespace

TEST_CASE("policies parse by their HAProxy-like names and nothing else", "[balance]") {
  CHECK(proxy::parse_policy("round-robin") == Policy::round_robin);
  CHECK(proxy::parse_policy("least-conn") == Policy::least_conn);
  CHECK(proxy::parse_policy("random") == Policy::random);
  CHECK(proxy::parse_policy("source-hash") == Policy::source_hash);
  CHECK_FALSE(proxy::parse_policy("roundrobin"));
  CHECK_FALSE(proxy::parse_policy(""));
}

TEST_CASE("round-robin takes each candidate in turn", "[balance]") {
  Balancer b(Policy::round_robin);
  auto c = three();
  std::vector<std::size_t> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(b.choose(c, "client"));
  CHECK(picks == std::vector<std::size_t>{0, 1, 2, 0, 1, 2});
}

TEST_CASE("least-conn takes the least loaded and goes round among ties", "[balance]") {
  Balancer b(Policy::least_conn);
  auto loaded = three(5, 1, 3);
  for (int i = 0; i < 5; ++i) CHECK(b.choose(loaded, "client") == 1);
  auto tied = three(2, 2, 2);
  std::map<std::size_t, int> count;
  for (int i = 0; i < 30; ++i) ++count[b.choose(tied, "client")];
  CHECK(count[0] == 10);
  CHECK(count[1] == 10);
  CHECK(count[2] == 10);
}

TEST_CASE("random picks two and takes the less loaded, so the busiest of three is never chosen", "[balance]") {
  Balancer b(Policy::random, 42);
  auto c = three(0, 0, 9);
  std::map<std::size_t, int> count;
  for (int i = 0; i < 3000; ++i) ++count[b.choose(c, "client")];
  CHECK(count[2] == 0);
  CHECK(count[0] > 1000);
  CHECK(count[1] > 1000);
}

TEST_CASE("source-hash sends one client address to one upstream whatever the load", "[balance]") {
  Balancer b(Policy::source_hash);
  auto idle = three();
  auto busy = three(100, 0, 50);
  for (int i = 0; i < 50; ++i) {
    const std::string client = "192.0.2." + std::to_string(i);
    const auto first = b.choose(idle, client);
    CHECK(b.choose(idle, client) == first);
    CHECK(b.choose(busy, client) == first);
  }
}

TEST_CASE("source-hash moves only the clients of an upstream that leaves, and they come back with it", "[balance]") {
  Balancer b(Policy::source_hash);
  const std::vector<Candidate> all = three();
  const std::vector<Candidate> without_second = {all[0], all[2]};
  std::map<std::size_t, int> share;
  for (int i = 0; i < 3000; ++i) {
    const std::string client = "198.51." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    const auto with = b.choose(all, client);
    ++share[with];
    const auto without = b.choose(without_second, client);
    if (with == 0) CHECK(without == 0);
    if (with == 2) CHECK(without == 1);  // index 1 of without_second is all[2]
    CHECK(b.choose(all, client) == with);
  }
  for (std::size_t i = 0; i < 3; ++i) {  // spread evenly: each near a third
    CHECK(share[i] > 800);
    CHECK(share[i] < 1200);
  }
}

TEST_CASE("a single candidate is always chosen", "[balance]") {
  for (auto p : {Policy::round_robin, Policy::least_conn, Policy::random, Policy::source_hash}) {
    Balancer b(p);
    std::vector<Candidate> one = {{"10.0.0.1:80", 7}};
    CHECK(b.choose(one, "x") == 0);
  }
}
