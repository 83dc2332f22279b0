// StreamReader and StreamWriter: asyncio's streams.py over detail::StreamState.
#include <aio/streams.hpp>

#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include <aio/detail/stream_state.hpp>
#include <aio/use_task.hpp>

#include "owned_fd.hpp"
#include "tls_info.hpp"

namespace aio {

using detail::StreamState;

// ---------------------------------------------------------------- StreamReader

StreamReader::StreamReader(std::ptrdiff_t limit) {
  if (limit <= 0) throw ValueError("Limit cannot be <= 0");
  st_ = std::make_shared<StreamState>(static_cast<std::size_t>(limit));
}

bool StreamReader::at_eof() const { return st_->eof && st_->rbuf.empty(); }
std::size_t StreamReader::limit() const { return st_->limit; }
std::exception_ptr StreamReader::exception() const { return st_->error; }
void StreamReader::feed_data(std::string_view data) { st_->feed_data(data); }
void StreamReader::feed_eof() { st_->feed_eof(); }
void StreamReader::set_exception(std::exception_ptr e) { st_->set_exception(std::move(e)); }

Task<std::string> StreamReader::read(std::ptrdiff_t n) {
  auto st = st_;
  st->raise_if_error();
  if (n == 0) co_return std::string();
  if (n < 0) {
    // Read up to EOF in limit-sized blocks, as asyncio does.
    std::string all;
    for (;;) {
      auto block = co_await read(static_cast<std::ptrdiff_t>(st->limit));
      if (block.empty()) break;
      all += block;
    }
    co_return all;
  }
  if (st->rbuf.empty() && !st->eof) co_await st->wait_for_data("read");
  auto view = st->rbuf.view();
  const std::size_t take = std::min(view.size(), static_cast<std::size_t>(n));
  std::string data(view.substr(0, take));
  st->rbuf.consume(take);
  co_return data;
}

Task<std::string> StreamReader::readline() {
  auto st = st_;
  std::optional<std::string> partial;
  std::optional<LimitOverrunError> overrun;
  try {
    co_return co_await readuntil("\n");
  } catch (IncompleteReadError& e) {
    partial = std::move(e.partial);
  } catch (const LimitOverrunError& e) {
    overrun.emplace(e);
  }
  if (partial) co_return std::move(*partial);
  // Discard the over-long line: through its separator if buffered, else all.
  auto view = st->rbuf.view();
  if (view.size() > overrun->consumed && view[overrun->consumed] == '\n') {
    st->rbuf.consume(overrun->consumed + 1);
  } else {
    st->rbuf.clear();
  }
  throw LimitOverrunError(overrun->what(), overrun->consumed);
}

Task<std::string> StreamReader::readuntil(std::string_view separator) {
  auto st = st_;
  const std::size_t seplen = separator.size();
  if (seplen == 0) throw ValueError("Separator should be at least one-byte string");
  st->raise_if_error();
  // `offset` is where the separator may start: bytes before it were searched.
  std::size_t offset = 0;
  std::size_t isep = 0;
  for (;;) {
    const auto view = st->rbuf.view();
    const std::size_t buflen = view.size();
    if (buflen >= offset + seplen) {
      const auto found = view.find(separator, offset);
      if (found != std::string_view::npos) {
        isep = found;
        break;
      }
      offset = buflen + 1 - seplen;
      if (offset > st->limit)
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
    }
    if (st->eof) {
      std::string chunk(view);
      st->rbuf.clear();
      throw IncompleteReadError(std::move(chunk), std::nullopt);
    }
    co_await st->wait_for_data("readuntil");
  }
  if (isep > st->limit) throw LimitOverrunError("Separator is found, but chunk is longer than limit", isep);
  std::string chunk(st->rbuf.view().substr(0, isep + seplen));
  st->rbuf.consume(isep + seplen);
  co_return chunk;
}

namespace {

// asyncio 3.13's readuntil with a tuple: `seps` is sorted by length, so that
// of two matches ending at the same byte the shorter separator wins.
Task<std::string> readuntil_any(std::shared_ptr<StreamState> st, std::vector<std::string> seps) {
  if (seps.empty()) throw ValueError("Separator should contain at least one element");
  const std::size_t min_seplen = seps.front().size();
  const std::size_t max_seplen = seps.back().size();
  if (min_seplen == 0) throw ValueError("Separator should be at least one-byte string");
  st->raise_if_error();
  // `offset` is where a separator may start: no separator begins before it.
  std::size_t offset = 0;
  std::size_t match_start = 0;
  std::size_t match_end = 0;
  for (;;) {
    const auto view = st->rbuf.view();
    const std::size_t buflen = view.size();
    if (buflen >= offset + min_seplen) {
      bool found = false;
      for (const auto& sep : seps) {
        const auto at = view.find(sep, offset);
        if (at == std::string_view::npos) continue;
        if (!found || at + sep.size() < match_end) {
          found = true;
          match_start = at;
          match_end = at + sep.size();
        }
      }
      if (found) break;
      // A buffer shorter than the longest separator keeps offset at 0.
      offset = buflen + 1 > max_seplen ? buflen + 1 - max_seplen : 0;
      if (offset > st->limit)
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
    }
    if (st->eof) {
      std::string chunk(view);
      st->rbuf.clear();
      throw IncompleteReadError(std::move(chunk), std::nullopt);
    }
    co_await st->wait_for_data("readuntil");
  }
  if (match_start > st->limit)
    throw LimitOverrunError("Separator is found, but chunk is longer than limit", match_start);
  std::string chunk(st->rbuf.view().substr(0, match_end));
  st->rbuf.consume(match_end);
  co_return chunk;
}

}  // namespace

// Not a coroutine: the separators are copied now, so a temporary list (an
// initializer_list's array lives only until the end of the call's
// full-expression) outlives nothing the Task needs.
Task<std::string> StreamReader::readuntil(std::span<const std::string_view> separators) {
  std::vector<std::string> seps(separators.begin(), separators.end());
  std::stable_sort(seps.begin(), seps.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  return readuntil_any(st_, std::move(seps));
}

Task<std::string> StreamReader::readuntil(std::initializer_list<std::string_view> separators) {
  return readuntil(std::span<const std::string_view>(separators.begin(), separators.size()));
}

Task<std::string> StreamReader::readexactly(std::ptrdiff_t n) {
  auto st = st_;
  if (n < 0) throw ValueError("readexactly size can not be less than zero");
  st->raise_if_error();
  if (n == 0) co_return std::string();
  const auto want = static_cast<std::size_t>(n);
  while (st->rbuf.size() < want) {
    if (st->eof) {
      std::string incomplete(st->rbuf.view());
      st->rbuf.clear();
      throw IncompleteReadError(std::move(incomplete), want);
    }
    co_await st->wait_for_data("readexactly");
  }
  std::string data(st->rbuf.view().substr(0, want));
  st->rbuf.consume(want);
  co_return data;
}

namespace {

// read_some() when the stream state's frame is taken (a second read created
// before the first is awaited): the same steps as an ordinary coroutine.
// The state is held by reference: the caller's reader owns it for as long
// as this coroutine runs.
Task<std::string_view> read_some_in_own_frame(StreamState& st) {
  st.raise_if_error();
  if (st.rbuf.empty() && !st.eof) co_await st.wait_for_data("read_some");
  const auto view = st.rbuf.view();
  st.rbuf.consume(view.size());
  co_return view;
}

}  // namespace

// read_some is the echo path's wait for data: its frame lives in the stream
// state, and a plain socket is read right from it (stream_frames.hpp).
Task<std::string_view> StreamReader::read_some() {
  StreamState& st = *st_;
  if (st.read_some_frame.idle()) return st.read_some_frame.start(st);
  return read_some_in_own_frame(st);
}

// read_into reads a plain socket right here (one frame plus one reactor
// operation, no helper coroutine on the way: the cancellation checks are
// inline), anything else through wait_for_data. The state is held by
// reference: the caller's reader owns it for as long as this coroutine runs.
Task<std::size_t> StreamReader::read_into(std::span<char> dst) {
  StreamState& st = *st_;
  st.raise_if_error();
  if (dst.empty()) co_return 0;
  if (st.rbuf.empty() && !st.eof) {
    if (!st.transport || st.lost || !st.transport->speculative()) {
      co_await st.wait_for_data("read_into");
    } else {
      // Nothing buffered: read straight into the caller's memory.
      detail::ReadingScope scope(st, "read_into");
      co_await detail::read_in_place<std::size_t>(st, dst.data(), dst.size());
      const auto r = st.read_result;
      if (StreamState::read_cancelled(r)) co_await detail::check_cancelled();
      st.complete_read(r);
      st.raise_if_error();
      co_return r.ec ? 0 : r.n;
    }
  }
  const auto view = st.rbuf.view();
  const std::size_t n = std::min(view.size(), dst.size());
  std::memcpy(dst.data(), view.data(), n);
  st.rbuf.consume(n);
  co_return n;
}

Generator<std::string> StreamReader::lines() const {
  return Generator<std::string>([reader = *this](Yield<std::string> yield) -> Task<> {
    auto r = reader;
    for (;;) {
      auto line = co_await r.readline();
      if (line.empty()) break;
      co_await yield(std::move(line));
    }
  });
}

// ---------------------------------------------------------------- StreamWriter

StreamWriter::StreamWriter(std::shared_ptr<StreamState> st) : st_(std::move(st)) {
  if (st_) ++st_->writers;
}

StreamWriter::StreamWriter(const StreamWriter& other) noexcept : st_(other.st_) {
  if (st_) ++st_->writers;
}

StreamWriter& StreamWriter::operator=(const StreamWriter& other) noexcept {
  if (this != &other) {
    release();
    st_ = other.st_;
    if (st_) ++st_->writers;
  }
  return *this;
}

StreamWriter& StreamWriter::operator=(StreamWriter&& other) noexcept {
  if (this != &other) {
    release();
    st_ = std::move(other.st_);
  }
  return *this;
}

StreamWriter::~StreamWriter() { release(); }

void StreamWriter::release() noexcept {
  if (st_ && --st_->writers == 0) st_->close();
  st_.reset();
}

void StreamWriter::write(std::string_view data) { st_->write(data); }
void StreamWriter::writelines(std::span<const std::string_view> parts) { st_->writelines(parts); }

// drain is the echo path's other wait: it runs in its thread's frame
// (stream_frames.hpp).
Task<void> StreamWriter::drain() {
  StreamState& st = *st_;
  auto& frame = detail::DrainFrame::this_thread();
  if (frame.idle()) return frame.start(st);
  // The frame is taken (a drain waits in it, or was created and not yet
  // awaited): the same steps as an ordinary coroutine.
  return st.drain();
}

void StreamWriter::set_write_buffer_limits(std::size_t high) { st_->set_write_buffer_limits(high, high / 4); }
void StreamWriter::set_write_buffer_limits(std::size_t high, std::size_t low) {
  st_->set_write_buffer_limits(high, low);
}
std::size_t StreamWriter::get_write_buffer_size() const { return st_->write_buffer_size(); }
bool StreamWriter::can_write_eof() const { return st_->can_write_eof(); }
void StreamWriter::write_eof() { st_->write_eof(); }
void StreamWriter::close() { st_->close(); }
void StreamWriter::abort() { st_->abort(); }
bool StreamWriter::is_closing() const { return st_->is_closing(); }

Task<void> StreamWriter::wait_closed() {
  auto st = st_;
  co_await st->wait_closed();
}

std::string StreamWriter::peername() const { return st_->peer(); }
std::string StreamWriter::sockname() const { return st_->local(); }
int StreamWriter::native_handle() const { return st_->transport ? st_->transport->native_handle() : -1; }

ssl_st* StreamWriter::ssl_object() const noexcept {
  return st_->transport && !st_->lost ? st_->transport->ssl_handle() : nullptr;
}

std::shared_ptr<asio::ssl::context> StreamWriter::ssl_context() const {
  return st_->transport && !st_->lost ? st_->transport->ssl_context() : nullptr;
}

std::optional<tls::PeerCertificate> StreamWriter::peer_certificate() const {
  return detail::peer_certificate(ssl_object());
}

std::optional<tls::Cipher> StreamWriter::cipher() const { return detail::negotiated_cipher(ssl_object()); }

std::optional<std::string> StreamWriter::tls_version() const { return detail::tls_version(ssl_object()); }

namespace {

Task<void> upgrade_to_tls(std::shared_ptr<StreamState> st, std::shared_ptr<asio::ssl::context> ctx,
                          StartTlsOptions options) {
  if (!ctx) throw ValueError("start_tls needs an SSL context");
  co_await st->drain();
  co_await st->flushed();
  auto* sock = st->transport ? st->transport->tcp_socket() : nullptr;
  if (!sock) throw RuntimeError("start_tls needs a plain TCP connection");
  auto stream = std::make_unique<detail::TlsStream>(std::move(*sock), *ctx);
  // The socket now lives in `stream`; the old transport keeps a closed one
  // until the handshake is done, so calls meanwhile fail cleanly.
  const bool server = st->server_side;
  if (!server) detail::prepare_tls_client(*stream, options.server_hostname);
  std::exception_ptr failure;
  try {
    co_await detail::tls_handshake(*stream,
                                   server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                                   options.ssl_handshake_timeout);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // Half a handshake leaves nothing to talk over: close, as asyncio does.
    stream.reset();
    st->connection_lost(nullptr);
    std::rethrow_exception(failure);
  }
  st->transport = detail::make_tls_transport(std::move(stream), std::move(ctx), options.ssl_shutdown_timeout);
}

using detail::OwnedFd;

Task<std::size_t> send_file(std::shared_ptr<StreamState> st, int fd, std::uint64_t offset,
                            std::optional<std::uint64_t> count) {
  if (count && *count == 0) throw ValueError("count must be a positive integer (got 0)");
  co_return co_await st->sendfile(fd, offset, count.value_or(0));
}

Task<std::size_t> send_owned_file(std::shared_ptr<StreamState> st, OwnedFd file, std::uint64_t offset,
                                  std::optional<std::uint64_t> count) {
  co_return co_await send_file(std::move(st), file.get(), offset, count);
}

Task<std::size_t> raise_when_awaited(std::exception_ptr e) {
  std::rethrow_exception(e);
  co_return 0;
}

}  // namespace

// Not coroutines: the options and the path are used (copied, opened) at the
// call, so temporaries passed to them need not outlive it.
Task<void> StreamWriter::start_tls(std::shared_ptr<asio::ssl::context> ctx) {
  return upgrade_to_tls(st_, std::move(ctx), StartTlsOptions{});
}

Task<void> StreamWriter::start_tls(std::shared_ptr<asio::ssl::context> ctx, std::string server_hostname) {
  StartTlsOptions options;
  options.server_hostname = std::move(server_hostname);
  return upgrade_to_tls(st_, std::move(ctx), std::move(options));
}

Task<void> StreamWriter::start_tls(std::shared_ptr<asio::ssl::context> ctx, const StartTlsOptions& options) {
  return upgrade_to_tls(st_, std::move(ctx), options);
}

Task<std::size_t> StreamWriter::sendfile(int fd, std::uint64_t offset, std::optional<std::uint64_t> count) {
  return send_file(st_, fd, offset, count);
}

Task<std::size_t> StreamWriter::sendfile(const std::filesystem::path& path, std::uint64_t offset,
                                         std::optional<std::uint64_t> count) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    auto error = std::system_error(errno, std::system_category(), "sendfile: open " + path.string());
    return raise_when_awaited(std::make_exception_ptr(std::move(error)));
  }
  return send_owned_file(st_, OwnedFd(fd), offset, count);
}

}  // namespace aio
