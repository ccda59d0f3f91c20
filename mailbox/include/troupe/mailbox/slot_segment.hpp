#pragma once
/// @file One segment of a mailbox's user lane: a run of message slots.
///
/// The user lane is a linked list of segments. A sender's `fetch_add` on the
/// mailbox word gives it a position; the segment holding that position has
/// a slot for it, written once by that sender and read and cleared once by
/// the consumer. Segments are linked on demand and freed by the consumer
/// (see mailbox.hpp). Only `mailbox` touches them; they come from the block
/// pool, so linking one is a thread-local pop, not a malloc.

#include <atomic>
#include <cstdint>
#include <new>

#include "troupe/mailbox/block_pool.hpp"
#include "troupe/mailbox/mpsc_queue.hpp"

namespace troupe {

/// A segment's header; its `len` slots follow it in the same block.
struct slot_segment {
  /// Slots of a mailbox's first segment: most actors get a few messages,
  /// and a spawn writes (so pulls into its cache) the whole segment.
  static constexpr std::uint32_t first_slots = 8;
  /// Slots of every later segment.
  static constexpr std::uint32_t slots = 32;

  /// A segment for positions base..base+len-1, all slots empty, from the
  /// block pool. @throws std::bad_alloc
  [[nodiscard]] static slot_segment* make(std::uint32_t base, std::uint32_t len);
  /// Gives a segment from `make` back to the pool.
  static void destroy(slot_segment* s) noexcept;

  /// One message per position; nullptr until its sender writes it.
  [[nodiscard]] std::atomic<mpsc_node*>* slot() noexcept {
    return std::launder(reinterpret_cast<std::atomic<mpsc_node*>*>(this + 1));
  }

  /// First position held. Written before the segment is published.
  std::atomic<std::uint32_t> base{0};
  /// Slots that follow the header.
  std::uint32_t len = 0;
  /// The segment holding positions base + len and on; set once, by the
  /// CAS (from nullptr) that links it.
  std::atomic<slot_segment*> next{nullptr};
  /// Consumer only: link in the list of retired segments.
  slot_segment* chain = nullptr;
  /// Consumer only: the claim position when the segment was retired.
  std::uint32_t retired_at = 0;
};
static_assert(sizeof(slot_segment) % alignof(std::atomic<mpsc_node*>) == 0);

} // namespace troupe
