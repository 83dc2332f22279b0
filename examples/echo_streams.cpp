// examples/echo_streams.cpp — a streams echo server and its client, in one program.
//
//   async def handle_echo(reader, writer):
//       while line := await reader.readline():
//           writer.write(line); await writer.drain()
//       writer.close(); await writer.wait_closed()
//
//   server = await asyncio.start_server(handle_echo, "127.0.0.1", 0)
//   reader, writer = await asyncio.open_connection("127.0.0.1", port)
//   writer.write(b"hello\n"); await writer.drain()
//   print(await reader.readline())
//
// start_server calls the handler in a task of its own for every connection;
// open_connection gives the client its StreamReader/StreamWriter pair. Port 0
// lets the system pick a free port; server.port() tells which.
#include <aio/aio.hpp>

#include <cstdio>
#include <string>
#include <string_view>

// Trims the '\n' that readline() keeps, for printing.
std::string_view chomp(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  return line;
}

aio::Task<> handle_echo(aio::StreamReader reader, aio::StreamWriter writer) {
  for (;;) {
    const std::string line = co_await reader.readline();
    if (line.empty()) break;  // EOF: the client closed its side
    std::printf("server received %.*s\n", static_cast<int>(chomp(line).size()), chomp(line).data());
    writer.write(line);
    co_await writer.drain();
  }
  std::puts("server: client closed the connection");
  writer.close();
  co_await writer.wait_closed();
}

aio::Task<> client(std::uint16_t port) {
  auto [reader, writer] = co_await aio::open_connection("127.0.0.1", port);
  for (std::string message : {"hello", "asyncio", "from aio"}) {
    std::printf("client sends %s\n", message.c_str());
    writer.write(message + "\n");
    co_await writer.drain();
    const std::string reply = co_await reader.readline();
    std::printf("client received %.*s\n", static_cast<int>(chomp(reply).size()), chomp(reply).data());
  }
  writer.close();
  co_await writer.wait_closed();
}

aio::Task<> main_task() {
  auto server = co_await aio::start_server(handle_echo, "127.0.0.1", 0);
  std::printf("serving on 127.0.0.1, port %s\n", server.port() != 0 ? "chosen by the system" : "0?");
  co_await client(server.port());
  server.close();
  co_await server.wait_closed();  // no longer listening and no connection left
  std::puts("server closed");
}

int main() { aio::run(main_task()); }

//> serving on 127.0.0.1, port chosen by the system
//> client sends hello
//> server received hello
//> client received hello
//> client sends asyncio
//> server received asyncio
//> client received asyncio
//> client sends from aio
//> server received from aio
//> client received from aio
//> server: client closed the connection
//> server closed
