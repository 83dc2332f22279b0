// clients/load/report.cpp — the closing summary of aio-load.
#include "report.hpp"

#include <fmt/format.h>

namespace aio_load {
namespace {

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }
double per_s(std::uint64_t v, double s) { return s > 0 ? static_cast<double>(v) / s : 0.0; }

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string format_text(const Options& o, const Totals& t) {
  const auto& h = t.latency_ns;
  std::string out = fmt::format("aio-load {} {}:{}  connections={} size={} pipeline={} threads={}{}{}\n", o.mode,
                                o.host, o.port, o.connections, o.size, o.pipeline, o.threads, o.tls ? " tls" : "",
                                o.rate > 0 ? fmt::format(" rate={}/s", o.rate) : "");
  if (o.mode == "chat") {
    out += fmt::format("  lines sent       {} ({:.0f}/s)\n", t.messages_sent, per_s(t.messages_sent, t.seconds));
    out += fmt::format("  lines delivered  {} ({:.0f}/s), lost {}\n", t.messages_delivered,
                       per_s(t.messages_delivered, t.seconds), t.messages_lost);
  } else {
    out += fmt::format("  round trips      {} in {:.2f} s = {:.0f}/s\n", t.round_trips, t.seconds,
                       per_s(t.round_trips, t.seconds));
  }
  out += fmt::format("  throughput       {:.2f} MB/s received, {:.2f} MB/s sent\n",
                     per_s(t.bytes_received, t.seconds) / 1e6, per_s(t.bytes_sent, t.seconds) / 1e6);
  out += fmt::format("  latency (us)     p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}\n",
                     us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)),
                     us(h.max()), h.mean() / 1000.0);
  if (o.mode == "idle") out += fmt::format("  open at the end  {} of {}\n", t.open, o.connections);
  out += fmt::format("  errors           {} (connect {}), mismatched bytes {}\n", t.errors, t.connect_errors,
                     t.mismatches);
  return out;
}

std::string format_json(const Options& o, const Totals& t) {
  const auto& h = t.latency_ns;
  return fmt::format(
      "{{\"mode\":\"{}\",\"host\":\"{}\",\"port\":{},\"connections\":{},\"size\":{},\"pipeline\":{},"
      "\"threads\":{},\"tls\":{},\"rate\":{},\"duration_s\":{:.3f},"
      "\"round_trips\":{},\"round_trips_per_s\":{:.1f},\"bytes_sent\":{},\"bytes_received\":{},"
      "\"mb_per_s\":{:.3f},\"latency_us\":{{\"p50\":{:.1f},\"p90\":{:.1f},\"p99\":{:.1f},\"p999\":{:.1f},"
      "\"max\":{:.1f},\"mean\":{:.1f},\"count\":{}}},"
      "\"messages_sent\":{},\"messages_delivered\":{},\"messages_delivered_per_s\":{:.1f},\"messages_lost\":{},"
      "\"open_connections\":{},\"errors\":{},\"connect_errors\":{},\"mismatches\":{}}}",
      json_escape(o.mode), json_escape(o.host), o.port, o.connections, o.size, o.pipeline, o.threads,
      o.tls ? "true" : "false", o.rate, t.seconds, t.round_trips, per_s(t.round_trips, t.seconds), t.bytes_sent,
      t.bytes_received, per_s(t.bytes_received, t.seconds) / 1e6, us(h.quantile(0.5)), us(h.quantile(0.9)),
      us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()), h.mean() / 1000.0, h.count(), t.messages_sent,
      t.messages_delivered, per_s(t.messages_delivered, t.seconds), t.messages_lost, t.open, t.errors, t.connect_errors,
      t.mismatches);
}

}  // namespace aio_load
