// examples/kv_server/kv_store.cpp — the store and the command language (see kv_store.hpp).
#include "kv_store.hpp"

#include <cctype>

namespace kv {

Store::SetResult Store::set(std::string_view key, std::string_view value) {
  if (auto it = map_.find(key); it != map_.end()) {
    it->second.assign(value);  // replacing never needs room
    return SetResult::stored;
  }
  if (map_.size() >= limits_.max_keys) return SetResult::full;
  map_.emplace(std::string(key), std::string(value));
  return SetResult::stored;
}

const std::string* Store::get(std::string_view key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

bool Store::del(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  map_.erase(it);
  return true;
}

std::vector<std::string> Store::keys() const {
  std::vector<std::string> out;
  out.reserve(map_.size());
  for (auto& [k, v] : map_) out.push_back(k);
  return out;
}

namespace {

// Splits off the first space-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
  const auto end = rest.find(' ');
  std::string_view word = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return word;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Reply error(std::string message) { return Reply{"ERR " + std::move(message) + "\n", "invalid"}; }

// Empty when `key` is acceptable, else what is wrong with it.
std::string check_key(const Store& store, std::string_view key) {
  if (key.size() > store.limits().max_key_size)
    return "key too long (max " + std::to_string(store.limits().max_key_size) + " bytes)";
  for (char c : key)
    if (c <= ' ' || c > '~') return "key must be printable ASCII without spaces";
  return {};
}

}  // namespace

Reply execute(Store& store, Session& session, std::string_view line) {
  ++session.commands;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // telnet and Windows clients
  std::string_view rest = line;
  const std::string command = upper(next_word(rest));

  if (command.empty()) return error("empty command (try GET, SET, DEL, KEYS, QUIT)");
  if (command == "SET") {
    const std::string_view key = next_word(rest);
    if (key.empty() || rest.empty()) return error("usage: SET <key> <value>");
    if (auto bad = check_key(store, key); !bad.empty()) return error(bad);
    if (rest.size() > store.limits().max_value_size)
      return error("value too long (max " + std::to_string(store.limits().max_value_size) + " bytes)");
    if (store.set(key, rest) == Store::SetResult::full)
      return error("store full (max " + std::to_string(store.limits().max_keys) + " keys)");
    return Reply{"OK\n", "SET"};
  }
  if (command == "GET" || command == "DEL") {
    const std::string_view key = next_word(rest);
    if (key.empty() || !rest.empty()) return error("usage: " + command + " <key>");
    if (auto bad = check_key(store, key); !bad.empty()) return error(bad);
    if (command == "GET") {
      const std::string* value = store.get(key);
      return Reply{value ? "VALUE " + *value + "\n" : "NOT_FOUND\n", "GET"};
    }
    return Reply{store.del(key) ? "DELETED\n" : "NOT_FOUND\n", "DEL"};
  }
  if (command == "KEYS") {
    if (!rest.empty()) return error("usage: KEYS");
    std::string text = "KEYS " + std::to_string(store.size());
    for (auto& k : store.keys()) text += " " + k;
    return Reply{text + "\n", "KEYS"};
  }
  if (command == "QUIT") return Reply{"BYE " + std::to_string(session.commands) + " commands\n", "QUIT", true};
  return error("unknown command '" + std::string(line.substr(0, line.find(' '))) +
               "' (try GET, SET, DEL, KEYS, QUIT)");
}

}  // namespace kv
