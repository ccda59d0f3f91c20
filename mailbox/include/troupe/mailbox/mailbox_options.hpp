#pragma once
/// @file Capacity and overflow policy of a mailbox, chosen by name where an
/// actor is spawned: `mailbox_options{.capacity = 1024, .policy = overflow::fail}`.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace troupe {

/// What happens to a message sent to a mailbox that already holds `capacity`.
enum class overflow : unsigned char {
  /// Accept the message, then mute the sending actor: it is not scheduled
  /// again until the receiver drains to `low_water`. No worker thread ever
  /// blocks; a thread outside the actor system blocks before sending instead.
  mute_sender,
  /// Refuse the message; `tell` reports `send_result::full` to the sender.
  fail,
  /// Discard the message being sent (counted and logged as dropped).
  drop_newest,
  /// Accept the message and discard the oldest queued one (counted and
  /// logged) when the receiver next runs. While it is busy the mailbox holds
  /// up to twice the capacity; past that new messages are refused as
  /// `drop_newest` would, so memory stays bounded.
  drop_oldest,
};

/// Name of a policy as accepted by `parse_overflow`.
[[nodiscard]] std::string_view to_string(overflow o) noexcept;

/// Parses "mute_sender", "fail", "drop_newest" or "drop_oldest" (for
/// configuration files). Returns nullopt for anything else.
[[nodiscard]] std::optional<overflow> parse_overflow(std::string_view name) noexcept;

/// Parses a policy name like `parse_overflow`, for configuration given by a
/// user: @throws std::invalid_argument naming the bad value and the valid ones.
[[nodiscard]] overflow overflow_from_name(std::string_view name);

/// Bound and policy of one mailbox.
struct mailbox_options {
  /// Capacity that means "no bound". Unbounded is an explicit choice.
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  /// Messages the mailbox holds before the overflow policy applies. At least 1.
  /// Exact for a single sender; with S concurrent senders the queue may
  /// briefly exceed it by at most S - 1 (each checks, then enqueues).
  std::size_t capacity = 1024;
  /// Policy applied when `capacity` is reached.
  overflow policy = overflow::mute_sender;
  /// Muted senders resume when the depth falls to this. Must be below
  /// `capacity`; nullopt means capacity / 2.
  std::optional<std::size_t> low_water{};

  /// Options for an unbounded mailbox (the policy never applies).
  [[nodiscard]] static mailbox_options make_unbounded() noexcept { return {.capacity = unbounded}; }

  /// Throws std::invalid_argument naming the bad field (capacity 0, low
  /// water not below capacity).
  void validate() const;

  /// `low_water` with its default applied.
  [[nodiscard]] std::size_t effective_low_water() const noexcept {
    return low_water ? *low_water : (capacity == unbounded ? unbounded : capacity / 2);
  }
};

} // namespace troupe
