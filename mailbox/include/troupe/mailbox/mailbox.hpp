#pragma once
/// @file Bounded MPSC mailbox with a system lane.
///
/// Layout: the producer words (depth, user-lane tail) share one cache line;
/// the consumer words (heads, stubs, options) sit 64 bytes further on, so a
/// busy sender and a busy receiver never write the same line except to link.
///
/// Depth word: bits 0..62 count queued messages of both lanes plus tokens a
/// consumer chooses to hold (see `finish`); bit 63 marks the mailbox closed.
/// A sender that moves the depth from 0 to 1 is the one that must schedule
/// the consumer; the consumer goes idle only when its `finish` brings the
/// depth back to 0. So a consumer is scheduled at most once at a time.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/mailbox/mailbox_options.hpp"
#include "troupe/mailbox/mpsc_queue.hpp"

namespace troupe {

/// Outcome of offering a message to a mailbox.
enum class admission : unsigned char {
  accepted,           ///< queued
  accepted_schedule,  ///< queued, and the consumer was idle: the caller must schedule it
  accepted_over,      ///< queued at or over capacity (mute_sender): the caller should mute the sender
  refused,            ///< full and the policy is fail or drop_newest: the caller still owns the node
  closed,             ///< the mailbox is closed: the caller still owns the node
};

/// A bounded mailbox: user lane with an overflow policy, plus a system lane
/// that is always served first and never refused by the bound.
class mailbox {
 public:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;

  /// @throws std::invalid_argument if `opts` is invalid.
  explicit mailbox(const mailbox_options& opts);
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;
  /// Nodes still queued are not freed: drain them first (`pop_*`).
  ~mailbox() = default;

  /// Offers a user message. On the fast path this is one relaxed load (for
  /// refusing policies), one fetch_add on the depth and one exchange on the
  /// tail; no lock, no CAS loop.
  /// @threadsafe
  [[nodiscard]] admission push(mpsc_node* n) noexcept {
    if (policy_refuses_) {
      const std::uint64_t d = depth_.load(std::memory_order_relaxed);
      if ((d & ~closed_bit) >= capacity_ && (d & closed_bit) == 0) return admission::refused;
    }
    const std::uint64_t old = depth_.fetch_add(1, std::memory_order_seq_cst);
    if (old & closed_bit) return admission::closed;
    mpsc::push(user_tail_, n);
    if (old == 0) return admission::accepted_schedule;
    if (mutes_ && old >= capacity_) return admission::accepted_over;
    return admission::accepted;
  }

  /// Offers a system message: never refused by the bound.
  /// @threadsafe
  [[nodiscard]] admission push_system(mpsc_node* n) noexcept {
    const std::uint64_t old = depth_.fetch_add(1, std::memory_order_seq_cst);
    if (old & closed_bit) return admission::closed;
    system_.push(n);
    return old == 0 ? admission::accepted_schedule : admission::accepted;
  }

  /// Next system message or nullptr. @note Consumer only.
  [[nodiscard]] mpsc_node* pop_system() noexcept { return system_.pop(); }

  /// Next user message or nullptr. @note Consumer only.
  [[nodiscard]] mpsc_node* pop() noexcept { return mpsc::pop(user_tail_, user_head_, user_stub_); }

  /// Ends a consumer turn: removes `consumed` from the depth and returns the
  /// depth left (closed bit masked). Zero means the consumer is now idle and
  /// the next sender will schedule it; non-zero means it must run again.
  /// A consumer may keep a token (consume one less) to stay "scheduled"
  /// while it waits for something else, and release it in a later turn.
  /// @note Consumer only.
  std::uint64_t finish(std::uint64_t consumed) noexcept {
    if (consumed == 0) return depth();
    return (depth_.fetch_sub(consumed, std::memory_order_seq_cst) - consumed) & ~closed_bit;
  }

  /// Marks the mailbox closed: every later push reports `closed`. Returns
  /// the depth at that moment: exactly the messages (plus held tokens and
  /// consumed-but-unfinished ones) the consumer still has to account for;
  /// a sender between its two steps links its node shortly.
  /// @note Consumer only.
  std::uint64_t close() noexcept { return depth_.fetch_or(closed_bit, std::memory_order_seq_cst) & ~closed_bit; }

  /// @threadsafe (a snapshot)
  [[nodiscard]] bool is_closed() const noexcept { return (depth_.load(std::memory_order_seq_cst) & closed_bit) != 0; }

  /// Messages queued plus tokens held. @threadsafe (a snapshot)
  [[nodiscard]] std::uint64_t depth() const noexcept { return depth_.load(std::memory_order_seq_cst) & ~closed_bit; }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t low_water() const noexcept { return low_water_; }
  [[nodiscard]] overflow policy() const noexcept { return policy_; }
  [[nodiscard]] bool bounded() const noexcept { return capacity_ != mailbox_options::unbounded; }

 private:
  // Producer line: written by senders, read-only options beside it.
  std::atomic<std::uint64_t> depth_{0};
  std::atomic<mpsc_node*> user_tail_{&user_stub_};
  std::size_t capacity_;
  overflow policy_;
  bool policy_refuses_;
  bool mutes_;
  char pad_[64 - 3 * sizeof(std::size_t) - 3];
  // Consumer line.
  mpsc_node* user_head_{&user_stub_};
  mpsc_node user_stub_;
  mpsc_queue system_;
  std::size_t low_water_;
};

} // namespace troupe
