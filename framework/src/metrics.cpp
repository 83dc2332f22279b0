// metrics.cpp — the prometheus-cpp side of aio/metrics.hpp: handles, Registry,
// Exposer and the /proc process collector.
//
// Why a combined collectable: prometheus-cpp's Exposer scrapes Collectables,
// and aio users scrape through Registry::serialize() too. Both must see the
// same families, including collectors that are not prometheus::Registry
// families (the process metrics, read at scrape time). So Registry::Impl owns
// a Combined collectable: the prometheus::Registry plus a list of extra
// collectables, merged on every Collect(), and the collect hooks that publish
// counts kept outside prometheus-cpp (ServerMetrics' byte counts) first.
// Exposers hold it by weak_ptr, so an Exposer outliving its Registry serves
// an empty page instead of crashing.
#include <aio/metrics.hpp>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace aio::metrics {

namespace {

prometheus::Counter* as_counter(void* p) { return static_cast<prometheus::Counter*>(p); }
prometheus::Gauge* as_gauge(void* p) { return static_cast<prometheus::Gauge*>(p); }
prometheus::Histogram* as_histogram(void* p) { return static_cast<prometheus::Histogram*>(p); }

}  // namespace

// ---- handles --------------------------------------------------------------

void Counter::inc(double v) const {
  if (p_) as_counter(p_)->Increment(v);
}
double Counter::value() const { return p_ ? as_counter(p_)->Value() : 0.0; }

void Gauge::set(double v) const {
  if (p_) as_gauge(p_)->Set(v);
}
void Gauge::inc(double v) const {
  if (p_) as_gauge(p_)->Increment(v);
}
void Gauge::dec(double v) const {
  if (p_) as_gauge(p_)->Decrement(v);
}
double Gauge::value() const { return p_ ? as_gauge(p_)->Value() : 0.0; }

void Histogram::observe(double v) const {
  if (p_) as_histogram(p_)->Observe(v);
}
std::uint64_t Histogram::count() const { return p_ ? as_histogram(p_)->Collect().histogram.sample_count : 0; }
double Histogram::sum() const { return p_ ? as_histogram(p_)->Collect().histogram.sample_sum : 0.0; }

// ---- registry -------------------------------------------------------------

namespace {

// The prometheus::Registry plus extra collectables, collected as one.
class Combined final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mutex_);
    for (const auto& hook : hooks_) hook.second();
    auto families = registry.Collect();
    for (const auto& extra : extras_) {
      auto more = extra->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    return families;
  }

  // Adds `c` once per `key`; false if `key` was added before.
  bool add_extra(const std::string& key, std::shared_ptr<prometheus::Collectable> c) {
    std::lock_guard lock(mutex_);
    for (const auto& k : keys_)
      if (k == key) return false;
    keys_.push_back(key);
    extras_.push_back(std::move(c));
    return true;
  }

  void add_hook(const void* key, std::function<void()> publish) {
    std::lock_guard lock(mutex_);
    for (auto& hook : hooks_)
      if (hook.first == key) {
        hook.second = std::move(publish);
        return;
      }
    hooks_.emplace_back(key, std::move(publish));
  }

  void remove_hook(const void* key) {
    std::lock_guard lock(mutex_);
    std::erase_if(hooks_, [key](const auto& hook) { return hook.first == key; });
  }

  prometheus::Registry registry;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<const void*, std::function<void()>>> hooks_;
  std::vector<std::string> keys_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extras_;
};

enum class Kind { counter, gauge, histogram };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::counter:
      return "counter";
    case Kind::gauge:
      return "gauge";
    case Kind::histogram:
      return "histogram";
  }
  return "?";
}

struct FamilyEntry {
  Kind kind;
  void* family;  // prometheus::Family<T>*
};

}  // namespace

struct Registry::Impl {
  std::shared_ptr<Combined> combined = std::make_shared<Combined>();
  std::mutex mutex;
  std::map<std::string, FamilyEntry> families;

