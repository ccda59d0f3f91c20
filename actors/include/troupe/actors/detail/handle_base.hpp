#pragma once
/// @file What every actor handle is (actor_ref<A>, any_ref): a strong
/// reference to the actor's cell, its identity, and stop.

#include <cstdint>

#include "troupe/actors/detail/actor_cell.hpp"

namespace troupe::detail {

class handle_base {
 public:
  /// Unique id of the actor within its system (0 for an empty handle).
  [[nodiscard]] std::uint64_t id() const noexcept { return cell_ ? cell_->id() : 0; }
  /// True when this handle refers to an actor (alive or not).
  explicit operator bool() const noexcept { return static_cast<bool>(cell_); }

  /// Asks the actor to stop; its system lane serves this before any queued
  /// user message. Stopping twice is harmless. @threadsafe
  void stop() const {
    if (cell_) cell_->enqueue_system(make_stop_envelope(exit_reason::stopped));
  }

  /// A snapshot of the actor's mailbox: depth, muted senders, and for a
  /// spill mailbox what went to disk. Zeros for an empty handle. @threadsafe
  [[nodiscard]] mailbox_metrics metrics() const { return cell_ ? cell_->metrics() : mailbox_metrics{}; }

  /// For the runtime: the cell behind the handle.
  [[nodiscard]] actor_cell* cell() const noexcept { return cell_.get(); }

 protected:
  handle_base() noexcept = default;
  /// Shares `c` (adds a reference).
  explicit handle_base(actor_cell* c) noexcept : cell_(c) {}
  ~handle_base() = default;
  handle_base(const handle_base&) noexcept = default;
  handle_base(handle_base&&) noexcept = default;
  handle_base& operator=(const handle_base&) noexcept = default;
  handle_base& operator=(handle_base&&) noexcept = default;

  cell_ptr cell_;
};

} // namespace troupe::detail
