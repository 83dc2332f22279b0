// TLS through aio/tls.hpp, start_server(ssl) and open_connection(ssl), with
// certificates generated at test time (tests/support/certs.hpp).
#include <harness.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <array>

#include <optional>
#include <string>

#include <aio/connection.hpp>
#include <aio/metrics.hpp>
#include <aio/server.hpp>
#include <aio/streams.hpp>
#include <aio/tls.hpp>
#include <aio/use_task.hpp>
#include <certs.hpp>

using namespace std::chrono_literals;
using aio::StreamReader;
using aio::StreamWriter;
using aio::Task;
using aio::test::caught;
using aio::test::run_test;

namespace {

Task<void> line_echo(StreamReader r, StreamWriter w) {
  for (;;) {
    auto line = co_await r.readline();
    if (line.empty()) break;
    w.write(line);
    co_await w.drain();
  }
}

const aio::test::TestCerts& certs() {
  static aio::test::TestCerts c;
  return c;
}

}  // namespace

TEST_CASE("a TLS handshake and round trip with a verified certificate", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    auto server = co_await aio::start_server(line_echo, "127.0.0.1", 0, opts);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs().ca());
    copts.server_hostname = "localhost";
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    CHECK_FALSE(w.can_write_eof());
    w.write("secret\n");
    const std::string big(50000, 'b');
    w.write(big + "\n");
    co_await w.drain();
    CHECK(co_await r.readline() == "secret\n");
    CHECK(co_await r.readline() == big + "\n");
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a TLS connection the server closes ends with close_notify, not a truncated stream", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    aio::ClientConnected bye = [](StreamReader, StreamWriter w) -> Task<> {
      w.write("bye\n");
      w.close();
      co_await w.wait_closed();
    };
    auto server = co_await aio::start_server(bye, "127.0.0.1", 0, opts);
    // A raw asio::ssl client tells the two endings apart: close_notify reads
    // as asio::error::eof, a bare TCP close as ssl::error::stream_truncated.
    auto ctx = aio::tls::client_context({}, false);
    asio::ssl::stream<asio::ip::tcp::socket> s(co_await asio::this_coro::executor, *ctx);
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server.port());
    co_await s.lowest_layer().async_connect(ep, aio::use_task);
    co_await s.async_handshake(asio::ssl::stream_base::client, aio::use_task);
    std::string got;
    std::error_code end;
    std::array<char, 64> buf{};
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
      got.append(buf.data(), n);
      if (ec) {
        end = ec;
        break;
      }
    }
    CHECK(got == "bye\n");
    CHECK(end == asio::error::eof);
    auto [ignored] = co_await s.async_shutdown(asio::experimental::as_tuple(asio::use_awaitable));
    (void)ignored;
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a client refuses a certificate for another host name", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    auto server = co_await aio::start_server(line_echo, "127.0.0.1", 0, opts);
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs().ca());
    copts.server_hostname = "not-localhost.example";
    CHECK((co_await caught<std::system_error>(aio::open_connection("127.0.0.1", server.port(), copts))).has_value());
    // Opting out of verification connects.
    copts.ssl = aio::tls::client_context({}, false);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    w.write("ok\n");
    CHECK(co_await r.readline() == "ok\n");
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a plain-text client against a TLS port fails without harming the server", "[tls]") {
  aio::metrics::Registry registry;
  run_test([&]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    opts.name = "tls";
    opts.metrics = &registry;
    auto server = co_await aio::start_server(line_echo, "127.0.0.1", 0, opts);
    {
      auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
      w.write("GET / HTTP/1.0\r\n\r\n");
      const auto reply = co_await aio::wait_for(r.read(), 5s);
      CHECK(reply.size() < 4096);  // an alert at most, then EOF
    }
    aio::ConnectOptions copts;
    copts.ssl = aio::tls::client_context(certs().ca());
    copts.server_hostname = "localhost";
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    w.write("fine\n");
    CHECK(co_await r.readline() == "fine\n");
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
  CHECK(registry.serialize().find("aio_connections_rejected_total{reason=\"tls_handshake\",server=\"tls\"} 1") !=
        std::string::npos);
}

TEST_CASE("a silent client is dropped after the TLS handshake timeout", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(certs().cert(), certs().key());
    opts.ssl_handshake_timeout = 100ms;
    auto server = co_await aio::start_server(line_echo, "127.0.0.1", 0, opts);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(co_await aio::wait_for(r.read(), 5s) == "");
    CHECK(std::chrono::steady_clock::now() - t0 >= 80ms);
    CHECK(server.active_connections() == 0);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("start_tls upgrades a plain connection and keeps bytes already read", "[tls]") {
  run_test([]() -> Task<> {
    auto server_ctx = aio::tls::server_context(certs().cert(), certs().key());
    aio::ClientConnected starttls = [server_ctx](StreamReader r, StreamWriter w) -> Task<> {
      CHECK(co_await r.readline() == "STARTTLS\n");
      w.write("GO\n");
      co_await w.start_tls(server_ctx);
      co_await line_echo(r, w);
    };
    auto server = co_await aio::start_server(starttls, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    w.write("STARTTLS\n");
    CHECK(co_await r.readline() == "GO\n");
    auto client_ctx = aio::tls::client_context(certs().ca());
    const std::string host = "localhost";
    co_await w.start_tls(client_ctx, host);
    w.write("now encrypted\n");
    CHECK(co_await r.readline() == "now encrypted\n");
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}
