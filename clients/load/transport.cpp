// clients/load/transport.cpp — opening connections, plain and TLS.
#include <asio/connect.hpp>

#include "load.hpp"

namespace aio_load {

Shared::Shared(const Options& o) : opt(o), pattern(std::max<std::size_t>(o.size, 65536)) {
  if (opt.tls) {
    ssl = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    if (!opt.ca_file.empty()) {
      ssl->load_verify_file(opt.ca_file);
      ssl->set_verify_mode(asio::ssl::verify_peer);
    } else {
      ssl->set_verify_mode(asio::ssl::verify_none);
    }
  }
}

namespace {

aio::Task<bool> connect_tcp(asio::ip::tcp::socket& s, Shared& sh) {
  auto [ec] = co_await s.async_connect(sh.endpoint, tuple_awaitable);
  if (ec) co_return false;
  std::error_code ignored;
  s.set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return true;
}

}  // namespace

aio::Task<bool> open_stream(Plain& s, Shared& sh) { co_return co_await connect_tcp(s, sh); }

aio::Task<bool> open_stream(Tls& s, Shared& sh) {
  if (!co_await connect_tcp(s.next_layer(), sh)) co_return false;
  if (!sh.opt.ca_file.empty()) s.set_verify_callback(asio::ssl::host_name_verification(sh.opt.host));
  SSL_set_tlsext_host_name(s.native_handle(), sh.opt.host.c_str());
  auto [ec] = co_await s.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
  co_return !ec;
}

}  // namespace aio_load
