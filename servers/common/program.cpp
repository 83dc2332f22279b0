// servers/common/program.cpp — flags, logging and start-up shared by the sample servers.
#include "program.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstdio>

#include <aio/metrics.hpp>

namespace aio::program {

ServerProgram::ServerProgram(std::string name, std::string description, std::uint16_t default_port,
                             std::uint16_t default_metrics_port, ListenFlags listen)
    : name_(std::move(name)), registry_(std::make_unique<metrics::Registry>()), app_(std::move(description), name_) {
  config_.port = default_port;
  config_.metrics_port = default_metrics_port;
  auto& c = config_;
  app_.set_version_flag("--version", name_ + " " AIO_PROGRAM_VERSION);
  if (listen == ListenFlags::listen) {
    listen_ = format_host_port(c.host, default_port);
    add_env_option(app_, "listen", listen_, "HOST:PORT to listen on ([::]:PORT for IPv6; port 0: any free port)")
        ->check(check_host_port);
  } else {
    add_env_option(app_, "host", c.host,
                   "address to listen on (\"\": every IPv4 and IPv6 interface; \"::\": every IPv6 one)");
    add_env_option(app_, "port", c.port, "port to listen on (0: any free port; the log says which)");
  }
  app_.add_flag("--systemd", c.systemd,
                "serve the listening sockets systemd passes (LISTEN_FDS, LISTEN_PID: socket activation) "
                "instead of binding the address")
      ->envname("AIO_SYSTEMD");
  add_env_option(app_, "metrics-host", c.metrics_host, "address of the Prometheus /metrics endpoint");
  add_env_option(app_, "metrics-port", c.metrics_port, "port of the /metrics endpoint (0: any free port)");
  add_env_option(app_, "threads", c.threads, "event loops, one per thread, each with its own SO_REUSEPORT listener")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}));
  add_env_option(app_, "tls-cert", c.tls_cert, "serve TLS (1.2 or later) with this certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  add_env_option(app_, "tls-key", c.tls_key, "the private key of --tls-cert (PEM)")->check(CLI::ExistingFile);
  add_env_option(app_, "max-connections", c.max_connections,
                 "connections served at once; more are accepted and closed at once (0: no limit)");
  add_env_option(app_, "idle-timeout", c.idle_timeout, "close a connection idle that long (0: never)")
      ->check(check_duration);
  add_env_option(app_, "shutdown-timeout", c.shutdown_timeout,
                 "on SIGTERM/SIGINT, how long connections may finish before they are closed")
      ->check(check_duration);
  add_env_option(app_, "log-level", c.log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}));
}

ServerProgram::~ServerProgram() = default;

std::optional<int> ServerProgram::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, named after the program, as a shell user expects of a bad flag.
    std::fprintf(stderr, "%s: %s (see --help)\n", name_.c_str(), e.what());
    return 2;
  }
  if (!listen_.empty()) {
    auto hp = parse_host_port(listen_);  // checked by CLI11 already
    config_.host = hp->host;
    config_.port = hp->port;
  }
  if (config_.tls_cert.empty() != config_.tls_key.empty()) {
    std::fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", name_.c_str());
    return 2;
  }
  return std::nullopt;
}

void setup_logging(const std::string& program, const std::string& level) {
  // Several loops may log at once: the thread-safe sink.
  auto logger = std::make_shared<spdlog::logger>(program, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level == "warning" ? "warn" : level));
  logger->flush_on(spdlog::level::trace);  // one line per event, never held back
  spdlog::set_default_logger(logger);
}

void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace aio::program
