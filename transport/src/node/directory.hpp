#pragma once
// Private to the transport: the node's directory of local actors other
// nodes may address: published under a name, or exposed by id. Readers
// cache what they look up, keyed by `generation()`, which moves on every
// change. Its own lock; any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/detail/decoders.hpp"
#include "troupe/transport/node.hpp"

namespace troupe::transport {

/// A local actor other nodes may address.
struct exposed_actor {
  detail::cell_ptr cell;
  const std::type_info* type = nullptr;
  std::unordered_map<std::string, detail::message_decoder> accepts;  // by wire name
  /// What peers may do beyond sending and monitoring (a remote_control):
  /// grows when the actor is published again with more. Any thread.
  std::atomic<unsigned char> allow{0};
  [[nodiscard]] bool grants(remote_control what) const noexcept {
    return allows(static_cast<remote_control>(allow.load(std::memory_order_relaxed)), what);
  }
};

class actor_directory {
 public:
  /// Makes `c` reachable by id, and under `name` unless it is empty
  /// (replacing an earlier publication of the name), with the remote
  /// control `allow` grants (an actor exposed again keeps the larger
  /// grant). Actors that stopped are forgotten first. @throws
  /// std::invalid_argument for a null cell
  void publish(std::string name, detail::actor_cell* c, const std::type_info& type,
               std::vector<detail::message_decoder> accepts, remote_control allow);
  void unpublish(std::string_view name);
  /// The actor exposed as `id`, or nullptr (also once it stopped for good).
  [[nodiscard]] std::shared_ptr<exposed_actor> find(std::uint64_t id);
  /// The actor published as `name`, or nullptr (also once it stopped for good).
  [[nodiscard]] std::shared_ptr<exposed_actor> find(const std::string& name);
  /// True when some exposed actor accepts the type called `wire_name`.
  [[nodiscard]] bool knows_type(const std::string& wire_name) const;
  [[nodiscard]] std::uint64_t generation() const noexcept { return gen_.load(std::memory_order_acquire); }
  /// Forgets everything (the node stops).
  void clear();

 private:
  void purge_stopped_locked();
  /// A lookup found an actor that stopped: every stopped one goes, and readers' caches with them.
  void forget_stopped_locked();
  mutable std::mutex mx_;
  std::unordered_map<std::string, std::shared_ptr<exposed_actor>> published_;
  std::unordered_map<std::uint64_t, std::shared_ptr<exposed_actor>> exposed_;
  std::unordered_map<std::string, std::size_t> known_types_;  // wire name -> exposed actors accepting it
  std::atomic<std::uint64_t> gen_{0};
};

} // namespace troupe::transport
