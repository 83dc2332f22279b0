// servers/chat/chat_server.cpp — aio-chat's service: messages, clients, rooms, sessions.
//
// Try it: `aio-chat` (port 7001), then `nc localhost 7001` in two terminals
// (or `aio-chat-client --host localhost --port 7001 --nick ann`).
//
// Reads top-down, like Asio's chat_server.cpp: a Line (message.hpp) is
// formatted once and shared by all its receivers; a Client is one
// connection's outbox and its writer task; a Room is a list of members and
// the buffer its lines are formatted into; Impl holds the rooms, the nicks
// and the commands; session() is the per-connection handler.
//
// The fan-out never waits on a receiver: a broadcast formats its line once,
// into the room's buffer, and appends a reference to it to every member's
// outbox, where it joins the span of the line before it when they are
// adjacent. Each client's writer task wakes up when lines are queued (at
// most once per --flush-interval while they keep coming), hands everything
// queued to the transport with one writelines() (one iovec per span, gather
// writes of up to 64 of them; the socket corked when there are several, so
// they leave as one segment) and then drains. A client whose outbox plus
// transport buffer passes --max-outbox-bytes is dropped as too slow, so the
// server's memory is bounded by connections × that limit.
// One sender's lines reach each receiver in order: one outbox, one writer.
#include "chat_server.hpp"
#include "message.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <aio/exceptions.hpp>
#include <aio/locks.hpp>
#include <aio/metrics.hpp>
#include <aio/streams.hpp>
#include <aio/timeouts.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace chat {
namespace {

using Clock = std::chrono::steady_clock;

// Parts per gather write: StreamWriter::writelines sends up to 64 parts in
// one writev; a longer list is several writevs, worth corking.
constexpr std::size_t kGather = 64;

// Nicks and room names: 1-32 of [A-Za-z0-9_-].
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

// "word rest": the first word and what follows the spaces after it.
std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
  auto end = s.find(' ');
  if (end == std::string_view::npos) return {s, {}};
  auto rest = s.substr(end);
  rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
  return {s.substr(0, end), rest};
}

// The chat_* families; inert handles when the service has no registry.
struct ChatMetrics {
  aio::metrics::Counter received, delivered, slow_consumers;
  aio::metrics::Gauge rooms, members;

  explicit ChatMetrics(aio::metrics::Registry* r) {
    if (!r) return;
    received = r->counter("chat_messages_received_total", "Lines received from clients.");
    delivered = r->counter("chat_messages_delivered_total", "Lines queued for delivery to a client (one per receiver).");
    slow_consumers = r->counter("chat_slow_consumer_disconnects_total",
                                "Clients disconnected because their outbox overflowed.");
    rooms = r->gauge("chat_rooms", "Rooms with at least one member.");
    members = r->gauge("chat_members", "Clients connected and in a room.");
  }
};

// TCP_CORK on `fd` (none when -1) for the guard's lifetime. Each writev
// of a corked socket only appends to its send queue; uncorking sends the
// lot as one segment. Without it every writev of a turn is a segment of its
// own, and each segment costs a trip through the TCP stack, its ACK and a
// wake-up of the receiver (flat out on loopback: 4.7-5.5 M instead of
// 7.9-9.2 M lines delivered per second, docs/performance-chat.md). A real
// network gains the same: fewer, fuller packets. Uncorking comes in the
// same loop turn, so nothing waits on the kernel's 200 ms cork timer.
class Cork {
 public:
  explicit Cork(int fd) : fd_(fd) { set(1); }
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;
  ~Cork() { set(0); }

 private:
  void set(int on) {
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  }
  int fd_;
};

// When a client that wrote at `last` may write again: `interval` later,
// rounded up to an eighth of it. The grid lets the clients that wrote in the
// same stretch share one timer expiry and one loop turn, so the loop re-arms
// its timerfd once per slot rather than once per client (at 38 k lines/s
// into a room of 100, per-client due times made timerfd_settime 6.5% of the
// server's time). At 30 k lines/s (docs/performance-chat.md): an eighth
// cost +0.12 ms of p50 and saved 19% of the server's CPU; a quarter, +0.33
// ms and 31%; a sixteenth, +0.02 ms and 7%.
Clock::time_point flush_due(Clock::time_point last, Clock::duration interval) {
  const Clock::duration slot = std::max(interval / 8, Clock::duration(1));
  const Clock::duration t = (last + interval).time_since_epoch();
  return Clock::time_point((t + slot - Clock::duration(1)) / slot * slot);
}

class Room;

