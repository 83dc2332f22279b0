// servers/proxy/relay.hpp — moving bytes both ways between a client and its upstream.
//
// Two pumps, one per direction, each `read_some → write → drain`: what one
// side sends is read only as fast as the other side takes it, so at most a
// read chunk plus the writer's high-water mark (--buffer-size) sits in the
// proxy per direction, whatever the peers do.
//
// Ends as TCP does, passed through:
//   - EOF from one side is a FIN to the other (shutdown(SHUT_WR) after the
//     buffered bytes; a TLS side that cannot half-close is closed), and the
//     other direction keeps flowing, for at most `half_close_timeout`;
//   - an error or reset on either side closes both at once;
//   - abort() (the upstream went down and --on-down is close) closes both.
// Without splice the idle timeout is the client connection's own
// (ServerOptions), which counts bytes either way; spliced bytes bypass the
// streams, so with splice the relay keeps the idle timeout itself.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <aio/locks.hpp>
#include <aio/streams.hpp>

namespace proxy {

class Upstream;

class PipePool;

struct RelayOptions {
  std::chrono::steady_clock::duration half_close_timeout = std::chrono::seconds(30);
  bool splice = false;                                // both sides plain TCP (splice.hpp)
  std::chrono::steady_clock::duration idle_timeout{};  // kept by the relay (with splice only)
};

class Relay {
 public:
  Relay(aio::StreamReader client_reader, aio::StreamWriter client_writer, aio::StreamReader upstream_reader,
        aio::StreamWriter upstream_writer, Upstream& upstream, const RelayOptions& options,
        PipePool* pipes = nullptr);
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay();

  // Relays until both directions have ended (or one failed).
  // Cancellation: both connections are closed at once, then CancelledError.
  // Throws: nothing else; I/O errors end the relay.
  [[nodiscard]] aio::Task<void> run();

  // Closes both sides at once; run() then returns.
  void abort() noexcept;

  Upstream& upstream() const noexcept { return upstream_; }

 private:
  enum class Direction { to_upstream, to_client };
  aio::Task<void> pump(aio::StreamReader from, aio::StreamWriter to, Direction d);
  void direction_ended();
  void count(Direction d, std::size_t n);
  void start_idle_watch();

  aio::StreamReader client_reader_, upstream_reader_;
  aio::StreamWriter client_writer_, upstream_writer_;
  Upstream& upstream_;
  const RelayOptions& options_;
  int open_directions_ = 2;
  aio::Event to_client_done_;  // set when the spawned direction has ended
  PipePool* pipes_;  // set when splicing
  struct Timer;
  std::shared_ptr<Timer> half_close_;  // armed when the first direction ends
  std::shared_ptr<Timer> idle_;        // with splice and an idle timeout
  std::chrono::steady_clock::time_point last_activity_{};
};

}  // namespace proxy