  // The family named `name`, created on first use. Call with `mutex` held.
  template <class T, class Build>
  prometheus::Family<T>& family(const std::string& name, const std::string& help, Kind kind, Build build) {
    auto it = families.find(name);
    if (it != families.end()) {
      if (it->second.kind != kind)
        throw std::invalid_argument("aio::metrics: '" + name + "' is a " + kind_name(it->second.kind) +
                                    ", not a " + kind_name(kind));
      return *static_cast<prometheus::Family<T>*>(it->second.family);
    }
    auto& f = build().Name(name).Help(help).Register(combined->registry);
    families.emplace(name, FamilyEntry{kind, &f});
    return f;
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

namespace {

// prometheus-cpp reports bad names with std::invalid_argument already; other
// failures of its builders (e.g. a reserved label) are normalised to it.
template <class F>
auto checked(const std::string& name, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::invalid_argument("aio::metrics: '" + name + "': " + e.what());
  }
}

}  // namespace

Counter Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  return checked(name, [&] {
    std::lock_guard lock(impl_->mutex);
    auto& f = impl_->family<prometheus::Counter>(name, help, Kind::counter, prometheus::BuildCounter);
    return Counter(&f.Add(labels));
  });
}

Gauge Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  return checked(name, [&] {
    std::lock_guard lock(impl_->mutex);
    auto& f = impl_->family<prometheus::Gauge>(name, help, Kind::gauge, prometheus::BuildGauge);
    return Gauge(&f.Add(labels));
  });
}

Histogram Registry::histogram(const std::string& name, const std::string& help, const std::vector<double>& buckets,
                              const Labels& labels) {
  return checked(name, [&] {
    std::lock_guard lock(impl_->mutex);
    auto& f = impl_->family<prometheus::Histogram>(name, help, Kind::histogram, prometheus::BuildHistogram);
    return Histogram(&f.Add(labels, buckets));
  });
}

std::string Registry::serialize() const {
  const auto families = impl_->combined->Collect();
  return prometheus::TextSerializer().Serialize(families);
}

void Registry::add_collect_hook(const void* key, std::function<void()> publish) {
  impl_->combined->add_hook(key, std::move(publish));
}
void Registry::remove_collect_hook(const void* key) { impl_->combined->remove_hook(key); }

void* Registry::native() noexcept { return &impl_->combined->registry; }

// ---- exposer --------------------------------------------------------------

struct Exposer::Impl {
  std::shared_ptr<Combined> collectable;  // kept alive only by the Registry; see the file comment
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string host;
};

namespace {

// civetweb's listening_ports syntax: "HOST:PORT", "[V6]:PORT", or "PORT" for all IPv4.
std::string bind_address(const std::string& host, std::uint16_t port) {
  const std::string p = std::to_string(port);
  if (host.empty()) return p;
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]:" + p;
  return host + ":" + p;
}

}  // namespace

Exposer::Exposer(Registry& registry, const std::string& host, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  const std::string address = bind_address(host, port);
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(address, 2);
    impl_->host = host;
  } catch (const std::exception& e) {
    throw std::runtime_error("aio::metrics::Exposer: cannot listen on " + address + ": " + e.what());
  }
  std::weak_ptr<prometheus::Collectable> weak = registry.impl_->combined;
  impl_->exposer->RegisterCollectable(weak, "/metrics");
}

namespace {

// One TCP connection to the exposer's own port, closed at once (a knock).
void knock(const std::string& host, std::uint16_t port) {
  std::string h = host;
  if (!h.empty() && h.front() == '[') h = h.substr(1, h.size() - 2);
  sockaddr_in6 v6{};
  sockaddr_in v4{};
  const sockaddr* sa = nullptr;
  socklen_t len = 0;
  if (h.find(':') != std::string::npos) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    if (::inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) != 1 || IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr))
      v6.sin6_addr = in6addr_loopback;
    sa = reinterpret_cast<const sockaddr*>(&v6);
    len = sizeof v6;
  } else {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    if (h.empty() || ::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) != 1 || v4.sin_addr.s_addr == INADDR_ANY)
      v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa = reinterpret_cast<const sockaddr*>(&v4);
    len = sizeof v4;
  }
  const int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::connect(fd, sa, len);
  ::close(fd);
}

}  // namespace

