#pragma once
/// @file One segment of a mailbox's user lane: a run of message slots.
///
/// The user lane is a linked list of segments. A sender's `fetch_add` on the
/// mailbox word gives it a position; the segment holding that position has
/// a slot for it, written once by that sender and read and cleared once by
/// the consumer. Segments are linked on demand and recycled by the consumer
/// (see mailbox.hpp). Only `mailbox` touches them; they come from the block
/// pool, so linking one is a thread-local pop, not a malloc.

#include <atomic>
#include <cstdint>

#include "troupe/mailbox/block_pool.hpp"
#include "troupe/mailbox/mpsc_queue.hpp"

namespace troupe {

struct slot_segment : detail::pool::pooled {
  /// Slots per segment: a power of two, so that positions, which wrap at
  /// 2^32, always start segments at multiples of it.
  static constexpr std::uint32_t slots = 32;
  static_assert((slots & (slots - 1)) == 0);

  /// First position held. Written before the segment is published.
  std::atomic<std::uint32_t> base{0};
  /// Consumer only: the claim position when the segment was retired.
  std::uint32_t retired_at = 0;
  /// The segment holding positions base + slots and on; set once, by the
  /// CAS (from nullptr) that links it.
  std::atomic<slot_segment*> next{nullptr};
  /// Consumer only: link in the list of retired segments.
  slot_segment* chain = nullptr;
  /// One message per position; nullptr until its sender writes it.
  std::atomic<mpsc_node*> slot[slots] = {};
};

} // namespace troupe
