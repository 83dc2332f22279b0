// aio-chat — the chat server. Port 7001, metrics on 9101.
//
//   aio-chat [--host 0.0.0.0] [--port 7001] [--max-line 4096] [--max-outbox-bytes 1048576] [--flush-interval 2ms]
//            [--tls-cert F --tls-key F] [--max-connections N] [--idle-timeout 0s]
//            [--shutdown-timeout 10s] [--metrics-port 9101] [--log-level info]   (or AIO_PORT=... etc.)
//
// Try it:  nc 127.0.0.1 7001   (twice)   or   aio-chat-client --host 127.0.0.1 --port 7001 --nick ann
//
// One loop: rooms and nicks are shared by every connection, so --threads
// above 1 is refused with a warning and one loop serves (see chat_server.hpp).
// On SIGTERM/SIGINT every client gets "* server shutting down" and is closed
// once its outbox is flushed; the process exits 0.
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "chat_server.hpp"
#include "program.hpp"

int main(int argc, char** argv) {
  aio::program::ServerProgram program("aio-chat", "aio-chat: a line-protocol chat server usable with plain nc", 7001,
                                      9101);
  chat::ChatOptions options;
  aio::program::add_env_option(program.app(), "max-line", options.max_line, "longest line in bytes (without \\r\\n)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{16} << 20));
  aio::program::add_env_option(program.app(), "max-outbox-bytes", options.max_outbox_bytes,
                               "bytes queued for one client before it is disconnected as too slow")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  std::string flush_interval = "2ms";
  aio::program::add_env_option(program.app(), "flush-interval", flush_interval,
                               "while lines keep coming, write to a client at most once per this (0: every loop turn)")
      ->check(aio::program::check_duration);
  if (auto rc = program.parse(argc, argv)) return *rc;
  options.flush_interval = *aio::program::parse_duration(flush_interval);
  if (program.config().threads != 1) {
    spdlog::warn("aio-chat runs one loop (rooms are shared state); ignoring --threads {}", program.config().threads);
    program.config().threads = 1;
  }

  std::unique_ptr<chat::ChatService> service;  // outlives the loop and every connection
  return program.run([&](aio::program::LoopContext& ctx) {
    options.metrics = &ctx.registry;
    service = std::make_unique<chat::ChatService>(options);
    ctx.limit = service->stream_limit();
    ctx.on_drain = [s = service.get()] { s->shutdown(); };
    return service->handler();
  });
}
