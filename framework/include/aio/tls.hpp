// aio/tls.hpp — public. asio::ssl contexts with sane defaults, and what a TLS connection tells about itself.
//
// Both context helpers refuse anything older than TLS 1.2. A client context
// verifies the peer's certificate (against ca_file, else the system's store)
// and open_connection then checks the host name too; verify = false is the
// explicit opt-out. Mutual TLS is two more calls: load_cert_chain on the
// client's context, verify_client_certificates on the server's.
//
// PeerCertificate and Cipher are what StreamWriter::peer_certificate() and
// cipher() return: asyncio's get_extra_info("peercert") and ("cipher").
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace asio::ssl {
class context;
}

namespace aio::tls {

// Throws: std::system_error when a file cannot be loaded.
std::shared_ptr<asio::ssl::context> server_context(const std::string& cert_file, const std::string& key_file);

std::shared_ptr<asio::ssl::context> client_context(const std::string& ca_file = {}, bool verify = true);

// The certificate (chain, leaf first) and private key this side presents,
// as Python's SSLContext.load_cert_chain: a client's certificate for mutual
// TLS, or a server's where server_context does not fit.
// Throws: std::system_error when a file cannot be loaded or the key does not
// match the certificate.
void load_cert_chain(asio::ssl::context& ctx, const std::string& cert_file, const std::string& key_file);

// Makes a server ask its clients for a certificate and verify it against
// the CAs in `ca_file` (Python's verify_mode = CERT_REQUIRED, or
// CERT_OPTIONAL when `required` is false: a client without a certificate is
// then let in, one with a bad certificate is not).
// Throws: std::system_error when `ca_file` cannot be loaded.
void verify_client_certificates(asio::ssl::context& ctx, const std::string& ca_file, bool required = true);

// The peer's certificate, decoded. Unlike Python's getpeercert(), it is
// returned whether or not the certificate was verified (Python returns {}
// under CERT_NONE); `pem` is the certificate itself (Python's
// getpeercert(binary_form=True), in PEM).
struct PeerCertificate {
  std::string subject;  // RFC 2253, most specific first: "CN=localhost,O=Example"
  std::string issuer;
  std::string serial_number;  // upper-case hex
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  // (type, value) as Python's subjectAltName: {"DNS", "localhost"},
  // {"IP Address", "127.0.0.1"}, {"email", ...}, {"URI", ...}.
  std::vector<std::pair<std::string, std::string>> subject_alt_names;
  std::string pem;
};

// The negotiated cipher, as the tuple Python's SSLSocket.cipher() returns.
struct Cipher {
  std::string name;      // "TLS_AES_256_GCM_SHA384"
  std::string protocol;  // the protocol version that defined it: "TLSv1.3"
  int secret_bits = 0;
};

}  // namespace aio::tls
