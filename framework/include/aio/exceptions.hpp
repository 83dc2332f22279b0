// aio/exceptions.hpp — public. The exception hierarchy, as asyncio.exceptions.
//
// Every aio error derives from aio::Error (a std::runtime_error), except
// CancelledError. Like Python 3.8+, where CancelledError derives from
// BaseException rather than Exception, aio::CancelledError does not derive
// from std::exception: a careless `catch (const std::exception&)` around an
// await cannot swallow a cancellation. Catch it by name (and rethrow), or with
// `catch (...)` when cleaning up.
//
// OS errors otherwise arrive as std::system_error.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace aio {

// The base of every aio error except CancelledError.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The task was cancelled. Deliberately not a std::exception (see above).
class CancelledError {
 public:
  explicit CancelledError(std::string msg = {}) : msg_(std::move(msg)) {}
  const std::string& message() const noexcept { return msg_; }
  const char* what() const noexcept { return msg_.empty() ? "cancelled" : msg_.c_str(); }

 private:
  std::string msg_;
};

class TimeoutError : public Error {
 public:
  TimeoutError() : Error("timed out") {}
  using Error::Error;
};

class InvalidStateError : public Error {
 public:
  using Error::Error;
};

class ValueError : public Error {
 public:
  using Error::Error;
};

class RuntimeError : public Error {
 public:
  using Error::Error;
};

// EOF came before the expected bytes; `partial` holds what was read.
class IncompleteReadError : public Error {
 public:
  IncompleteReadError(std::string partial_bytes, std::optional<std::size_t> expected_bytes)
      : Error(describe(partial_bytes.size(), expected_bytes)),
        partial(std::move(partial_bytes)),
        expected(expected_bytes) {}

  std::string partial;
  std::optional<std::size_t> expected;  // unset: "undefined", as in readuntil

 private:
  static std::string describe(std::size_t got, std::optional<std::size_t> expected) {
    return std::to_string(got) + " bytes read on a total of " +
           (expected ? std::to_string(*expected) : std::string("undefined")) + " expected bytes";
  }
};

// The separator was not found within the reader's limit. A ValueError, as in
// asyncio, so `catch (const ValueError&)` handles both.
class LimitOverrunError : public ValueError {
 public:
  LimitOverrunError(std::string msg, std::size_t consumed_bytes)
      : ValueError(std::move(msg)), consumed(consumed_bytes) {}
  std::size_t consumed;
};

class QueueEmpty : public Error {
 public:
  QueueEmpty() : Error("queue is empty") {}
};

class QueueFull : public Error {
 public:
  QueueFull() : Error("queue is full") {}
};

class QueueShutDown : public Error {
 public:
  QueueShutDown() : Error("queue is shut down") {}
};

class BrokenBarrierError : public RuntimeError {
 public:
  BrokenBarrierError() : RuntimeError("barrier aborted") {}
};

// The peer reset or closed the connection under a read or a drain.
class ConnectionResetError : public Error {
 public:
  ConnectionResetError() : Error("connection reset by peer") {}
  using Error::Error;
};

// Several children of a TaskGroup failed; `exceptions` holds each failure.
class ExceptionGroup : public Error {
 public:
  ExceptionGroup(std::string msg, std::vector<std::exception_ptr> errors)
      : Error(std::move(msg) + " (" + std::to_string(errors.size()) + " sub-exceptions)"),
        exceptions(std::move(errors)) {}
  std::vector<std::exception_ptr> exceptions;
};

// True when `e` holds a CancelledError, or Asio's operation_aborted (what a raw
// Asio operation awaited with asio::use_awaitable throws when cancelled).
bool is_cancellation(const std::exception_ptr& e) noexcept;

}  // namespace aio
