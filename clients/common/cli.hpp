// clients/common/cli.hpp — command-line conventions the clients share with the servers.
//
// Durations are written as the servers take them ("2s", "250ms", "1.5" for
// seconds), and a bad flag is one line naming the program, exit status 2.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "duration.hpp"

namespace aio::clients {

// A flag holding a duration, kept as seconds in `seconds`; `positive`
// refuses 0 where a zero duration means nothing.
inline CLI::Option* add_duration_option(CLI::App& app, const std::string& name, double& seconds,
                                        const std::string& help, bool positive = true) {
  auto set = [&seconds](const std::string& text) {
    seconds = std::chrono::duration<double>(*aio::program::parse_duration(text)).count();
  };
  auto check = [positive](const std::string& text) -> std::string {
    auto d = aio::program::parse_duration(text);
    if (!d) return "not a duration (like 10s, 500ms, 2m): " + text;
    if (positive && d->count() == 0) return "must be more than 0: " + text;
    return {};
  };
  char shown[32];
  std::snprintf(shown, sizeof shown, "%gs", seconds);
  return app.add_option_function<std::string>(name, set, help)->check(check)->default_str(shown);
}

// Parses the command line: nullopt to go on, else the status to exit with
// (0 after --help).
inline std::optional<int> parse_or_exit(CLI::App& app, int argc, char** argv, const char* program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program, e.what());
    return 2;
  }
  return std::nullopt;
}

}  // namespace aio::clients
