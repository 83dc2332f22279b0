// servers/proxy/balance.cpp — the balancing policies.
#include "balance.hpp"

#include <algorithm>

namespace proxy {

std::optional<Policy> parse_policy(std::string_view name) {
  if (name == "round-robin") return Policy::round_robin;
  if (name == "least-conn") return Policy::least_conn;
  if (name == "random") return Policy::random;
  if (name == "source-hash") return Policy::source_hash;
  return std::nullopt;
}

namespace {
std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ULL) noexcept {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}
}  // namespace

std::uint64_t rendezvous_score(std::string_view client, std::string_view upstream) noexcept {
  return mix(fnv1a(upstream, fnv1a(client) ^ 0x9e3779b97f4a7c15ULL));
}

Balancer::Balancer(Policy policy, std::uint64_t seed) : policy_(policy), rng_(seed) {}

std::size_t Balancer::choose(std::span<const Candidate> c, std::string_view client) {
  const std::size_t n = c.size();
  if (n == 1) return 0;
  switch (policy_) {
    case Policy::round_robin:
      return next_++ % n;
    case Policy::least_conn: {
      // Scan from a rotating start so that ties go round in turn.
      const std::size_t start = next_++ % n;
      std::size_t best = start;
      for (std::size_t k = 1; k < n; ++k) {
        const std::size_t i = (start + k) % n;
        if (c[i].active < c[best].active) best = i;
      }
      return best;
    }
    case Policy::random: {
      std::uniform_int_distribution<std::size_t> pick(0, n - 1);
      const std::size_t a = pick(rng_);
      std::size_t b = pick(rng_);
      if (b == a) b = (a + 1) % n;
      return c[b].active < c[a].active ? b : a;
    }
    case Policy::source_hash: {
      std::size_t best = 0;
      std::uint64_t best_score = rendezvous_score(client, c[0].key);
      for (std::size_t i = 1; i < n; ++i) {
        const auto s = rendezvous_score(client, c[i].key);
        if (s > best_score) best = i, best_score = s;
      }
      return best;
    }
  }
  return 0;
}

Picker::Picker(const UpstreamSet& set, Policy policy) : set_(set), balancer_(policy) {}

UpstreamPtr Picker::pick(std::string_view client, std::span<const Upstream* const> exclude) {
  if (const auto v = set_.version(); v != seen_version_) {
    view_ = set_.snapshot();
    seen_version_ = v;
  }
  candidates_.clear();
  chosen_from_.clear();
  for (std::size_t i = 0; i < view_.size(); ++i) {
    const auto& u = view_[i];
    if (!u->eligible() || std::find(exclude.begin(), exclude.end(), u.get()) != exclude.end()) continue;
    candidates_.push_back({u->label(), u->active()});
    chosen_from_.push_back(i);
  }
  if (candidates_.empty()) return nullptr;
  return view_[chosen_from_[balancer_.choose(candidates_, client)]];
}

}  // namespace proxy
