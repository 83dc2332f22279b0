// TLS context helpers (TLS 1.2 minimum, peers verified by default) and the
// decoding of what a TLS connection negotiated (tls_info.hpp).
#include <aio/tls.hpp>

#include <asio/ssl/context.hpp>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <ctime>

#include "tls_info.hpp"

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

void load_cert_chain(asio::ssl::context& ctx, const std::string& cert_file, const std::string& key_file) {
  ctx.use_certificate_chain_file(cert_file);
  ctx.use_private_key_file(key_file, asio::ssl::context::pem);
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "load_cert_chain: the private key does not match the certificate");
}

void verify_client_certificates(asio::ssl::context& ctx, const std::string& ca_file, bool required) {
  ctx.load_verify_file(ca_file);
  // The CAs' names go into the CertificateRequest, so that a client holding
  // several certificates can pick one they accept.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str())) {
    SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
  }
  auto mode = asio::ssl::verify_peer;
  if (required) mode |= asio::ssl::verify_fail_if_no_peer_cert;
  ctx.set_verify_mode(mode);
}

}  // namespace aio::tls

namespace aio::detail {
namespace {

// The BIO's contents, as a string.
std::string drain_bio(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string name_string(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  auto out = drain_bio(bio);
  BIO_free(bio);
  return out;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string ip_string(const ASN1_OCTET_STRING* ip) {
  char text[INET6_ADDRSTRLEN] = {};
  const int len = ASN1_STRING_length(ip);
  const unsigned char* bytes = ASN1_STRING_get0_data(ip);
  if (len == 4) {
    ::inet_ntop(AF_INET, bytes, text, sizeof text);
  } else if (len == 16) {
    ::inet_ntop(AF_INET6, bytes, text, sizeof text);
  } else {
    return "<invalid>";
  }
  return text;
}

std::string ia5_string(const ASN1_IA5STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::vector<std::pair<std::string, std::string>> alt_names(X509* cert) {
  std::vector<std::pair<std::string, std::string>> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    switch (gn->type) {
      case GEN_DNS:
        out.emplace_back("DNS", ia5_string(gn->d.dNSName));
        break;
      case GEN_IPADD:
        out.emplace_back("IP Address", ip_string(gn->d.iPAddress));
        break;
      case GEN_EMAIL:
        out.emplace_back("email", ia5_string(gn->d.rfc822Name));
        break;
      case GEN_URI:
        out.emplace_back("URI", ia5_string(gn->d.uniformResourceIdentifier));
        break;
      case GEN_DIRNAME:
        out.emplace_back("DirName", name_string(gn->d.directoryName));
        break;
      default:
        break;  // as Python: other kinds are left out
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string serial_string(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  if (bn == nullptr) return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string pem_string(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  PEM_write_bio_X509(bio, cert);
  auto out = drain_bio(bio);
  BIO_free(bio);
  return out;
}

}  // namespace

std::optional<tls::PeerCertificate> peer_certificate(SSL* ssl) {
  if (ssl == nullptr) return std::nullopt;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  X509* cert = SSL_get1_peer_certificate(ssl);
#else
  X509* cert = SSL_get_peer_certificate(ssl);
#endif
  if (cert == nullptr) return std::nullopt;
  tls::PeerCertificate out;
  out.subject = name_string(X509_get_subject_name(cert));
  out.issuer = name_string(X509_get_issuer_name(cert));
  out.serial_number = serial_string(cert);
  out.not_before = to_time_point(X509_get0_notBefore(cert));
  out.not_after = to_time_point(X509_get0_notAfter(cert));
  out.subject_alt_names = alt_names(cert);
  out.pem = pem_string(cert);
  X509_free(cert);
  return out;
}

std::optional<tls::Cipher> negotiated_cipher(SSL* ssl) {
  const SSL_CIPHER* c = ssl != nullptr ? SSL_get_current_cipher(ssl) : nullptr;
  if (c == nullptr) return std::nullopt;
  tls::Cipher out;
  out.name = SSL_CIPHER_get_name(c);
  out.protocol = SSL_CIPHER_get_version(c);
  out.secret_bits = SSL_CIPHER_get_bits(c, nullptr);
  return out;
}

std::optional<std::string> tls_version(SSL* ssl) {
  if (ssl == nullptr || SSL_is_init_finished(ssl) != 1) return std::nullopt;
  return std::string(SSL_get_version(ssl));
}

}  // namespace aio::detail
