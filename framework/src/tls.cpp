// TLS context helpers: TLS 1.2 minimum, peers verified by default.
#include <aio/tls.hpp>

#include <asio/ssl/context.hpp>

#include <openssl/ssl.h>

namespace aio::tls {
namespace {

std::shared_ptr<asio::ssl::context> make(asio::ssl::context::method method) {
  auto ctx = std::make_shared<asio::ssl::context>(method);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

}  // namespace

std::shared_ptr<asio::ssl::context> server_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = make(asio::ssl::context::tls_server);
  ctx->use_certificate_chain_file(cert_file);
  ctx->use_private_key_file(key_file, asio::ssl::context::pem);
  return ctx;
}

std::shared_ptr<asio::ssl::context> client_context(const std::string& ca_file, bool verify) {
  auto ctx = make(asio::ssl::context::tls_client);
  if (!verify) {
    ctx->set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  if (ca_file.empty()) {
    ctx->set_default_verify_paths();
  } else {
    ctx->load_verify_file(ca_file);
  }
  return ctx;
}

}  // namespace aio::tls