// One connection as the rest of the service sees it: a nick, a room, an
// outbox drained by its own writer task, and the reader task to stop.
class Client {
 public:
  Client(aio::StreamWriter writer, std::string nick, const ChatOptions& opt, ChatMetrics& metrics)
      : writer_(std::move(writer)), nick_(std::move(nick)), opt_(opt), metrics_(metrics) {}

  const std::string& nick() const { return nick_; }
  void set_nick(std::string nick) { nick_ = std::move(nick); }
  Room* room = nullptr;
  aio::TaskHandle<void> reading;  // the session's reader task
  bool quitting = false;          // sent /quit

  // Queues `line`; never waits. An outbox over the limit drops the client.
  void deliver(const Line& line) {
    if (closing_) return;
    outbox_bytes_ += line.size();
    if (outbox_bytes_ + transport_bytes_ > opt_.max_outbox_bytes) {
      drop_too_slow();
      return;
    }
    if (outbox_.empty() || !outbox_.back().extend(line)) outbox_.push_back(line);
    if (!wake_.is_set()) wake_.set();
  }

  // Sends what is queued until finish(): gather writes, once per wake-up.
  aio::Task<void> write_loop() {
    std::vector<Line> batch;
    std::vector<std::string_view> parts;
    try {
      for (;;) {
        while (outbox_.empty() && !closing_) {
          wake_.clear();
          co_await wake_.wait();
        }
        if (outbox_.empty()) break;
        if (opt_.flush_interval.count() > 0 && !closing_) {
          // At most one write per flush interval while lines keep coming;
          // what arrives meanwhile joins this write.
          const auto due = flush_due(last_write_, opt_.flush_interval);
          if (const auto now = Clock::now(); now < due) co_await aio::sleep(due - now);
        }
        batch.swap(outbox_);
        outbox_bytes_ = 0;
        parts.clear();
        for (const Line& l : batch) parts.push_back(l.text());
        {
          // More than one gather write: cork the socket around them, so
          // they leave as one segment (up to the MSS) instead of one each.
          Cork cork(parts.size() > kGather ? writer_.native_handle() : -1);
          writer_.writelines(parts);
        }
        batch.clear();
        last_write_ = Clock::now();
        transport_bytes_ = writer_.get_write_buffer_size();
        co_await writer_.drain();
        transport_bytes_ = writer_.get_write_buffer_size();
      }
    } catch (const std::exception& e) {  // the connection is gone: stop queueing for it
      spdlog::debug("chat: {} lost while writing: {}", nick_, e.what());
      closing_ = true;
      outbox_.clear();
      if (reading.valid()) reading.cancel();
    }
  }

  // No more lines will be queued; the writer task flushes the outbox and ends.
  void finish() {
    closing_ = true;
    wake_.set();
  }

  // Dropped as too slow: nothing more is worth sending.
  bool dropped() const { return dropped_; }

  // Stops the reader task (shutdown, too slow); the session then ends.
  void stop_reading() {
    if (reading.valid() && !reading.done()) reading.cancel();
  }

 private:
  void drop_too_slow() {
    spdlog::warn("chat: {} ({}) is too slow: more than {} bytes queued, disconnecting", nick_, writer_.peername(),
                 opt_.max_outbox_bytes);
    metrics_.slow_consumers.inc();
    dropped_ = closing_ = true;
    outbox_.clear();
    outbox_bytes_ = 0;
    writer_.write("! too slow\n");  // best effort: sent only if the transport holds nothing else
    stop_reading();
    wake_.set();
  }

  aio::StreamWriter writer_;
  std::string nick_;
  const ChatOptions& opt_;
  ChatMetrics& metrics_;
  std::vector<Line> outbox_;  // spans of consecutive lines
  std::size_t outbox_bytes_ = 0;
  // What the transport still held when last looked at (after a hand-over or
  // a drain); it only shrinks in between, so the limit check stays safe.
  std::size_t transport_bytes_ = 0;
  aio::Event wake_;
  Clock::time_point last_write_{};
  bool closing_ = false;
  bool dropped_ = false;
};

// The members of one room, in the order they joined (/who lists them so).
class Room {
 public:
  explicit Room(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  std::size_t size() const { return members_.size(); }
  const std::vector<Client*>& members() const { return members_; }

  void add(Client& c) { members_.push_back(&c); }
  void remove(Client& c) { std::erase(members_, &c); }

  // Formats a line once, for every member but `except`; returns how many got it.
  template <class... Parts>
  std::size_t broadcast(const Client* except, const Parts&... parts) {
    if (members_.size() == (except ? 1 : 0)) return 0;
    const Line line = lines_.format(parts...);
    std::size_t n = 0;
    for (Client* c : members_) {
      if (c == except) continue;
      c->deliver(line);
      ++n;
    }
    return n;
  }

 private:
  std::string name_;
  std::vector<Client*> members_;
  LineBuffer lines_;
};

}  // namespace

