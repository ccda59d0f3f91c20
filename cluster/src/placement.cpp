#include "placement.hpp"

namespace troupe::cluster_detail {

std::uint64_t stable_hash(std::string_view a, std::string_view b, std::string_view c) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto feed = [&h](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;  // a separator no byte of a name can fake ("ab"+"c" differs from "a"+"bc")
    h *= 0x100000001b3ULL;
  };
  feed(a);
  feed(b);
  feed(c);
  // splitmix64's finaliser: FNV's low bits are weak.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string owner_of(std::string_view kind, std::string_view identity, const std::vector<const member*>& candidates) {
  const member* best = nullptr;
  std::uint64_t best_score = 0;
  for (const member* m : candidates) {
    const std::uint64_t score = stable_hash(m->name, kind, identity);
    if (best == nullptr || score > best_score || (score == best_score && m->name < best->name)) {
      best = m;
      best_score = score;
    }
  }
  return best ? best->name : std::string();
}

} // namespace troupe::cluster_detail
