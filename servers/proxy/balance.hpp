// servers/proxy/balance.hpp — choosing an upstream for a new client.
//
// The four policies of `--balance`, as HAProxy names them:
//   round-robin  each eligible upstream in turn;
//   least-conn   the one with the fewest open relays (ties in turn);
//   random       power of two choices (HAProxy's random(2)): the less
//                loaded of two picked at random;
//   source-hash  rendezvous hashing of the client's address: one client
//                address keeps its upstream, and when an upstream leaves
//                (or comes back) only the clients that hash to it move.
//
// choose() is pure (candidates in, index out) so the unit tests pin the
// policies down; Picker applies it to a loop's view of an UpstreamSet.
//
// Concurrency: a Balancer and a Picker belong to one loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "upstream.hpp"

namespace proxy {

enum class Policy { round_robin, least_conn, random, source_hash };

std::optional<Policy> parse_policy(std::string_view name);

struct Candidate {
  std::string_view key;  // the upstream's label (source-hash)
  int active = 0;        // its open relays (least-conn, random)
};

class Balancer {
 public:
  explicit Balancer(Policy policy, std::uint64_t seed = std::random_device{}());

  // The index of the candidate to use; `candidates` is not empty.
  // `client` is the client's address without its port (source-hash).
  std::size_t choose(std::span<const Candidate> candidates, std::string_view client);

 private:
  Policy policy_;
  std::size_t next_ = 0;
  std::mt19937_64 rng_;
};

// The rendezvous score of `upstream` for `client` (source-hash): the
// upstream with the highest score takes the client.
std::uint64_t rendezvous_score(std::string_view client, std::string_view upstream) noexcept;

class Picker {
 public:
  Picker(const UpstreamSet& set, Policy policy);

  // An eligible upstream not in `exclude`, by the policy; nullptr when none is left.
  UpstreamPtr pick(std::string_view client, std::span<const Upstream* const> exclude);

 private:
  const UpstreamSet& set_;
  Balancer balancer_;
  std::vector<UpstreamPtr> view_;
  std::uint64_t seen_version_ = ~std::uint64_t{0};
  std::vector<Candidate> candidates_;
  std::vector<std::size_t> chosen_from_;  // candidates_[i] is view_[chosen_from_[i]]
};

}  // namespace proxy
