// servers/common/duration.hpp — internal to the sample programs. Durations on the command line.
//
// "10s", "500ms", "2m", "1h", "250us" or a bare number of seconds ("1.5").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace aio::program {

using Duration = std::chrono::steady_clock::duration;

// The duration `text` names; nullopt when it names none (or a negative one).
std::optional<Duration> parse_duration(std::string_view text);

// A CLI11 check message: "" when `text` is a duration, else why not.
std::string check_duration(const std::string& text);

}  // namespace aio::program
