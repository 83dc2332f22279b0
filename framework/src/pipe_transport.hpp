// framework/src/pipe_transport.hpp — private. One end of a pipe as a stream transport.
//
// A subprocess's stdin, stdout and stderr reach the parent as pipes: this
// is the transport StreamState drives for them, the pipe twin of asyncio's
// _UnixReadPipeTransport and _UnixWritePipeTransport. It takes the
// non-speculative path of the Transport interface (as TLS does): a read is
// one async_read_some, a write one loop of write(2) calls with readiness
// waits in between, and write_eof closes the descriptor (the child then
// reads EOF).
#pragma once

#include <asio/posix/stream_descriptor.hpp>

#include <memory>

#include <aio/detail/transport.hpp>

namespace aio::detail {

// Takes the descriptor over (made non-blocking here).
std::unique_ptr<Transport> make_pipe_transport(asio::posix::stream_descriptor pipe);

}  // namespace aio::detail
