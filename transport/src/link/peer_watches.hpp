#pragma once
// Private to the transport: the monitors a peer holds on this node's actors
// in one session (MONITOR frames not undone by a DEMONITOR or a DOWN).
// Bounded (node_options::max_peer_monitors: one more ends the session, a
// bad frame), so a peer cannot make an actor's watcher list grow without
// end; and listed, so that when the session ends what the peer watched is
// forgotten (one pass per watched actor) instead of staying until the
// actor stops. A DEMONITOR of something not listed never reaches an actor.
//
// Threads: the reader adds and removes (MONITOR, DEMONITOR); a proxy turn
// removes (the DOWN it sends); the end of the session takes all. @threadsafe

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_set>
#include <vector>

namespace troupe::transport {

class peer_watches {
 public:
  explicit peer_watches(std::size_t max) noexcept : max_(max) {}

  enum class added { yes, already, full };
  /// The peer watches actor `target` under its monitor `ref`.
  added add(std::uint64_t target, std::uint64_t ref);
  /// The monitor is undone (or its DOWN sent): true when it was listed.
  bool remove(std::uint64_t target, std::uint64_t ref);
  /// The actors watched (each once); the list is empty after.
  std::vector<std::uint64_t> take_all();
  [[nodiscard]] std::size_t size();

 private:
  struct key {
    std::uint64_t target;
    std::uint64_t ref;
    friend bool operator==(const key&, const key&) = default;
  };
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept {
      return std::hash<std::uint64_t>{}(k.target * 0x9e3779b97f4a7c15ULL ^ k.ref);
    }
  };
  const std::size_t max_;
  std::mutex mx_;
  std::unordered_set<key, key_hash> held_;
};

} // namespace troupe::transport
