#pragma once
/// @file Capacity and overflow policy of a mailbox, chosen by name where an
/// actor is spawned: `mailbox_options{.capacity = 1024, .policy = overflow::fail}`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
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
  /// Keep every message: past `capacity` in memory, messages go to
  /// append-only files on disk (`mailbox_options::spill`), and the actor
  /// receives them all in order, from memory, then from disk. When the disk
  /// capacity is full too, `spill_options::on_disk_full` applies. Only the
  /// message types the actor lists in its `remote_interface` can be
  /// serialised; others (and asks) wait in memory behind the spilled ones.
  spill,
};

/// When a write-ahead spill's writes reach stable storage (a machine crash,
/// not only a process crash). Every policy survives `kill -9`.
enum class spill_sync : unsigned char {
  none,       ///< the page cache only: fastest; a power loss may lose the last messages
  /// fdatasync before `tell` returns; concurrent senders share one (group
  /// commit). The sender waits for it, an actor's worker too: give such an
  /// actor's senders threads of their own (dedicated) if that matters.
  per_batch,
  interval,   ///< fdatasync every `sync_interval` by a timer: a machine crash loses at most that much
};

/// Where and how much a `spill` mailbox writes to disk.
struct spill_options {
  /// The directory of this actor's spill files (made, mode 0700, if
  /// missing). One actor per directory. Required for overflow::spill.
  std::string dir{};
  /// Bytes of spill files at most (at least one segment).
  std::uint64_t disk_capacity_bytes = std::uint64_t{1} << 30;
  /// Size of one spill file; a file is deleted once all of it was delivered.
  std::uint64_t segment_bytes = std::uint64_t{4} << 20;
  /// When the disk capacity is full as well: `mute_sender` (senders wait;
  /// messages wait in memory behind the spilled ones) or `fail` (the send
  /// reports full; counted as a dead letter).
  overflow on_disk_full = overflow::mute_sender;
  /// Messages spilled but not yet delivered survive a crash of the process
  /// and are delivered first to the actor spawned again with this `dir`.
  /// When false, files left in `dir` by an earlier run are discarded at
  /// spawn (counted and logged).
  bool durable = false;
  /// fdatasync after each write (survives a machine crash, not only a
  /// process crash; thousands of messages per second instead of a million).
  bool fsync = false;
  /// Write-ahead: every message `tell` answers `ok` is on disk first, not
  /// only those past the memory capacity (durable keeps its meaning: only
  /// what overflowed). Implies `durable`. The actor reads every message
  /// back from disk, in order; after a crash the ones not yet handled are
  /// delivered again, with `actor::redelivered()` true. Asks, and types not
  /// in the remote_interface, cannot be written: they wait in memory (not
  /// durable). Not with `fsync` (choose `sync` instead).
  bool write_ahead = false;
  /// With write_ahead: when its writes reach stable storage.
  spill_sync sync = spill_sync::none;
  /// With `sync = interval`: how often (positive).
  std::chrono::milliseconds sync_interval{100};

  friend bool operator==(const spill_options&, const spill_options&) = default;
};

/// "none", "per_batch" or "interval".
[[nodiscard]] std::string_view to_string(spill_sync s) noexcept;

/// Name of a policy as accepted by `parse_overflow`.
[[nodiscard]] std::string_view to_string(overflow o) noexcept;

/// Parses "mute_sender", "fail", "drop_newest", "drop_oldest" or "spill" (for
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
  /// For policy `spill`: the disk side.
  spill_options spill{};

  /// Options for an unbounded mailbox (the policy never applies).
  [[nodiscard]] static mailbox_options make_unbounded() noexcept { return {.capacity = unbounded}; }

  /// Throws std::invalid_argument naming the bad field (capacity 0, low
  /// water not below capacity, spill without a directory or with a disk
  /// policy other than mute_sender or fail).
  void validate() const;

  friend bool operator==(const mailbox_options&, const mailbox_options&) = default;

  /// `low_water` with its default applied.
  [[nodiscard]] std::size_t effective_low_water() const noexcept {
    return low_water ? *low_water : (capacity == unbounded ? unbounded : capacity / 2);
  }
};

} // namespace troupe
