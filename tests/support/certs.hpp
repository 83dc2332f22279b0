// tests/support/certs.hpp — test certificates, generated at test time with the openssl CLI.
//
// A throw-away CA and a server certificate for "localhost" and 127.0.0.1,
// written into a fresh temporary directory that is removed afterwards.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace aio::test {

class TestCerts {
 public:
  TestCerts() {
    char tmpl[] = "/tmp/aio-certs-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string d = dir_.string();
    const std::string ext = d + "/ext.cnf";
    run("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > " + ext);
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=aio test CA' -keyout " + d + "/ca.key -out " +
        d + "/ca.pem");
    run("openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout " + d + "/server.key -out " + d +
        "/server.csr");
    run("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
        "/ca.key -CAcreateserial -days 2 -extfile " + ext + " -out " + d + "/server.pem");
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;
  ~TestCerts() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string ca() const { return (dir_ / "ca.pem").string(); }
  std::string cert() const { return (dir_ / "server.pem").string(); }
  std::string key() const { return (dir_ / "server.key").string(); }

 private:
  static void run(const std::string& cmd) {
    const std::string quiet = cmd + " >/dev/null 2>&1";
    if (std::system(quiet.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  std::filesystem::path dir_;
};

}  // namespace aio::test
