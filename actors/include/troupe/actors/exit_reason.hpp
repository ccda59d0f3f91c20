#pragma once
/// @file Why an actor stopped, and why a message was not delivered.

#include <string_view>

namespace troupe {

/// Why an actor stopped.
enum class exit_reason : unsigned char {
  normal,     ///< it called stop() itself
  stopped,    ///< somebody asked it to stop (ref.stop(), system shutdown)
  exception,  ///< a handler or hook threw
  killed,     ///< stopped without running its stop hook
  node_down,  ///< its node became unreachable (transport)
};

[[nodiscard]] std::string_view to_string(exit_reason r) noexcept;

/// Why a message became a dead letter (was not delivered). Each is counted
/// and logged once per cause (rate-limited) by the actor system.
enum class drop_reason : unsigned char {
  receiver_stopped, ///< sent to (or queued in) an actor that stopped
  mailbox_full,     ///< refused by a full mailbox with policy `fail`
  dropped_newest,   ///< discarded by a full mailbox with policy `drop_newest`
  dropped_oldest,   ///< evicted from a full mailbox with policy `drop_oldest`
  late_reply,       ///< a reply that arrived after its ask timed out
  node_down,        ///< sent to (or queued for) an actor on a node that became unreachable
  not_serializable, ///< sent to a remote actor, but its type cannot cross the network (no protobuf, no codec)
  not_exposed,      ///< arrived from another node for an actor (or a message type) this node does not expose
  malformed,        ///< arrived from another node, but its bytes did not decode as its type
  not_activated,    ///< sent to a cluster's virtual actor that could not be activated (no member hosts its kind, etcd unreachable)
  spill_damaged,    ///< spilled to disk, then lost to damage in its spill file (a corrupt stretch, a deleted file)
};

inline constexpr std::size_t drop_reason_count = 11;

[[nodiscard]] std::string_view to_string(drop_reason r) noexcept;

} // namespace troupe