struct ChatService::Impl {
  ChatOptions opt;
  ChatMetrics metrics;
  std::map<std::string, Room, std::less<>> rooms;     // by name: /rooms lists them in this order
  std::map<std::string, Client*, std::less<>> nicks;  // every connected client
  std::uint64_t next_guest = 1;
  bool stopping = false;
  const Line shutting_down = format_line("* server shutting down");
  const Line too_long = format_line("! line too long");

  explicit Impl(ChatOptions o) : opt(o), metrics(opt.metrics) {}

  // ---- rooms -------------------------------------------------------------

  Room& enter(Client& c, std::string_view name) {
    auto it = rooms.find(name);
    if (it == rooms.end()) {
      it = rooms.emplace(std::string(name), Room(std::string(name))).first;
      metrics.rooms.inc();
    }
    Room& room = it->second;
    room.broadcast(nullptr, "* ", c.nick(), " joined");
    room.add(c);
    c.room = &room;
    return room;
  }

  // Takes `c` out of its room, telling the others unless the server is stopping.
  void leave(Client& c) {
    Room* room = std::exchange(c.room, nullptr);
    if (!room) return;
    room->remove(c);
    if (room->size() == 0) {
      rooms.erase(room->name());
      metrics.rooms.dec();
    } else if (!stopping) {
      count_delivered(room->broadcast(nullptr, "* ", c.nick(), " left"));
    }
  }

  void count_delivered(std::size_t n) {
    if (n) metrics.delivered.inc(static_cast<double>(n));
  }

  std::string new_guest_nick() {
    for (;;) {
      std::string nick = "guest" + std::to_string(next_guest++);
      if (!nicks.contains(nick)) return nick;
    }
  }

  // ---- commands ------------------------------------------------------------

  // One line from `c`, without its "\r\n".
  void on_line(Client& c, std::string_view text) {
    metrics.received.inc();
    if (text.empty()) return;
    if (text.front() != '/') return say(c, text);
    if (text.starts_with("//")) return say(c, text.substr(1));  // "//x" says "/x"
    auto [cmd, arg] = split_word(text);
    if (cmd == "/nick") return rename(c, arg);
    if (cmd == "/join") return join(c, arg);
    if (cmd == "/rooms") return list_rooms(c);
    if (cmd == "/who") return who(c);
    if (cmd == "/msg") return private_message(c, arg);
    if (cmd == "/me") return action(c, arg);
    if (cmd == "/quit") return quit(c);
    c.deliver(format_line("! unknown command: ", cmd));
  }

  void say(Client& c, std::string_view text) {
    count_delivered(c.room->broadcast(&c, "<", c.nick(), "> ", text));
  }

  void rename(Client& c, std::string_view name) {
    if (!valid_name(name)) return c.deliver(format_line("! invalid nick"));
    if (name == c.nick()) return c.deliver(format_line("* you are now ", name));
    if (nicks.contains(name)) return c.deliver(format_line("! nick taken: ", name));
    std::string old = c.nick();
    nicks.erase(old);
    c.set_nick(std::string(name));
    nicks.emplace(c.nick(), &c);
    c.deliver(format_line("* you are now ", name));
    count_delivered(c.room->broadcast(&c, "* ", old, " is now ", name));
  }

  void join(Client& c, std::string_view name) {
    if (!name.empty() && name.front() == '#') name.remove_prefix(1);
    if (!valid_name(name)) return c.deliver(format_line("! invalid room"));
    if (name == c.room->name()) return c.deliver(format_line("! already in #", name));
    leave(c);
    Room& room = enter(c, name);
    count_delivered(room.size() - 1);
    c.deliver(format_line("* joined #", room.name(), " (", std::to_string(room.size()), " members)"));
  }

  void list_rooms(Client& c) {
    std::string s = "* rooms:";
    for (const auto& [name, room] : rooms) s.append(" #").append(name).append("(").append(std::to_string(room.size())).append(")");
    c.deliver(format_line(s));
  }

  void who(Client& c) {
    std::string s = "* in #" + c.room->name() + ":";
    for (const Client* m : c.room->members()) s.append(" ").append(m->nick());
    c.deliver(format_line(s));
  }

  void private_message(Client& c, std::string_view arg) {
    auto [nick, text] = split_word(arg);
    if (nick.empty() || text.empty()) return c.deliver(format_line("! usage: /msg NICK text"));
    auto it = nicks.find(nick);
    if (it == nicks.end()) return c.deliver(format_line("! no such nick: ", nick));
    it->second->deliver(format_line("[pm] <", c.nick(), "> ", text));
    count_delivered(1);
  }