// civetweb's mg_stop() sets a stop flag and waits for its master thread,
// which looks at the flag only between polls of the listening sockets, and
// that poll times out every 2 s (SOCKET_TIMEOUT_QUANTUM, civetweb 1.15): a
// server lingered up to 2 s after "stopped". A connection to the exposer's
// own port ends the poll; a helper thread knocks until the exposer is gone
// (a knock before the flag is set is served and the poll resumes).
Exposer::~Exposer() {
  if (!impl_ || !impl_->exposer) return;
  const std::uint16_t p = port();
  std::atomic<bool> gone{false};
  std::thread knocker([&gone, host = impl_->host, p] {
    while (!gone.load()) {
      knock(host, p);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  impl_->exposer.reset();
  gone = true;
  knocker.join();
}

std::uint16_t Exposer::port() const {
  const auto ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

// ---- process metrics ------------------------------------------------------

namespace {

// Reads /proc at every Collect(), as the Go and Python clients do.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    Stat st;
    const bool have_stat = read_stat(st);
    if (have_stat) {
      out.push_back(one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                        prometheus::MetricType::Counter, (st.utime + st.stime) / ticks_));
      out.push_back(one("process_resident_memory_bytes", "Resident memory size in bytes.",
                        prometheus::MetricType::Gauge, st.rss_pages * page_size_));
      out.push_back(one("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                        prometheus::MetricType::Gauge, st.vsize));
      if (boot_time_ > 0)
        out.push_back(one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                          prometheus::MetricType::Gauge, boot_time_ + st.starttime / ticks_));
    }
    const double fds = open_fds();
    if (fds >= 0)
      out.push_back(one("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge, fds));
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
      out.push_back(one("process_max_fds", "Maximum number of open file descriptors.", prometheus::MetricType::Gauge,
                        static_cast<double>(lim.rlim_cur)));
    return out;
  }

 private:
  struct Stat {
    double utime = 0, stime = 0, starttime = 0, vsize = 0, rss_pages = 0;
  };

  static prometheus::MetricFamily one(const char* name, const char* help, prometheus::MetricType type, double v) {
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter)
      m.counter.value = v;
    else
      m.gauge.value = v;
    f.metric.push_back(std::move(m));
    return f;
  }

  // /proc/self/stat: "pid (comm) state ppid ...": comm may hold spaces and
  // parentheses, so fields are counted from the last ')'. Field numbers as in proc(5).
  static bool read_stat(Stat& st) {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream fields(line.substr(close + 1));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
    // f[0] is field 3 (state); field N is f[N - 3].
    if (f.size() < 22) return false;
    try {
      st.utime = std::stod(f[14 - 3]);
      st.stime = std::stod(f[15 - 3]);
      st.starttime = std::stod(f[22 - 3]);
      st.vsize = std::stod(f[23 - 3]);
      st.rss_pages = std::stod(f[24 - 3]);
    } catch (const std::exception&) {
      return false;
    }
    return true;
  }

  static double read_boot_time() {
    std::ifstream in("/proc/stat");
    std::string key;
    double value = 0;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      if (ls >> key && key == "btime" && ls >> value) return value;
    }
    return 0;
  }

  // Entries of /proc/self/fd, less the one the listing itself holds open.
  static double open_fds() {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    const int own = dirfd(dir);
    double n = 0;
    while (const dirent* e = readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      if (std::to_string(own) == e->d_name) continue;
      ++n;
    }
    closedir(dir);
    return n;
  }

  double ticks_ = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page_size_ = static_cast<double>(sysconf(_SC_PAGESIZE));
  double boot_time_ = read_boot_time();
};

}  // namespace

void install_process_metrics(Registry& registry) {
  registry.impl_->combined->add_extra("process", std::make_shared<ProcessCollector>());
}

}  // namespace aio::metrics
