// examples/kv_server/kv_store.hpp — the key-value store and its command language.
//
// Nothing here knows about sockets or coroutines: execute() turns one command
// line into one reply line, so the protocol is tested without a network (and
// the server code stays about I/O). The store is bounded: a number of keys,
// a key size and a value size, each refused with a clear ERR line.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

struct Limits {
  std::size_t max_keys = 10'000;
  std::size_t max_key_size = 250;
  std::size_t max_value_size = 1024;
};

// [kv-store]
// Loop-wide state: one store shared by every connection of the loop. Loop
// code runs one task at a time, so no lock is needed (a store shared by
// several loops on several threads would need one).
class Store {
 public:
  explicit Store(Limits limits = {}) : limits_(limits) {}

  enum class SetResult { stored, full };
  SetResult set(std::string_view key, std::string_view value);
  const std::string* get(std::string_view key) const;
  bool del(std::string_view key);
  std::vector<std::string> keys() const;  // sorted
  std::size_t size() const noexcept { return map_.size(); }
  const Limits& limits() const noexcept { return limits_; }

 private:
  Limits limits_;
  std::map<std::string, std::string, std::less<>> map_;
};
// [kv-store]

// [kv-session]
// Per-connection state: lives in the handler's frame, one per client.
struct Session {
  std::size_t commands = 0;  // lines handled on this connection
};
// [kv-session]

// What one command line produces.
struct Reply {
  std::string text;          // one line, '\n' included
  std::string_view command;  // "GET", "SET", "DEL", "KEYS", "QUIT", or "invalid": the metrics label
  bool close = false;        // QUIT: close the connection after the reply
};

// Runs one command line (its '\n' removed; a trailing '\r' is ignored):
//   SET <key> <value>   -> OK                  | ERR store full (max N keys) | ERR ... too long
//   GET <key>           -> VALUE <value>       | NOT_FOUND
//   DEL <key>           -> DELETED             | NOT_FOUND
//   KEYS                -> KEYS <n> <key>...   (sorted)
//   QUIT                -> BYE <n> commands    (then the server closes the connection)
// Anything else is an ERR line saying what is wrong; the connection goes on.
// Command names are case-insensitive; keys are printable ASCII without spaces.
Reply execute(Store& store, Session& session, std::string_view line);

}  // namespace kv