  void action(Client& c, std::string_view text) {
    if (text.empty()) return c.deliver(format_line("! usage: /me action"));
    count_delivered(c.room->broadcast(&c, "* ", c.nick(), " ", text));
  }

  void quit(Client& c) {
    c.deliver(format_line("* bye"));
    c.quitting = true;
  }

  // ---- sessions --------------------------------------------------------------

  // Frames lines with readline and hands them to on_line; ends at EOF, on
  // /quit, on an over-long line, or when the service stops it.
  aio::Task<void> read_loop(std::shared_ptr<Client> c, aio::StreamReader reader) {
    try {
      while (!c->quitting) {
        std::string raw = co_await reader.readline();
        if (raw.empty()) break;  // EOF
        std::string_view text = raw;
        if (text.back() == '\n') text.remove_suffix(1);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        if (text.size() > opt.max_line) throw aio::LimitOverrunError("line too long", 0);
        on_line(*c, text);
      }
    } catch (const aio::LimitOverrunError&) {
      spdlog::info("chat: {} sent a line over {} bytes, disconnecting", c->nick(), opt.max_line);
      c->deliver(too_long);
    } catch (const aio::CancelledError&) {
      // stop_reading(): shutdown or too slow; the session closes the connection.
    } catch (const std::exception& e) {
      spdlog::debug("chat: {} lost while reading: {}", c->nick(), e.what());
    }
  }

  aio::Task<void> session(aio::StreamReader reader, aio::StreamWriter writer) {
    auto c = std::make_shared<Client>(writer, new_guest_nick(), opt, metrics);
    nicks.emplace(c->nick(), c.get());
    auto writing = aio::create_task(c->write_loop(), "chat-writer");
    std::exception_ptr cancelled;
    if (stopping) {
      c->deliver(shutting_down);
    } else {
      spdlog::debug("chat: {} connected from {}", c->nick(), writer.peername());
      metrics.members.inc();
      c->deliver(format_line("* welcome ", c->nick(), ", you are in #lobby"));
      count_delivered(enter(*c, "lobby").size() - 1);
      c->reading = aio::create_task(read_loop(c, reader), "chat-reader");
      try {
        co_await c->reading.join();
      } catch (...) {  // our own cancellation (join passed it on to the reader)
        cancelled = std::current_exception();
      }
      leave(*c);
      metrics.members.dec();
      spdlog::debug("chat: {} disconnected", c->nick());
    }
    nicks.erase(c->nick());
    co_await close(*c, writer, std::move(writing));
    if (cancelled) std::rethrow_exception(cancelled);
  }

  // Flushes `c`'s outbox and closes, at most close_linger; then aborts. A
  // client dropped as too slow is aborted at once: what it has not taken it
  // never will.
  aio::Task<void> close(Client& c, aio::StreamWriter& writer, aio::TaskHandle<void> writing) {
    c.finish();
    if (c.dropped()) {
      writer.abort();
      writing.cancel();
      try {
        co_await writing.join();  // the writer task uses `c`: let it end first
      } catch (...) {
      }
      co_return;
    }
    const auto deadline = Clock::now() + opt.close_linger;
    bool late = false;
    try {
      co_await aio::timeout_at(writing.join(), deadline);
      writer.close();
      co_await aio::timeout_at(writer.wait_closed(), deadline);
    } catch (const aio::TimeoutError&) {
      late = true;
    } catch (const std::exception&) {  // already lost: nothing to flush
    }
    if (late) {
      spdlog::debug("chat: {} did not take its last bytes in time; aborting", c.nick());
      writer.abort();
    }
  }
};

ChatService::ChatService(ChatOptions options) : impl_(std::make_unique<Impl>(options)) {}
ChatService::~ChatService() = default;

aio::ClientConnected ChatService::handler() {
  Impl* impl = impl_.get();
  return [impl](aio::StreamReader r, aio::StreamWriter w) { return impl->session(std::move(r), std::move(w)); };
}

std::size_t ChatService::stream_limit() const { return impl_->opt.max_line + 2; }

void ChatService::shutdown() {
  if (impl_->stopping) return;
  impl_->stopping = true;
  std::vector<Client*> all;
  for (const auto& [nick, c] : impl_->nicks) all.push_back(c);
  for (Client* c : all) {
    c->deliver(impl_->shutting_down);
    c->stop_reading();
  }
}

std::size_t ChatService::clients() const { return impl_->nicks.size(); }
std::size_t ChatService::rooms() const { return impl_->rooms.size(); }

}  // namespace chat
