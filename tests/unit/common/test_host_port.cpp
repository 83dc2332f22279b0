// tests/unit/common/test_host_port.cpp — servers/common/host_port.hpp: HOST:PORT on the command line.
#include <catch2/catch.hpp>

#include <string>

#include "host_port.hpp"

using aio::program::parse_host_port;

TEST_CASE("HOST:PORT splits at the last colon; [v6]:PORT keeps the address inside the brackets", "[host_port]") {
  auto a = parse_host_port("127.0.0.1:7000");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 7000);
  auto b = parse_host_port("echo.default.svc.cluster.local:7000");
  REQUIRE(b);
  CHECK(b->host == "echo.default.svc.cluster.local");
  auto c = parse_host_port("[::1]:0");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->port == 0);
  auto d = parse_host_port(":7002");
  REQUIRE(d);
  CHECK(d->host == "0.0.0.0");
}

TEST_CASE("malformed HOST:PORT is refused with the reason and the text", "[host_port]") {
  for (const char* bad : {"localhost", "host:", "host:70000", "host:7x", "::1:80", "[::1]80", "[::1", "[]:80",
                          "a b:80", "host:-1"}) {
    std::string why;
    CHECK_FALSE(parse_host_port(bad, &why));
    CHECK(why.find(bad) != std::string::npos);
  }
}

TEST_CASE("IPv6 addresses are written back with brackets", "[host_port]") {
  CHECK(aio::program::format_host_port("::1", 80) == "[::1]:80");
  CHECK(aio::program::format_host_port("10.0.0.1", 80) == "10.0.0.1:80");
}

TEST_CASE("address literals are told from names", "[host_port]") {
  CHECK(aio::program::is_address_literal("10.1.2.3"));
  CHECK(aio::program::is_address_literal("fe80::1"));
  CHECK_FALSE(aio::program::is_address_literal("localhost"));
  CHECK_FALSE(aio::program::is_address_literal("10.1.2"));
}
