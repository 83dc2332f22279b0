// aio/detail/socket_read_op.hpp: the WarmList a socket read prefetches
// before its recv, and the link between a stream and its reads'
// cancellation handler. (The read itself, and cancelling it, are exercised
// over real sockets by test_streams, test_stream_frames and test_server.)
#include <aio/detail/socket_read_op.hpp>
#include <aio/detail/stream_state.hpp>

#include <asio/cancellation_signal.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using aio::detail::arm_read_cancellation;
using aio::detail::cache_line;
using aio::detail::ReactorSocketRef;
using aio::detail::ReadCancelLink;
using aio::detail::read_buffer_owner_hot_bytes;
using aio::detail::StreamState;
using aio::detail::WarmList;

namespace {
alignas(64) char arena[64 * 128];

// Counts the handler's look-ups of its stream's socket (a closed socket:
// fd -1, so nothing is cancelled).
int socket_lookups = 0;
void count_lookup(void* /*owner*/, ReactorSocketRef& /*sock*/) noexcept { ++socket_lookups; }
}  // namespace

TEST_CASE("a warm range covers every cache line its bytes touch") {
  WarmList warm;
  warm.add(arena + 8, 16);          // inside one line
  warm.add(arena + 64 + 60, 8);     // across a line boundary
  warm.add(arena + 4 * 64, 64 * 3);  // three whole lines
  REQUIRE(warm.size() == 3);
  CHECK(warm.first_line(0) == arena);
  CHECK(warm.lines(0) == 1);
  CHECK(warm.first_line(1) == arena + 64);
  CHECK(warm.lines(1) == 2);
  CHECK(warm.first_line(2) == arena + 4 * 64);
  CHECK(warm.lines(2) == 3);
}

TEST_CASE("a warm list ignores null and empty ranges and keeps at most capacity ranges") {
  WarmList warm;
  warm.add(nullptr, 64);
  warm.add(arena, 0);
  CHECK(warm.size() == 0);
  for (std::size_t i = 0; i < WarmList::capacity + 2; ++i) warm.add(arena + i * 256, 1);
  REQUIRE(warm.size() == WarmList::capacity);
  CHECK(warm.first_line(WarmList::capacity - 1) == arena + (WarmList::capacity - 1) * 256);
}

TEST_CASE("a warm range is capped at 64 cache lines") {
  WarmList warm;
  warm.add(arena, sizeof arena);
  REQUIRE(warm.size() == 1);
  CHECK(warm.lines(0) == cache_line);
}

TEST_CASE("append adds another list's ranges in order while room is left") {
  WarmList first;
  first.add(arena, 1);
  first.add(arena + 128, 1);
  WarmList second;
  second.add(arena + 1024, 1);
  second.add(arena + 2048, 1);
  second.add(arena + 4096, 1);
  first.append(second);
  REQUIRE(first.size() == std::min<std::size_t>(WarmList::capacity, 5));
  CHECK(first.first_line(2) == arena + 1024);
  CHECK(first.first_line(3) == arena + 2048);
}

// A read prefetches read_buffer_owner_hot_bytes from its buffer on, taking
// them for the stream state's hot members: they must all lie in that range,
// and the cold ones (limit, writer count, names, server links) after it and
// after the read operation, so that the range stays as short as the hot block.
TEST_CASE("the stream state's hot members lie in what a read prefetches from its buffer") {
  StreamState st(64 * 1024);
  const auto* from = reinterpret_cast<const char*>(&st.rbuf);
  const auto* end = from + read_buffer_owner_hot_bytes;
  for (const void* hot : {static_cast<const void*>(&st.eof), static_cast<const void*>(&st.error),
                          static_cast<const void*>(&st.transport), static_cast<const void*>(&st.metrics),
                          static_cast<const void*>(&st.lost), static_cast<const void*>(&st.reading)}) {
    CHECK(static_cast<const char*>(hot) > from);
    CHECK(static_cast<const char*>(hot) < end);
  }
  for (const void* cold : {static_cast<const void*>(&st.limit), static_cast<const void*>(&st.writers),
                           static_cast<const void*>(&st.server), static_cast<const void*>(&st.srv_next)}) {
    CHECK(static_cast<const char*>(cold) >= end);
  }
  // The private hot members lie between the public ones and the read's
  // result, and the range ends with that result and the cancellation link:
  // the operation after it prefetches itself.
  CHECK(reinterpret_cast<const char*>(&st.read_result) > from);
  CHECK(reinterpret_cast<const char*>(&st.read_cancel + 1) == end);
  CHECK(reinterpret_cast<const char*>(&st.read_op) >= end);
}

TEST_CASE("a read re-arms the handler its stream's last read left in the task's slot, untouched") {
  asio::cancellation_signal signal;
  auto slot = signal.slot();
  ReadCancelLink link;
  void* const key = arm_read_cancellation(slot, link, &count_lookup, nullptr);
  const auto* held = link.armed();
  REQUIRE(held != nullptr);
  CHECK(arm_read_cancellation(slot, link, &count_lookup, nullptr) == key);
  CHECK(link.armed() == held);

  socket_lookups = 0;
  signal.emit(asio::cancellation_type::terminal);
  CHECK(socket_lookups == 1);
  signal.emit(asio::cancellation_type::none);  // not a cancellation type a read honours
  CHECK(socket_lookups == 1);
}

TEST_CASE("another operation's handler unlinks the stream's, and the next read arms a new one") {
  asio::cancellation_signal signal;
  auto slot = signal.slot();
  ReadCancelLink link;
  arm_read_cancellation(slot, link, &count_lookup, nullptr);
  slot.emplace<void (*)(asio::cancellation_type)>([](asio::cancellation_type) {});  // as a timer would
  CHECK(link.armed() == nullptr);
  arm_read_cancellation(slot, link, &count_lookup, nullptr);
  CHECK(link.armed() != nullptr);
  slot.clear();
  CHECK(link.armed() == nullptr);
}

TEST_CASE("a handler outliving its stream, or moved to another stream's read, no longer reaches the first stream") {
  asio::cancellation_signal signal;
  auto slot = signal.slot();
  socket_lookups = 0;
  {
    ReadCancelLink gone;
    arm_read_cancellation(slot, gone, &count_lookup, nullptr);
  }  // the stream state goes; the task's slot keeps the handler
  signal.emit(asio::cancellation_type::terminal);
  CHECK(socket_lookups == 0);

  // A second task reads the same stream: the first task's handler stays in
  // its slot, unlinked, and only the second one cancels the stream's read.
  asio::cancellation_signal second;
  auto second_slot = second.slot();
  ReadCancelLink link;
  arm_read_cancellation(slot, link, &count_lookup, nullptr);
  arm_read_cancellation(second_slot, link, &count_lookup, nullptr);
  signal.emit(asio::cancellation_type::terminal);
  CHECK(socket_lookups == 0);
  second.emit(asio::cancellation_type::terminal);
  CHECK(socket_lookups == 1);
}
