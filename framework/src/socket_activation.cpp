// listen_fds: sd_listen_fds(3) without libsystemd.
#include <aio/socket_activation.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include <aio/exceptions.hpp>

namespace aio {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

// The variable's value as a number; -1 when it is unset.
long long env_number(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return -1;
  const std::string_view text(value);
  long long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n < 0)
    throw ValueError(std::string(name) + " is not a number: '" + std::string(text) + "'");
  return n;
}

std::vector<int> inherited_fds() {
  const long long pid = env_number("LISTEN_PID");
  if (pid < 0 || pid != static_cast<long long>(::getpid())) return {};
  const long long n = env_number("LISTEN_FDS");
  if (n <= 0) return {};
  std::vector<int> fds;
  for (long long i = 0; i < n; ++i) {
    const int fd = kFirstFd + static_cast<int>(i);
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
      throw std::system_error(errno, std::system_category(), "listen_fds: descriptor " + std::to_string(fd));
    fds.push_back(fd);
  }
  return fds;
}

}  // namespace

std::vector<int> listen_fds(bool unset_environment) {
  struct Unset {  // on every outcome, as sd_listen_fds
    bool armed;
    ~Unset() {
      if (!armed) return;
      ::unsetenv("LISTEN_PID");
      ::unsetenv("LISTEN_FDS");
      ::unsetenv("LISTEN_FDNAMES");
    }
  } unset{unset_environment};
  return inherited_fds();
}

}  // namespace aio
