// servers/proxy/proxy_protocol.cpp — writing PROXY protocol v1 and v2 headers.
#include "proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace proxy {

std::optional<ProxyProtocol> parse_proxy_protocol(std::string_view name) {
  if (name == "v1") return ProxyProtocol::v1;
  if (name == "v2") return ProxyProtocol::v2;
  return std::nullopt;
}

namespace {

constexpr char v2_signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

// An IPv4-mapped IPv6 address as the IPv4 address it carries.
sockaddr_storage unmapped(const sockaddr_storage& a) {
  if (a.ss_family != AF_INET6) return a;
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
  if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return a;
  sockaddr_storage out{};
  auto& in4 = reinterpret_cast<sockaddr_in&>(out);
  in4.sin_family = AF_INET;
  in4.sin_port = in6.sin6_port;
  std::memcpy(&in4.sin_addr, in6.sin6_addr.s6_addr + 12, 4);
  return out;
}

std::string text_address(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
  else
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, buf, sizeof buf);
  return buf;
}

std::uint16_t port_of(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(a).sin_port
                                      : reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
}

void append_raw(std::string& out, const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); }

}  // namespace

std::string proxy_header(ProxyProtocol version, const sockaddr_storage& source_in,
                         const sockaddr_storage& destination_in) {
  const auto source = unmapped(source_in);
  const auto destination = unmapped(destination_in);
  const bool known = source.ss_family == destination.ss_family &&
                     (source.ss_family == AF_INET || source.ss_family == AF_INET6);
  if (version == ProxyProtocol::v1) {
    if (!known) return "PROXY UNKNOWN\r\n";
    return std::string("PROXY ") + (source.ss_family == AF_INET ? "TCP4 " : "TCP6 ") + text_address(source) + " " +
           text_address(destination) + " " + std::to_string(port_of(source)) + " " +
           std::to_string(port_of(destination)) + "\r\n";
  }
  if (version != ProxyProtocol::v2) return {};
  std::string out(v2_signature, sizeof v2_signature);
  if (!known) {
    out.push_back('\x20');  // version 2, LOCAL: the upstream uses the connection's own addresses
    out.push_back('\x00');  // AF_UNSPEC
    out.append("\x00\x00", 2);
    return out;
  }
  out.push_back('\x21');  // version 2, PROXY
  const bool v4 = source.ss_family == AF_INET;
  out.push_back(v4 ? '\x11' : '\x21');  // AF_INET / AF_INET6, over STREAM
  const std::uint16_t length = htons(v4 ? 12 : 36);
  append_raw(out, &length, 2);
  if (v4) {
    append_raw(out, &reinterpret_cast<const sockaddr_in&>(source).sin_addr, 4);
    append_raw(out, &reinterpret_cast<const sockaddr_in&>(destination).sin_addr, 4);
  } else {
    append_raw(out, &reinterpret_cast<const sockaddr_in6&>(source).sin6_addr, 16);
    append_raw(out, &reinterpret_cast<const sockaddr_in6&>(destination).sin6_addr, 16);
  }
  const std::uint16_t sport = htons(port_of(source)), dport = htons(port_of(destination));
  append_raw(out, &sport, 2);
  append_raw(out, &dport, 2);
  return out;
}

std::string proxy_header_for_socket(ProxyProtocol version, int fd) {
  sockaddr_storage peer{}, self{};
  socklen_t len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) peer.ss_family = AF_UNSPEC;
  len = sizeof self;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) != 0) self.ss_family = AF_UNSPEC;
  return proxy_header(version, peer, self);
}

}  // namespace proxy
