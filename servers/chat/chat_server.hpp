// servers/chat/chat_server.hpp — internal to aio-chat. The chat service, apart from main().
//
// ChatService is the whole of the line protocol: rooms, nicks,
// commands and the fan-out, behind one ClientConnected handler that
// aio::start_server runs once per connection. main.cpp owns the flags, the
// listener, the signals and the metrics exposer; a test can build a
// ChatService, hand handler() to start_server on port 0 and talk to it.
//
// Concurrency: loop-local. Rooms and nicks are state shared by every
// connection, so one service runs on one loop (aio-chat has no --threads
// beyond 1: splitting rooms across loops would need cross-thread hand-offs
// on every message, which costs more than the one loop saves here).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include <aio/server.hpp>
#include <aio/tasks.hpp>

namespace aio::metrics {
class Registry;
}

namespace chat {

struct ChatOptions {
  std::size_t max_line = 4096;                  // bytes per line, without "\r\n"
  std::size_t max_outbox_bytes = 1024 * 1024;   // queued for one client before it is dropped as too slow
  std::chrono::steady_clock::duration close_linger = std::chrono::seconds(2);  // to flush a closing client
  // A client's writes follow each other at least this far apart while lines
  // keep coming (the first after a pause goes at once); 0: one write per
  // loop turn.
  std::chrono::steady_clock::duration flush_interval = std::chrono::milliseconds(2);
  aio::metrics::Registry* metrics = nullptr;    // chat_* families when set
};

class ChatService {
 public:
  explicit ChatService(ChatOptions options = {});
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;
  ~ChatService();

  // The per-connection handler for aio::start_server. The service must
  // outlive every connection it serves.
  aio::ClientConnected handler();

  // The StreamReader limit a server must use for this service (max_line plus
  // room for "\r\n"): pass it as ServerOptions::limit.
  std::size_t stream_limit() const;

  // Graceful stop: every client gets "* server shutting down", its outbox is
  // flushed and its connection closed (bounded by close_linger). New
  // connections are told the same and closed. Returns at once; the server's
  // wait_closed() tells when the last connection is gone.
  void shutdown();

  std::size_t clients() const;
  std::size_t rooms() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chat
