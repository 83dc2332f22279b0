// examples/kv_server/test_kv_server.cpp — the key-value server, tested in-process.
//
// The protocol is tested as a function (execute), the server over real TCP:
// each test starts a KvServer on 127.0.0.1 port 0 in a fresh loop, talks to
// it with open_connection, and checks what came back once the loop is done.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <aio/aio.hpp>

#include "kv_server.hpp"
#include "kv_store.hpp"

using namespace std::chrono_literals;

namespace {

std::string run_line(kv::Store& store, std::string_view line) {
  kv::Session session;
  return kv::execute(store, session, line).text;
}

// [kv-test-client]
// A test client: one line out, one line back.
struct Client {
  aio::StreamReader reader;
  aio::StreamWriter writer;

  aio::Task<std::string> ask(std::string line) {
    writer.write(line + "\n");
    co_await writer.drain();
    std::string reply = co_await reader.readline();
    co_return reply;
  }
};

aio::Task<Client> connect(const aio::Server& server) {
  auto [reader, writer] = co_await aio::open_connection("127.0.0.1", server.port());
  co_return Client{reader, writer};
}

// Starts a server on port 0 with `config`, runs `body` against it on a fresh
// loop (10 s at most), then shuts the server down.
template <class Body>
void with_server(kv::Config config, Body body) {
  config.host = "127.0.0.1";
  config.port = 0;
  aio::metrics::Registry registry;
  auto test = [&]() -> aio::Task<void> {
    kv::KvServer kv(config, registry);
    aio::Server server = co_await kv.start();
    co_await aio::wait_for(body(kv, server, registry), 10s);
    co_await kv.shutdown(server);
  };
  aio::run(test());
}
// [kv-test-client]

}  // namespace

TEST_CASE("execute: the commands and their replies") {
  kv::Store store;
  CHECK(run_line(store, "SET greeting hello world") == "OK\n");
  CHECK(run_line(store, "get greeting") == "VALUE hello world\n");
  CHECK(run_line(store, "SET a 1\r") == "OK\n");
  CHECK(run_line(store, "KEYS") == "KEYS 2 a greeting\n");
  CHECK(run_line(store, "DEL a") == "DELETED\n");
  CHECK(run_line(store, "DEL a") == "NOT_FOUND\n");
  CHECK(run_line(store, "GET a") == "NOT_FOUND\n");
  kv::Session session;
  (void)kv::execute(store, session, "GET greeting");
  auto quit = kv::execute(store, session, "QUIT");
  CHECK(quit.text == "BYE 2 commands\n");
  CHECK(quit.close);
}

TEST_CASE("execute: bad input gets an ERR line that says what is wrong") {
  kv::Store store(kv::Limits{2, 8, 5});
  CHECK(run_line(store, "") == "ERR empty command (try GET, SET, DEL, KEYS, QUIT)\n");
  CHECK(run_line(store, "FLY away") == "ERR unknown command 'FLY' (try GET, SET, DEL, KEYS, QUIT)\n");
  CHECK(run_line(store, "SET a") == "ERR usage: SET <key> <value>\n");
  CHECK(run_line(store, "GET") == "ERR usage: GET <key>\n");
  CHECK(run_line(store, "GET a b") == "ERR usage: GET <key>\n");
  CHECK(run_line(store, "KEYS x") == "ERR usage: KEYS\n");
  CHECK(run_line(store, "SET waytoolongkey 1") == "ERR key too long (max 8 bytes)\n");
  CHECK(run_line(store, "SET k\x01 1") == "ERR key must be printable ASCII without spaces\n");
  CHECK(run_line(store, "SET k 123456") == "ERR value too long (max 5 bytes)\n");
  kv::Session session;
  CHECK(kv::execute(store, session, "nope").command == "invalid");
}

TEST_CASE("execute: the store is bounded, replacing a key always works") {
  kv::Store store(kv::Limits{2, 250, 1024});
  CHECK(run_line(store, "SET a 1") == "OK\n");
  CHECK(run_line(store, "SET b 2") == "OK\n");
  CHECK(run_line(store, "SET c 3") == "ERR store full (max 2 keys)\n");
  CHECK(run_line(store, "SET a 10") == "OK\n");
  CHECK(run_line(store, "DEL b") == "DELETED\n");
  CHECK(run_line(store, "SET c 3") == "OK\n");
  CHECK(store.size() == 2);
}

