// clients/load/report.hpp — internal to aio-load. The closing summary, as text or JSON.
#pragma once

#include <cstdint>
#include <string>

#include "histogram.hpp"
#include "load.hpp"

namespace aio_load {

struct Totals {
  double seconds = 0;  // the measured window
  std::uint64_t round_trips = 0, bytes_sent = 0, bytes_received = 0;
  std::uint64_t errors = 0, connect_errors = 0, mismatches = 0, open = 0;
  std::uint64_t messages_sent = 0, messages_delivered = 0, messages_lost = 0;
  LogHistogram latency_ns;
};

// Human-readable summary (several lines).
std::string format_text(const Options& o, const Totals& t);
// One JSON object on one line.
std::string format_json(const Options& o, const Totals& t);

}  // namespace aio_load
