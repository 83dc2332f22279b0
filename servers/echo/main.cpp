// aio-echo — the echo server. Port 7000, metrics on 9100.
//
//   aio-echo [--host 0.0.0.0] [--port 7000] [--threads N] [--tls-cert F --tls-key F]
//            [--max-connections N] [--idle-timeout 300s] [--shutdown-timeout 10s]
//            [--metrics-port 9100] [--log-level info]        (or AIO_PORT=... etc.)
//
// Try it:  printf 'hello\n' | nc -N 127.0.0.1 7000     or   aio-echo-client hello
#include "echo_server.hpp"
#include "program.hpp"

int main(int argc, char** argv) {
  aio::program::ServerProgram program("aio-echo", "aio-echo: echoes every byte back as it arrives", 7000, 9100);
  if (auto rc = program.parse(argc, argv)) return *rc;
  return program.run([](aio::program::LoopContext&) { return aio::ClientConnected(aio_echo::echo); });
}
