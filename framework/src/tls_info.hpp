// framework/src/tls_info.hpp — private. What an established OpenSSL connection negotiated, decoded.
//
// Behind StreamWriter's peer_certificate(), cipher() and tls_version(), so
// that streams.cpp needs no OpenSSL headers of its own. Each takes the
// connection's SSL* (nullptr for a plain one: std::nullopt).
#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>

#include <aio/tls.hpp>

namespace aio::detail {

std::optional<tls::PeerCertificate> peer_certificate(SSL* ssl);
std::optional<tls::Cipher> negotiated_cipher(SSL* ssl);
// "TLSv1.3", once the handshake is done.
std::optional<std::string> tls_version(SSL* ssl);

}  // namespace aio::detail
