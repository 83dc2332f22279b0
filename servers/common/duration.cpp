// servers/common/duration.cpp — parsing durations such as "10s" or "500ms".
#include "duration.hpp"

#include <charconv>
#include <cmath>

namespace aio::program {

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || !std::isfinite(value) || value < 0) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double seconds = 0;
  if (unit.empty() || unit == "s")
    seconds = value;
  else if (unit == "ms")
    seconds = value / 1e3;
  else if (unit == "us")
    seconds = value / 1e6;
  else if (unit == "m")
    seconds = value * 60;
  else if (unit == "h")
    seconds = value * 3600;
  else
    return std::nullopt;
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

std::string check_duration(const std::string& text) {
  return parse_duration(text) ? std::string{} : "not a duration (like 10s, 500ms, 2m): " + text;
}

}  // namespace aio::program
