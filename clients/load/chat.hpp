// clients/load/chat.hpp — internal to aio-load. The chat mode (aio-chat's protocol, servers/chat/chat_server.hpp).
//
// --connections clients join one room (--room, default "bench"); once all
// have joined, the first --senders of them send lines `b ID SEQ T PADDING`
// (T: the send time, or the scheduled one with --rate, in nanoseconds since
// the run's start) until the deadline. Every client reads what the room
// delivers: `<nick> b ID SEQ T ...`; it counts the line, records now - T as
// delivery latency and checks that each sender's SEQ comes in order with no
// gap (a mismatch otherwise). Notices (`* ...`) are skipped. Paced, a line
// counts when it was scheduled in the measured window; flat out (--rate 0),
// when it arrives in it (the server's delivery rate, whatever backlog the
// warm-up left), and "lost" is not computed (a gap is still a mismatch).
//
// Latency is taken from T, the *scheduled* time with --rate, so a generator
// or server that falls behind cannot hide it (no coordinated omission); the
// receive time is read once per read() (every line in it arrived together).
// --warmup S runs the same schedule for S seconds first: those lines are
// sent, delivered and order-checked but not counted or timed (connections,
// socket buffers and allocators settle; the first 50 ms of a cold run alone
// were 1% of a 5 s sample). --busy-poll keeps the thread from sleeping in
// epoll_wait (see worker.cpp).
//
// Plain TCP dogfoods aio's streams: once joined, the socket is handed to
// aio::open_connection(fd) and driven with StreamReader::read_into and
// StreamWriter::write. Their in-place reads know (EPOLLRDHUP hints) when a
// short read drained the socket, so they skip the recv() that Asio's
// speculative async_read_some makes first and that fails with EAGAIN: half
// of aio-load's recvfrom calls at 30k lines/s into 100 clients. TLS keeps
// raw Asio operations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <aio/streams.hpp>
#include <aio/tasks.hpp>

namespace aio_load {

struct Worker;

struct ChatState {
  std::string buf;                  // bytes read but not yet consumed
  std::vector<std::int64_t> last;   // last SEQ seen from each sender
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  // Plain TCP after the join: the connection as aio streams (the Asio
  // socket has released its descriptor to them).
  std::optional<aio::StreamReader> reader;
  std::optional<aio::StreamWriter> writer;
};

// Closes the aio streams at once, if any (the watchdog; the end of a run):
// their pending reads end, what is queued is dropped.
void chat_abort(ChatState& st);

// Reads the welcome, joins the room and waits for the confirmation; then,
// on plain TCP, hands the socket over to st.reader/st.writer.
template <class S>
aio::Task<bool> chat_join(Worker& w, S& s, ChatState& st, std::size_t conn);

// Sends (if a sender) and receives until the deadline, then until every line
// sent has arrived (or the watchdog closes the connection).
template <class S>
aio::Task<void> chat_drive(Worker& w, S& s, ChatState& st, std::size_t conn);

}  // namespace aio_load
