// servers/common/host_port.hpp — internal to the sample programs. "HOST:PORT" on the command line.
//
// "127.0.0.1:7000", "echo.default.svc:7000", "[::1]:7000", ":7000" (every
// interface). The host is kept as written (brackets dropped); whether it is
// an address or a name to resolve is the caller's business.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aio::program {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// `text` as HOST:PORT; nullopt, with the reason in *why, when it is not one.
std::optional<HostPort> parse_host_port(std::string_view text, std::string* why = nullptr);

// A CLI11 check message: "" when `text` is HOST:PORT, else why not.
std::string check_host_port(const std::string& text);

// "HOST:PORT", with brackets around an IPv6 address.
std::string format_host_port(const std::string& host, std::uint16_t port);

// True when `host` is an IPv4 or IPv6 address literal (no lookup needed).
bool is_address_literal(const std::string& host);

}  // namespace aio::program
