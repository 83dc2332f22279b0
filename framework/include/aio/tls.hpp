// aio/tls.hpp — public. Helpers that make asio::ssl contexts with sane defaults.
//
// Both refuse anything older than TLS 1.2. A client context verifies the
// peer's certificate (against ca_file, else the system's store) and
// open_connection then checks the host name too; verify = false is the
// explicit opt-out.
#pragma once

#include <memory>
#include <string>

namespace asio::ssl {
class context;
}

namespace aio::tls {

// Throws: std::system_error when a file cannot be loaded.
std::shared_ptr<asio::ssl::context> server_context(const std::string& cert_file, const std::string& key_file);

std::shared_ptr<asio::ssl::context> client_context(const std::string& ca_file = {}, bool verify = true);

}  // namespace aio::tls
