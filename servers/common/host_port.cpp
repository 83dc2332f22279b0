// servers/common/host_port.cpp — parsing "HOST:PORT".
#include "host_port.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace aio::program {

std::optional<HostPort> parse_host_port(std::string_view text, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<HostPort> {
    if (why) *why = std::string(reason) + ": '" + std::string(text) + "'";
    return std::nullopt;
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in HOST:PORT");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("expected ':PORT' after ']'");
    port = text.substr(close + 2);
    if (host.empty()) return fail("empty address in []");
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail("an IPv6 address needs brackets, as [::1]:PORT");
  }
  for (char c : host)
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '@') return fail("bad character in host");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    return fail("port must be a number from 0 to 65535");
  HostPort out;
  out.host = host.empty() ? "0.0.0.0" : std::string(host);
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

std::string check_host_port(const std::string& text) {
  std::string why;
  return parse_host_port(text, &why) ? std::string{} : why;
}

std::string format_host_port(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool is_address_literal(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace aio::program
