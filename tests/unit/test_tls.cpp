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
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <aio/connection.hpp>
#include <aio/locks.hpp>
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

// ---- what a TLS connection tells about itself (asyncio's get_extra_info) ----

namespace {

// Self-signed certificates, each its own CA, with subjectAltNames: a
// server's for "localhost" and a client's (what a server that verifies
// clients is given to trust).
class SelfSignedCerts {
 public:
  SelfSignedCerts() {
    char tmpl[] = "/tmp/aio-self-signed-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    make("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1");
    make("client", "/CN=aio test client/O=aio", "email:client@example.com,URI:spiffe://aio/client");
  }
  SelfSignedCerts(const SelfSignedCerts&) = delete;
  SelfSignedCerts& operator=(const SelfSignedCerts&) = delete;
  ~SelfSignedCerts() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string server_cert() const { return (dir_ / "server.pem").string(); }
  std::string server_key() const { return (dir_ / "server.key").string(); }
  std::string client_cert() const { return (dir_ / "client.pem").string(); }
  std::string client_key() const { return (dir_ / "client.key").string(); }

 private:
  void make(const std::string& name, const std::string& subject, const std::string& alt_names) const {
    const std::string d = dir_.string();
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '" + subject +
                            "' -addext 'subjectAltName=" + alt_names + "' -keyout " + d + "/" + name +
                            ".key -out " + d + "/" + name + ".pem >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  std::filesystem::path dir_;
};

const SelfSignedCerts& self_signed() {
  static SelfSignedCerts c;
  return c;
}

// A client of a self_signed() server.
aio::ConnectOptions self_signed_client() {
  aio::ConnectOptions copts;
  copts.ssl = aio::tls::client_context(self_signed().server_cert());
  copts.server_hostname = "localhost";
  return copts;
}

}  // namespace

TEST_CASE("a TLS client sees the server's certificate, the cipher and the protocol version", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(self_signed().server_cert(), self_signed().server_key());
    std::optional<bool> server_saw_cert;
    std::optional<aio::tls::Cipher> server_cipher;
    aio::ClientConnected handler = [&](StreamReader r, StreamWriter w) -> Task<> {
      server_saw_cert = w.peer_certificate().has_value();  // it asked for none
      server_cipher = w.cipher();
      co_await line_echo(r, w);
    };
    auto server = co_await aio::start_server(handler, "127.0.0.1", 0, opts);
    const auto copts = self_signed_client();
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    w.write("hi\n");
    CHECK(co_await r.readline() == "hi\n");

    const auto cert = w.peer_certificate();
    REQUIRE(cert.has_value());
    CHECK(cert->subject == "CN=localhost");
    CHECK(cert->issuer == "CN=localhost");  // self-signed
    CHECK_FALSE(cert->serial_number.empty());
    const auto now = std::chrono::system_clock::now();
    CHECK(cert->not_before <= now + 1min);
    CHECK(cert->not_after > now + 24h);
    CHECK(cert->not_after < now + 72h);
    using Name = std::pair<std::string, std::string>;
    CHECK(cert->subject_alt_names == std::vector<Name>{{"DNS", "localhost"}, {"IP Address", "127.0.0.1"}});
    CHECK(cert->pem.rfind("-----BEGIN CERTIFICATE-----\n", 0) == 0);
    // The PEM is the file the server presents.
    std::ifstream file(self_signed().server_cert());
    const std::string on_disk((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    CHECK(cert->pem == on_disk);

    const auto cipher = w.cipher();
    REQUIRE(cipher.has_value());
    CHECK_FALSE(cipher->name.empty());
    CHECK(cipher->secret_bits >= 128);
    const auto version = w.tls_version();
    REQUIRE(version.has_value());
    CHECK((*version == "TLSv1.3" || *version == "TLSv1.2"));
    CHECK(cipher->protocol.rfind("TLSv1", 0) == 0);
    CHECK(w.ssl_object() != nullptr);
    CHECK(w.ssl_context() == copts.ssl);

    REQUIRE(server_saw_cert.has_value());
    CHECK_FALSE(*server_saw_cert);
    REQUIRE(server_cipher.has_value());
    CHECK(server_cipher->name == cipher->name);

    w.close();
    co_await w.wait_closed();
    CHECK(w.ssl_object() == nullptr);
    CHECK_FALSE(w.peer_certificate().has_value());
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a plain connection has no certificate, cipher, version or SSL object", "[tls]") {
  run_test([]() -> Task<> {
    auto server = co_await aio::start_server(line_echo, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    CHECK_FALSE(w.peer_certificate().has_value());
    CHECK_FALSE(w.cipher().has_value());
    CHECK_FALSE(w.tls_version().has_value());
    CHECK(w.ssl_object() == nullptr);
    CHECK(w.ssl_context() == nullptr);
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("with mutual TLS the server sees the client's certificate", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(self_signed().server_cert(), self_signed().server_key());
    aio::tls::verify_client_certificates(*opts.ssl, self_signed().client_cert());
    aio::ClientConnected whoami = [](StreamReader r, StreamWriter w) -> Task<> {
      const auto peer = w.peer_certificate();
      std::string reply = peer ? peer->subject : "nobody";
      if (peer) {
        for (const auto& [type, value] : peer->subject_alt_names) reply += " " + type + "=" + value;
      }
      w.write(reply + "\n");
      co_await w.drain();
      co_await r.read();
    };
    auto server = co_await aio::start_server(whoami, "127.0.0.1", 0, opts);
    auto copts = self_signed_client();
    aio::tls::load_cert_chain(*copts.ssl, self_signed().client_cert(), self_signed().client_key());
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
    CHECK(co_await r.readline() == "O=aio,CN=aio test client email=client@example.com URI=spiffe://aio/client\n");
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("a server that requires client certificates turns away a client without one", "[tls]") {
  run_test([]() -> Task<> {
    aio::ServerOptions opts;
    opts.ssl = aio::tls::server_context(self_signed().server_cert(), self_signed().server_key());
    aio::tls::verify_client_certificates(*opts.ssl, self_signed().client_cert());
    int handled = 0;
    aio::ClientConnected count = [&handled](StreamReader r, StreamWriter w) -> Task<> {
      ++handled;
      co_await line_echo(r, w);
    };
    auto server = co_await aio::start_server(count, "127.0.0.1", 0, opts);
    const auto copts = self_signed_client();
    // TLS 1.3 ends the client's handshake before the server checks the
    // client: the refusal arrives as an alert on the first read.
    std::string got;
    bool refused = false;
    try {
      auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port(), copts);
      w.write("hello\n");
      got = co_await aio::wait_for(r.readline(), 5s);
    } catch (const std::system_error&) {
      refused = true;
    } catch (const aio::ConnectionResetError&) {
      refused = true;
    }
    CHECK((refused || got.empty()));
    CHECK(handled == 0);
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("load_cert_chain refuses a key that does not match the certificate", "[tls]") {
  auto ctx = aio::tls::client_context(certs().ca());
  CHECK_THROWS_AS(aio::tls::load_cert_chain(*ctx, self_signed().client_cert(), certs().key()), std::system_error);
}

// ---- start_tls's timeouts (asyncio's ssl_handshake_timeout, ssl_shutdown_timeout) ----

TEST_CASE("start_tls against a peer that never answers the ClientHello times out and closes", "[tls]") {
  run_test([]() -> Task<> {
    aio::Event peer_saw_eof;
    std::string peer_got;
    aio::ClientConnected silent = [&](StreamReader r, StreamWriter) -> Task<> {
      peer_got = co_await r.read();  // the ClientHello, then EOF once the client gives up
      peer_saw_eof.set();
    };
    auto server = co_await aio::start_server(silent, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    aio::StartTlsOptions tls_opts;
    tls_opts.server_hostname = "localhost";
    tls_opts.ssl_handshake_timeout = 200ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto e = co_await caught<aio::TimeoutError>(w.start_tls(aio::tls::client_context(certs().ca()), tls_opts));
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(e.has_value());
    CHECK(waited >= 150ms);
    CHECK(waited < 5s);
    CHECK(w.is_closing());
    co_await aio::wait_for(peer_saw_eof.wait(), 5s);
    CHECK_FALSE(peer_got.empty());  // a ClientHello was sent
    CHECK(co_await r.read() == "");
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("start_tls with a handshake timeout still upgrades when the peer answers in time", "[tls]") {
  run_test([]() -> Task<> {
    auto server_ctx = aio::tls::server_context(certs().cert(), certs().key());
    aio::ClientConnected starttls = [server_ctx](StreamReader r, StreamWriter w) -> Task<> {
      aio::StartTlsOptions o;
      o.ssl_handshake_timeout = 5s;
      co_await w.start_tls(server_ctx, o);
      CHECK(w.tls_version().has_value());
      co_await line_echo(r, w);
    };
    auto server = co_await aio::start_server(starttls, "127.0.0.1", 0);
    auto [r, w] = co_await aio::open_connection("127.0.0.1", server.port());
    aio::StartTlsOptions o;
    o.server_hostname = "localhost";
    o.ssl_handshake_timeout = 5s;
    co_await w.start_tls(aio::tls::client_context(certs().ca()), o);
    REQUIRE(w.peer_certificate().has_value());
    CHECK(w.peer_certificate()->subject == "CN=localhost");
    w.write("upgraded\n");
    CHECK(co_await r.readline() == "upgraded\n");
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST_CASE("after start_tls, a close the peer never answers ends at ssl_shutdown_timeout", "[tls]") {
  run_test([]() -> Task<> {
    // A raw asio::ssl peer that handshakes, then reads the TCP stream
    // underneath and never sends its close_notify.
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::acceptor acceptor(ex, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    auto server_ctx = aio::tls::server_context(certs().cert(), certs().key());
    std::chrono::steady_clock::time_point eof_at;
    auto peer = [&]() -> Task<> {
      auto sock = co_await acceptor.async_accept(aio::use_task);
      asio::ssl::stream<asio::ip::tcp::socket> s(std::move(sock), *server_ctx);
      co_await s.async_handshake(asio::ssl::stream_base::server, aio::use_task);
      std::array<char, 256> buf{};
      for (;;) {
        auto [ec, n] = co_await s.next_layer().async_read_some(asio::buffer(buf),
                                                                 asio::experimental::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec) break;
      }
      eof_at = std::chrono::steady_clock::now();
    };
    auto peer_task = aio::create_task(peer());
    auto [r, w] = co_await aio::open_connection("127.0.0.1", port);
    aio::StartTlsOptions o;
    o.server_hostname = "localhost";
    o.ssl_shutdown_timeout = 200ms;
    co_await w.start_tls(aio::tls::client_context(certs().ca()), o);
    const auto closed_at = std::chrono::steady_clock::now();
    w.close();
    co_await w.wait_closed();
    co_await aio::wait_for(peer_task.join(), 5s);
    // Not before the timeout, and long before the 30 s default.
    CHECK(eof_at - closed_at >= 150ms);
    CHECK(eof_at - closed_at < 5s);
  }());
}