// [kv-test-tcp]
TEST_CASE("kv_server: a conversation over TCP, and the metrics it leaves") {
  std::vector<std::string> replies;
  std::string metrics;
  with_server(kv::Config{}, [&](kv::KvServer&, aio::Server& server, aio::metrics::Registry& registry) -> aio::Task<void> {
    Client c = co_await connect(server);
    for (std::string line : {"SET lang C++", "GET lang", "KEYS", "DEL lang", "GET lang", "HELLO", "QUIT"}) {
      auto reply = co_await c.ask(line);
      replies.push_back(reply);
    }
    auto eof = co_await c.reader.readline();  // "" once the server has closed
    replies.push_back(eof);
    metrics = registry.serialize();
  });
  CHECK(replies == std::vector<std::string>{"OK\n", "VALUE C++\n", "KEYS 1 lang\n", "DELETED\n", "NOT_FOUND\n",
                                            "ERR unknown command 'HELLO' (try GET, SET, DEL, KEYS, QUIT)\n",
                                            "BYE 7 commands\n", ""});
  CHECK(metrics.find("kv_commands_total{command=\"GET\"} 2") != std::string::npos);
  CHECK(metrics.find("kv_commands_total{command=\"invalid\"} 1") != std::string::npos);
  CHECK(metrics.find("aio_connections_accepted_total{server=\"kv\"} 1") != std::string::npos);
  CHECK(metrics.find("kv_keys 0") != std::string::npos);
}
// [kv-test-tcp]

TEST_CASE("kv_server: an over-long line is skipped through its newline, then the connection goes on") {
  kv::Config config;
  config.max_line = 64;
  std::vector<std::string> replies;
  with_server(config, [&](kv::KvServer&, aio::Server& server, aio::metrics::Registry&) -> aio::Task<void> {
    Client c = co_await connect(server);
    const std::string small(100, 'x');        // longer than the limit, all in one read
    const std::string huge(300 * 1024, 'y');  // longer than anything buffered at once
    for (const std::string& line : {small, huge, std::string("SET k v"), std::string("GET k")}) {
      auto reply = co_await c.ask(line);
      replies.push_back(reply);
    }
  });
  CHECK(replies == std::vector<std::string>{"ERR line too long (max 64 bytes)\n", "ERR line too long (max 64 bytes)\n",
                                            "OK\n", "VALUE v\n"});
}

TEST_CASE("kv_server: connections share one store") {
  std::vector<std::string> replies;
  with_server(kv::Config{}, [&](kv::KvServer& kv, aio::Server& server, aio::metrics::Registry&) -> aio::Task<void> {
    Client a = co_await connect(server);
    Client b = co_await connect(server);
    auto r1 = co_await a.ask("SET shared 1");
    auto r2 = co_await b.ask("GET shared");
    replies = {r1, r2, std::to_string(kv.store().size()), std::to_string(kv.sessions())};
  });
  CHECK(replies == std::vector<std::string>{"OK\n", "VALUE 1\n", "1", "2"});
}

// [kv-test-shutdown]
TEST_CASE("kv_server: the shutdown says BYE, closes every connection and frees the port") {
  std::vector<std::string> seen;
  bool refused = false;
  aio::metrics::Registry registry;
  kv::Config config;
  config.port = 0;
  auto test = [&]() -> aio::Task<void> {
    kv::KvServer kv(config, registry);
    aio::Server server = co_await kv.start();
    Client a = co_await connect(server);
    Client b = co_await connect(server);
    auto ok = co_await a.ask("SET x 1");
    seen.push_back(ok);
    co_await kv.shutdown(server);  // returns once no connection is left
    for (Client* c : {&a, &b}) {
      auto bye = co_await c->reader.readline();
      auto eof = co_await c->reader.readline();
      seen.push_back(bye + "|" + eof);
    }
    try {
      auto late = co_await aio::open_connection("127.0.0.1", server.port());
    } catch (const std::system_error&) {
      refused = true;  // nobody listens any more
    }
  };
  aio::run(test());
  CHECK(seen == std::vector<std::string>{"OK\n", "BYE server shutting down\n|", "BYE server shutting down\n|"});
  CHECK(refused);
}
// [kv-test-shutdown]

TEST_CASE("kv_server: a silent client is disconnected after the idle timeout") {
  kv::Config config;
  config.idle_timeout = 100ms;
  std::string got = "nothing";
  double waited = 0;
  with_server(config, [&](kv::KvServer&, aio::Server& server, aio::metrics::Registry&) -> aio::Task<void> {
    Client c = co_await connect(server);
    auto& loop = aio::get_running_loop();
    const double start = loop.time();
    try {
      got = co_await c.reader.readline();
    } catch (const aio::ConnectionResetError&) {
      got = "reset";
    }
    waited = loop.time() - start;
  });
  CHECK((got.empty() || got == "reset"));
  CHECK(waited >= 0.09);
  CHECK(waited < 5.0);
}

TEST_CASE("kv_server: connections beyond max_connections are refused") {
  kv::Config config;
  config.max_connections = 1;
  std::string first, second = "not closed";
  with_server(config, [&](kv::KvServer&, aio::Server& server, aio::metrics::Registry&) -> aio::Task<void> {
    Client a = co_await connect(server);
    first = co_await a.ask("KEYS");
    Client b = co_await connect(server);  // accepted by the kernel, closed by the server
    try {
      second = co_await b.ask("KEYS");
    } catch (const aio::ConnectionResetError&) {
      second = "";
    }
  });
  CHECK(first == "KEYS 0\n");
  CHECK(second.empty());
}
