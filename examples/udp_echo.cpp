// examples/udp_echo.cpp — a UDP echo endpoint and its client, in one program.
//
//   class EchoServer(asyncio.DatagramProtocol):
//       def connection_made(self, transport): self.transport = transport
//       def datagram_received(self, data, addr): self.transport.sendto(data, addr)
//
//   transport, _ = await loop.create_datagram_endpoint(EchoServer, local_addr=("127.0.0.1", 0))
//   client, _ = await loop.create_datagram_endpoint(Client, remote_addr=transport.get_extra_info("sockname"))
//
// asyncio calls the protocol for every datagram; aio's endpoint is pulled:
// recvfrom() waits for the next datagram and tells who sent it, sendto()
// answers. The client sets remote_addr, so its socket is connected and
// send()/recv() need no address. Port 0 lets the system pick a free port;
// sockname() tells which. Try a server on a fixed port with
// `nc -u 127.0.0.1 PORT`.
#include <aio/aio.hpp>

#include <cstdio>
#include <string>

// Echoes every datagram to its sender until one says "bye".
aio::Task<> echo_server(aio::DatagramEndpoint endpoint) {
  for (;;) {
    const aio::Datagram dgram = co_await endpoint.recvfrom();
    std::printf("server received %s from the client\n", dgram.data.c_str());
    if (dgram.data == "bye") break;
    co_await endpoint.sendto(dgram.data, dgram.peer);
  }
  endpoint.close();
}

aio::Task<> client(aio::Address server) {
  aio::DatagramOptions options;
  options.remote_addr = server;
  auto endpoint = co_await aio::create_datagram_endpoint(options);
  for (std::string message : {"hello", "asyncio", "from aio"}) {
    std::printf("client sends %s\n", message.c_str());
    co_await endpoint.send(message);
    const std::string reply = co_await endpoint.recv();
    std::printf("client received %s\n", reply.c_str());
  }
  co_await endpoint.send("bye");
}

aio::Task<> main_task() {
  aio::DatagramOptions options;
  options.local_addr = aio::Address{"127.0.0.1", 0};
  auto endpoint = co_await aio::create_datagram_endpoint(options);
  const aio::Address where = endpoint.sockname();
  std::printf("serving on %s, port %s\n", where.host.c_str(), where.port != 0 ? "chosen by the system" : "0?");
  auto server = aio::create_task(echo_server(endpoint));
  endpoint = aio::DatagramEndpoint();  // the server task's copy keeps the socket open
  co_await client(where);
  co_await server.join();
  std::puts("server closed");
}

int main() { aio::run(main_task()); }

//> serving on 127.0.0.1, port chosen by the system
//> client sends hello
//> server received hello from the client
//> client received hello
//> client sends asyncio
//> server received asyncio from the client
//> client received asyncio
//> client sends from aio
//> server received from aio from the client
//> client received from aio
//> server received bye from the client
//> server closed
