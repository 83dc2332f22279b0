// servers/proxy/proxy_protocol.hpp — the PROXY protocol header (HAProxy's, v1 and v2).
//
// With `--send-proxy v1|v2` the proxy writes this header to the upstream
// before any client byte, so the upstream learns the client's address:
//   v1: "PROXY TCP4 192.0.2.1 198.51.100.7 51234 7002\r\n" (text)
//   v2: a 12-byte signature, version/command, family, length, addresses (binary)
// An IPv4 client seen through an IPv6 listener (::ffff:a.b.c.d) is sent as
// TCP4, as HAProxy does. Spec: haproxy.org/download/2.6/doc/proxy-protocol.txt
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace proxy {

enum class ProxyProtocol { none, v1, v2 };

std::optional<ProxyProtocol> parse_proxy_protocol(std::string_view name);  // "v1", "v2"

// The header for a connection from `source` to `destination` (the client's
// address and the proxy's own on that connection). A family other than
// AF_INET/AF_INET6 gives v1's "PROXY UNKNOWN\r\n" or v2's LOCAL command.
std::string proxy_header(ProxyProtocol version, const sockaddr_storage& source, const sockaddr_storage& destination);

// The header for the client connected on socket `fd` (getpeername, getsockname).
std::string proxy_header_for_socket(ProxyProtocol version, int fd);

}  // namespace proxy
