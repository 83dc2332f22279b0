// servers/echo/echo_server.hpp — the echo protocol of aio-echo.
//
//   aio-echo --port 7000          then:  nc -N 127.0.0.1 7000   (or aio-echo-client)
//
// Every byte goes back as it arrives (no line buffering), so nc, bulk
// transfers and TLS clients all work. Half-close: after the client's EOF the
// bytes still pending are sent, then the connection is closed. This is
// asyncio's echo, in aio: read_some() hands out what is buffered without a
// copy, write() sends at once when the socket can take it, drain() is the
// backpressure point. The speed comes from the framework, not from this
// handler.
#pragma once

#include <string_view>

#include <aio/streams.hpp>

namespace aio_echo {

// The connection handler.
//
// Cancellation: the connection is closed (the server aborts its clients
// after the shutdown timeout); what was not echoed yet is lost.
// Throws: ConnectionResetError when the client vanishes (the server counts it).
inline aio::Task<void> echo(aio::StreamReader reader, aio::StreamWriter writer) {
  for (;;) {
    std::string_view data = co_await reader.read_some();
    if (data.empty()) break;  // EOF
    writer.write(data);
    co_await writer.drain();
  }
  if (writer.can_write_eof()) writer.write_eof();
  writer.close();
  co_await writer.wait_closed();
}

}  // namespace aio_echo
