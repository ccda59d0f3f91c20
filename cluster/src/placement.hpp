#pragma once
// Private to the cluster: where an identity lives. Rendezvous (highest
// random weight) hashing: each member hosting the kind gets a score from a
// hash of (member, kind, identity); the highest wins. Every member computes
// the same owner from the same member list, with no coordination, and when
// a member goes only the identities it owned move.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/cluster.hpp"

namespace troupe::cluster_detail {

/// A stable 64-bit hash (FNV-1a, then a final mix): the same on every
/// machine and build, unlike std::hash.
[[nodiscard]] std::uint64_t stable_hash(std::string_view a, std::string_view b, std::string_view c) noexcept;

/// The member among `candidates` that owns `identity` of `kind` (its name),
/// or "" when there is none.
[[nodiscard]] std::string owner_of(std::string_view kind, std::string_view identity,
                                   const std::vector<const member*>& candidates);

} // namespace troupe::cluster_detail
