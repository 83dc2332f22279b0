// tests/unit/proxy/test_proxy_protocol.cpp — servers/proxy/proxy_protocol.hpp: v1 and v2 headers byte for byte.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "proxy_protocol.hpp"

using proxy::ProxyProtocol;

namespace {
sockaddr_storage v4(const char* ip, std::uint16_t port) {
  sockaddr_storage s{};
  auto& a = reinterpret_cast<sockaddr_in&>(s);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return s;
}
sockaddr_storage v6(const char* ip, std::uint16_t port) {
  sockaddr_storage s{};
  auto& a = reinterpret_cast<sockaddr_in6&>(s);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  ::inet_pton(AF_INET6, ip, &a.sin6_addr);
  return s;
}
const std::string signature("\r\n\r\n\0\r\nQUIT\n", 12);
}  // namespace

TEST_CASE("v1 names both TCP4 addresses and ports in text", "[proxy_protocol]") {
  CHECK(proxy::proxy_header(ProxyProtocol::v1, v4("192.0.2.1", 51234), v4("198.51.100.7", 7002)) ==
        "PROXY TCP4 192.0.2.1 198.51.100.7 51234 7002\r\n");
}

TEST_CASE("v1 names TCP6 addresses in their short form", "[proxy_protocol]") {
  CHECK(proxy::proxy_header(ProxyProtocol::v1, v6("2001:db8::1", 1), v6("::1", 65535)) ==
        "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
}

TEST_CASE("an IPv4 client seen through an IPv6 listener is sent as TCP4", "[proxy_protocol]") {
  CHECK(proxy::proxy_header(ProxyProtocol::v1, v6("::ffff:192.0.2.9", 4000), v6("::ffff:10.1.2.3", 7002)) ==
        "PROXY TCP4 192.0.2.9 10.1.2.3 4000 7002\r\n");
}

TEST_CASE("an unknown family is PROXY UNKNOWN in v1 and the LOCAL command in v2", "[proxy_protocol]") {
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  CHECK(proxy::proxy_header(ProxyProtocol::v1, unix_peer, unix_peer) == "PROXY UNKNOWN\r\n");
  CHECK(proxy::proxy_header(ProxyProtocol::v2, unix_peer, unix_peer) == signature + std::string("\x20\x00\x00\x00", 4));
}

TEST_CASE("v2 for IPv4 is the signature, PROXY over TCP4, 12 bytes of addresses and ports", "[proxy_protocol]") {
  const auto h = proxy::proxy_header(ProxyProtocol::v2, v4("192.0.2.1", 0x1234), v4("198.51.100.7", 0x1b5a));
  const std::string expected = signature + std::string("\x21\x11\x00\x0c", 4) + std::string("\xc0\x00\x02\x01", 4) +
                               std::string("\xc6\x33\x64\x07", 4) + std::string("\x12\x34\x1b\x5a", 4);
  CHECK(h == expected);
}

TEST_CASE("v2 for IPv6 carries 36 bytes of addresses and ports", "[proxy_protocol]") {
  const auto h = proxy::proxy_header(ProxyProtocol::v2, v6("2001:db8::1", 80), v6("::1", 443));
  REQUIRE(h.size() == 16 + 36);
  CHECK(h.substr(0, 12) == signature);
  CHECK(h.substr(12, 4) == std::string("\x21\x21\x00\x24", 4));
  in6_addr a{};
  ::inet_pton(AF_INET6, "2001:db8::1", &a);
  CHECK(std::memcmp(h.data() + 16, &a, 16) == 0);
  CHECK(h.substr(48, 4) == std::string("\x00\x50\x01\xbb", 4));
}

TEST_CASE("versions parse as v1 and v2 only", "[proxy_protocol]") {
  CHECK(proxy::parse_proxy_protocol("v1") == ProxyProtocol::v1);
  CHECK(proxy::parse_proxy_protocol("v2") == ProxyProtocol::v2);
  CHECK_FALSE(proxy::parse_proxy_protocol("v3"));
}
