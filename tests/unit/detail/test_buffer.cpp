// aio/detail/buffer.hpp: the lazily allocated read buffer and its per-loop chunk pool.
#include <aio/detail/buffer.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

using aio::detail::cached_read_chunks;
using aio::detail::give_read_chunk;
using aio::detail::large_read_chunk_size;
using aio::detail::read_chunk_size;
using aio::detail::ReadBuffer;
using aio::detail::take_read_chunk;

namespace {

// Reads `bytes` into `buf` the way the socket read does: prepare, copy, commit.
void fill(ReadBuffer& buf, const std::string& bytes) {
  auto space = buf.prepare(1);
  REQUIRE(space.size() >= bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  buf.commit(bytes.size());
  buf.note_read(bytes.size(), space.size());
}

}  // namespace

TEST_CASE("an empty buffer holds no storage and hands its chunk back to the pool") {
  ReadBuffer buf;
  CHECK_FALSE(buf.has_storage());
  fill(buf, "hello");
  CHECK(buf.has_storage());
  const auto cached = cached_read_chunks();
  buf.consume(5);
  buf.release_if_empty();
  CHECK_FALSE(buf.has_storage());
  CHECK(cached_read_chunks() == cached + 1);
}

TEST_CASE("fresh_chunk_size names the chunk the next read takes, and 0 once storage is held") {
  ReadBuffer buf;
  CHECK(buf.fresh_chunk_size() == read_chunk_size);
  // A read that fills its whole space asks for large chunks next time.
  auto space = buf.prepare(1);
  buf.commit(space.size());
  buf.note_read(space.size(), space.size());
  CHECK(buf.fresh_chunk_size() == 0);
  buf.consume(buf.size());
  buf.release_if_empty();
  CHECK(buf.fresh_chunk_size() == large_read_chunk_size);
  // A small read goes back to small chunks.
  fill(buf, "x");
  buf.consume(1);
  buf.release_if_empty();
  CHECK(buf.fresh_chunk_size() == read_chunk_size);
}

TEST_CASE("adopt_chunk keeps a chunk read into while the buffer held nothing") {
  ReadBuffer buf;
  char* chunk = take_read_chunk();
  std::memcpy(chunk, "abc", 3);
  const auto cached = cached_read_chunks();
  buf.adopt_chunk(chunk, read_chunk_size, 3);
  CHECK(buf.view() == "abc");
  CHECK(buf.view().data() == chunk);
  CHECK(cached_read_chunks() == cached);
  // More bytes go after them in the same chunk.
  fill(buf, "def");
  CHECK(buf.view() == "abcdef");
  buf.consume(6);
  buf.release_if_empty();
  CHECK(cached_read_chunks() == cached + 1);
}

TEST_CASE("adopt_chunk copies the bytes and returns the chunk when the buffer holds storage already") {
  ReadBuffer buf;
  fill(buf, "head-");
  char* chunk = take_read_chunk();
  std::memcpy(chunk, "tail", 4);
  const auto cached = cached_read_chunks();
  buf.adopt_chunk(chunk, read_chunk_size, 4);
  CHECK(buf.view() == "head-tail");
  CHECK(buf.view().data() != chunk);
  CHECK(cached_read_chunks() == cached + 1);
}

TEST_CASE("adopt_chunk of an empty read (EOF) returns the chunk and keeps the buffer empty") {
  ReadBuffer buf;
  char* chunk = take_read_chunk(true);
  const auto cached = cached_read_chunks();
  buf.adopt_chunk(chunk, large_read_chunk_size, 0);
  CHECK_FALSE(buf.has_storage());
  CHECK(cached_read_chunks() == cached + 1);
  give_read_chunk(take_read_chunk(true), true);
}
