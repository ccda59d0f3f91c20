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
  /// Depth word layout: bits 0..31 user messages (plus held tokens), bits
  /// 32..62 system messages, bit 63 closed.
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t system_unit = std::uint64_t{1} << 32;
  static constexpr std::uint64_t user_mask = system_unit - 1;
  /// Largest bounded capacity.
  static constexpr std::size_t max_capacity = user_mask;

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
    if (const std::size_t limit = refuse_at_.load(std::memory_order_relaxed); limit != never) {
      const std::uint64_t d = depth_.load(std::memory_order_relaxed);
      if ((d & user_mask) >= limit && (d & closed_bit) == 0) return admission::refused;
    }
    return admit(n, n, 1);
  }

  /// Offers `count` user messages at once: the chain `first`..`last`,
  /// linked through `next` by the caller (a transport queueing what one
  /// read brought). One fetch_add and one exchange for the whole chain.
  /// A bound that refuses (fail, drop_newest, drop_oldest, spill) needs a
  /// decision per message: then the chain is `refused` untouched, and the
  /// caller pushes its messages one by one. `accepted_over` when the chain
  /// took the depth past capacity (mute_sender). @threadsafe
  [[nodiscard]] admission push_chain(mpsc_node* first, mpsc_node* last, std::uint32_t count) noexcept {
    if (refuse_at_.load(std::memory_order_relaxed) != never) return admission::refused;
    return admit(first, last, count);
  }

  /// Offers a system message: never refused by the bound, not counted in
  /// `depth()`. @threadsafe
  [[nodiscard]] admission push_system(mpsc_node* n) noexcept {
    const std::uint64_t old = depth_.fetch_add(system_unit, std::memory_order_seq_cst);
    if (old & closed_bit) [[unlikely]] {
      depth_.fetch_sub(system_unit, std::memory_order_relaxed);
      return admission::closed;
    }
    system_.push(n);
    return old == 0 ? admission::accepted_schedule : admission::accepted;
  }

  /// Next system message or nullptr. @note Consumer only.
  [[nodiscard]] mpsc_node* pop_system() noexcept { return system_.pop(); }

  /// Next user message or nullptr. @note Consumer only.
  [[nodiscard]] mpsc_node* pop() noexcept { return mpsc::pop(user_tail_, user_head_, user_stub_); }

  /// Ends a consumer turn: removes `user` user and `system` system messages
  /// from the depth word and returns what is left (closed bit masked). Zero
  /// means the consumer is now idle and the next sender schedules it;
  /// non-zero means it must run again (`has_system` tells whether system
  /// messages are among what is left). A consumer may keep a token (remove
  /// one user message less, with `hold`) to stay "scheduled" while it waits
  /// for something else, and count it as consumed in a later turn.
  /// @note Consumer only.
  std::uint64_t finish(std::uint64_t user, std::uint64_t system = 0, bool hold = false) noexcept {
    const std::uint64_t delta = user + system * system_unit - (hold ? 1 : 0);  // modular: hold may exceed user
    if (delta == 0) return depth_.load(std::memory_order_seq_cst) & ~closed_bit;
    return (depth_.fetch_sub(delta, std::memory_order_seq_cst) - delta) & ~closed_bit;
  }

  /// Takes a token before the consumer may run (a cell under construction):
  /// senders see a busy consumer and schedule nothing until `finish(1)`.
  /// @note Consumer only, before anyone else can see the mailbox.
  void hold_token() noexcept { depth_.fetch_add(1, std::memory_order_relaxed); }

  /// True when system messages wait. @threadsafe (a snapshot)
  [[nodiscard]] bool system_waiting() const noexcept { return has_system(depth_.load(std::memory_order_seq_cst)); }

  /// True when a value returned by `finish` or `close` counts system messages.
  [[nodiscard]] static constexpr bool has_system(std::uint64_t word) noexcept { return (word & ~closed_bit) >= system_unit; }
  /// User messages (and held tokens) in a value returned by `finish` or `close`.
  [[nodiscard]] static constexpr std::uint64_t user_part(std::uint64_t word) noexcept { return word & user_mask; }
  /// System messages in a value returned by `finish` or `close`.
  [[nodiscard]] static constexpr std::uint64_t system_part(std::uint64_t word) noexcept {
    return (word & ~closed_bit) >> 32;
  }

  /// Marks the mailbox closed: every later push reports `closed`. Returns
  /// the depth word at that moment (closed bit masked): exactly the messages
  /// (plus held tokens and consumed-but-unfinished ones) the consumer still
  /// has to account for; a sender between its two steps links its node shortly.
  /// @note Consumer only.
  std::uint64_t close() noexcept { return depth_.fetch_or(closed_bit, std::memory_order_seq_cst) & ~closed_bit; }

  /// @threadsafe (a snapshot)
  [[nodiscard]] bool is_closed() const noexcept { return (depth_.load(std::memory_order_seq_cst) & closed_bit) != 0; }

  /// User messages not yet finished: queued, plus those the consumer took
  /// in its current turn (up to a quantum), plus a token a parked consumer
  /// holds. This is what the bound counts. @threadsafe (a snapshot)
  [[nodiscard]] std::uint64_t depth() const noexcept { return depth_.load(std::memory_order_seq_cst) & user_mask; }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t low_water() const noexcept { return low_water_; }
  [[nodiscard]] overflow policy() const noexcept { return policy_; }
  [[nodiscard]] bool bounded() const noexcept { return capacity_ != mailbox_options::unbounded; }

  /// For a refusing policy (spill): refuse every user message (`all`), or
  /// refuse at capacity again. A push racing with the change may go either
  /// way. @threadsafe
  void refuse_all(bool all) noexcept { refuse_at_.store(all ? 0 : capacity_, std::memory_order_relaxed); }

  /// Counts one user message that is not in the queue (the consumer keeps
  /// it elsewhere): the consumer is scheduled as for a message, and removes
  /// the token with `finish` like one. True when the caller must schedule
  /// it (it was idle). @threadsafe
  [[nodiscard]] bool add_token() noexcept { return depth_.fetch_add(1, std::memory_order_seq_cst) == 0; }

 private:
  /// Counts `count` user messages in and links `first`..`last`: one
  /// fetch_add and one exchange. Shared by push and push_chain.
  [[nodiscard]] admission admit(mpsc_node* first, mpsc_node* last, std::uint64_t count) noexcept {
    const std::uint64_t old = depth_.fetch_add(count, std::memory_order_seq_cst);
    if (old & closed_bit) [[unlikely]] {
      depth_.fetch_sub(count, std::memory_order_relaxed);  // keep depth() truthful for a stopped actor
      return admission::closed;
    }
    mpsc::push_chain(user_tail_, first, last);
    if (old == 0) return admission::accepted_schedule;
    if (mutes_ && (old & user_mask) + count > capacity_) return admission::accepted_over;
    return admission::accepted;
  }

  // Producer line: written by senders, read-only options beside it.
  std::atomic<std::uint64_t> depth_{0};
  std::atomic<mpsc_node*> user_tail_{&user_stub_};
  std::size_t capacity_;
  std::atomic<std::size_t> refuse_at_;  // depth at which a send is refused (`never`: no bound)
  overflow policy_;
  bool mutes_;
  char pad_[64 - 4 * sizeof(std::size_t) - 2];
  static constexpr std::size_t never = ~std::size_t{0};
  // Consumer line.
  mpsc_node* user_head_{&user_stub_};
  mpsc_node user_stub_;
  mpsc_queue system_;
  std::size_t low_water_;
};

} // namespace troupe
