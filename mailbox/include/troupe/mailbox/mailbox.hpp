#pragma once
/// @file Bounded MPSC mailbox with a system lane.
///
/// The mailbox word (64 bits, on the producers' cache line):
///   bits 0..30   pending: queued messages of both lanes, plus tokens a
///                consumer holds (see `finish`), plus messages it took in
///                its current turn;
///   bit  31      closed;
///   bits 32..63  the next user-lane position (wraps at 2^32).
/// A user send is one `fetch_add` of (1 position + 1 pending): its old
/// value is at once the sender's slot, the depth it saw (the bound) and
/// whether the consumer was idle (pending 0: this sender schedules it, so a
/// consumer is scheduled at most once at a time). No lock, no CAS loop.
///
/// Segments: user messages sit in slots of linked `slot_segment`s. A sender
/// finds its segment through a hint (the last one a sender reached by
/// walking) and writes its slot; only a sender that crosses into a segment
/// not yet linked allocates one (from the block pool) and links it with one
/// CAS. The consumer reads slots in order and retires each segment it
/// leaves. A retired segment is freed only once the consumer has read every
/// position claimed before it was retired: every sender that could still
/// hold a pointer to it has then written its slot and let go. An idle
/// mailbox that has seen traffic holds one segment.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/mailbox/mailbox_options.hpp"
#include "troupe/mailbox/mpsc_queue.hpp"
#include "troupe/mailbox/slot_segment.hpp"

namespace troupe {

/// Outcome of offering a message to a mailbox.
enum class admission : unsigned char {
  accepted,           ///< queued
  accepted_schedule,  ///< queued, and the consumer was idle: the caller must schedule it
  accepted_over,      ///< queued at or over capacity (mute_sender): the caller should mute the sender
  refused,            ///< full (fail, drop_newest, drop_oldest at twice, spill, or any mailbox at `hard_limit`): the caller still owns the node
  closed,             ///< the mailbox is closed: the caller still owns the node
};

/// A bounded mailbox: user lane with an overflow policy, plus a system lane
/// that is always served first and never refused by the bound.
class mailbox {
 public:
  static constexpr std::uint64_t pending_mask = (std::uint64_t{1} << 31) - 1;
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 31;
  static constexpr std::uint64_t position_unit = std::uint64_t{1} << 32;
  /// Largest bounded capacity (drop_oldest keeps up to twice this).
  static constexpr std::size_t max_capacity = (std::size_t{1} << 29) - 1;
  /// Pending messages at which every mailbox, even an unbounded or
  /// mute_sender one, refuses user messages, so that the count can never
  /// carry into the closed bit: senders racing past the check add at most
  /// one message (or one transport chain of 64) each. 2^30 messages are
  /// tens of gigabytes.
  static constexpr std::uint64_t hard_limit = std::uint64_t{1} << 30;

  /// @throws std::invalid_argument if `opts` is invalid.
  explicit mailbox(const mailbox_options& opts);
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;
  /// Frees the segments. Nodes still queued are not freed: drain them
  /// first (`pop_*`). @note No sender may be pushing.
  ~mailbox();

  /// Offers a user message. On the fast path this is one relaxed load of
  /// the mailbox word (the bound), one `fetch_add` on it, one load of the
  /// hint and one store into the slot, all but the slot on one cache line;
  /// no lock, no CAS loop. @threadsafe
  [[nodiscard]] admission push(mpsc_node* n) noexcept {
    if (refuses(refuse_at_.load(std::memory_order_relaxed), 1)) return admission::refused;
    return admit(n, 1);
  }

  /// Offers `count` user messages at once: the chain from `first`, linked
  /// through `next` by the caller (a transport queueing what one read
  /// brought). One `fetch_add` for the whole chain; its messages take
  /// consecutive positions. A bound that refuses (fail, drop_newest,
  /// drop_oldest, spill) needs a decision per message: then the chain is
  /// `refused` untouched, and the caller pushes its messages one by one.
  /// `accepted_over` when the chain took the depth past capacity
  /// (mute_sender). @threadsafe
  [[nodiscard]] admission push_chain(mpsc_node* first, std::uint32_t count) noexcept {
    if (per_message_ || refuses(hard_limit, count)) return admission::refused;
    return admit(first, count);
  }

  /// Offers a system message: never refused by the bound, not counted in
  /// `depth()`. @threadsafe
  [[nodiscard]] admission push_system(mpsc_node* n) noexcept {
    const std::uint64_t old = word_.fetch_add(1, std::memory_order_seq_cst);
    if (old & closed_bit) [[unlikely]] {
      word_.fetch_sub(1, std::memory_order_relaxed);
      return admission::closed;
    }
    // After the word, before the node: depth() may count this message as a
    // user one for a moment (never the other way), and a consumer that
    // parks and then reads system_waiting() (seq_cst, as here) sees it or
    // is unparked by this sender.
    system_pending_.fetch_add(1, std::memory_order_seq_cst);
    system_.push(n);
    return (old & pending_mask) == 0 ? admission::accepted_schedule : admission::accepted;
  }

  /// Next system message or nullptr. @note Consumer only.
  [[nodiscard]] mpsc_node* pop_system() noexcept { return system_.pop(); }

  /// Next user message or nullptr: none queued, or its sender is between
  /// its `fetch_add` and its slot store (it becomes visible as soon as that
  /// sender runs). @note Consumer only.
  [[nodiscard]] mpsc_node* pop() noexcept {
    slot_segment* s = head_;
    std::uint32_t d = 0;
    if (s == nullptr || (d = head_pos_ - s->base.load(std::memory_order_relaxed)) == s->len) [[unlikely]] {
      s = advance();
      if (s == nullptr) return nullptr;
      d = 0;
    }
    std::atomic<mpsc_node*>& slot = s->slot()[d];
    mpsc_node* n = slot.load(std::memory_order_acquire);
    if (n == nullptr) return nullptr;
    slot.store(nullptr, std::memory_order_relaxed);
    ++head_pos_;
    return n;
  }

  /// User messages claimed and not yet popped: exact, for the consumer
  /// (drop_oldest trims by it). Includes a sender between its `fetch_add`
  /// and its slot store. @note Consumer only.
  [[nodiscard]] std::uint64_t queued() const noexcept {
    return static_cast<std::uint32_t>(position(word_.load(std::memory_order_seq_cst)) - head_pos_);
  }

  /// Ends a consumer turn: removes `user` user and `system` system messages
  /// from the pending count and returns what is left (see `pending`). Zero
  /// means the consumer is now idle and the next sender schedules it;
  /// non-zero means it must run again. A consumer may keep a token (remove
  /// one user message less, with `hold`) to stay "scheduled" while it waits
  /// for something else, and count it as consumed in a later turn.
  /// @note Consumer only.
  std::uint64_t finish(std::uint64_t user, std::uint64_t system = 0, bool hold = false) noexcept {
    if (retired_ != nullptr) [[unlikely]] reclaim();
    // Before the word: once it says idle, another turn may own (or free)
    // the cell. depth() may count these as user messages for a moment.
    if (system != 0) system_pending_.fetch_sub(static_cast<std::uint32_t>(system), std::memory_order_seq_cst);
    const std::uint64_t delta = user + system - (hold ? 1 : 0);  // modular: hold may exceed user
    if (delta == 0) return word_.load(std::memory_order_seq_cst) & pending_mask;
    return (word_.fetch_sub(delta, std::memory_order_seq_cst) - delta) & pending_mask;
  }

  /// Takes a token before the consumer may run (a cell under construction):
  /// senders see a busy consumer and schedule nothing until `finish(1)`.
  /// @note Consumer only, before anyone else can see the mailbox.
  void hold_token() noexcept { word_.fetch_add(1, std::memory_order_relaxed); }

  /// True when system messages wait. @threadsafe (a snapshot)
  [[nodiscard]] bool system_waiting() const noexcept { return system_pending_.load(std::memory_order_seq_cst) != 0; }

  /// Messages of both lanes (plus held tokens) in a value returned by
  /// `finish` or `close`.
  [[nodiscard]] static constexpr std::uint64_t pending(std::uint64_t word) noexcept { return word & pending_mask; }

  /// Marks the mailbox closed: every later push reports `closed`. Returns
  /// the pending count at that moment: exactly the messages of both lanes
  /// (plus held tokens and consumed-but-unfinished ones) the consumer still
  /// has to account for; a sender between its `fetch_add` and its slot
  /// store writes it shortly. @note Consumer only.
  std::uint64_t close() noexcept { return word_.fetch_or(closed_bit, std::memory_order_seq_cst) & pending_mask; }

  /// @threadsafe (a snapshot)
  [[nodiscard]] bool is_closed() const noexcept { return (word_.load(std::memory_order_seq_cst) & closed_bit) != 0; }

  /// Messages ever pushed (user and system), modulo 2^32: the same value
  /// at two looks means nothing was pushed in between (the cluster's idle
  /// check). One relaxed load, off the message path. @threadsafe
  [[nodiscard]] std::uint32_t pushes() const noexcept { return position(word_.load(std::memory_order_relaxed)); }

  /// User messages not yet finished: queued, plus those the consumer took
  /// in its current turn (up to a quantum), plus a token a parked consumer
  /// holds. This is what the bound counts. @threadsafe (a snapshot. Read
  /// by the consumer it is never fewer than the truth: it may count a
  /// system message that is being pushed. Other threads may also see fewer
  /// while the consumer finishes system messages.)
  [[nodiscard]] std::uint64_t depth() const noexcept {
    // system_pending_ first: every increment it shows follows its word
    // increment, which the word load then shows too.
    const std::uint64_t sys = system_pending_.load(std::memory_order_seq_cst);
    return less(word_.load(std::memory_order_seq_cst) & pending_mask, sys);
  }

  /// True while messages of either lane (or held tokens) are counted. For
  /// an outside consumer that finishes each message as it takes it (an
  /// inbox): true means one is queued or a sender is about to link it.
  /// @threadsafe (a snapshot)
  [[nodiscard]] bool busy() const noexcept { return (word_.load(std::memory_order_seq_cst) & pending_mask) != 0; }

  /// Segments this mailbox holds: the consumer's and those linked after
  /// it, plus retired ones not yet freed. One when it is idle after
  /// traffic, none before its first message. @note Consumer only.
  [[nodiscard]] std::size_t segments() const noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t low_water() const noexcept { return low_water_; }
  [[nodiscard]] overflow policy() const noexcept { return policy_; }
  [[nodiscard]] bool bounded() const noexcept { return capacity_ != mailbox_options::unbounded; }

  /// Refuse every user message (`all`: a spill keeping order, a remote
  /// proxy whose node is down), or only as the policy's bound says again.
  /// A push racing with the change may go either way. @threadsafe
  void refuse_all(bool all) noexcept { refuse_at_.store(all ? 0 : bound_, std::memory_order_relaxed); }
  /// True while refuse_all(true) holds. @threadsafe (a snapshot)
  [[nodiscard]] bool refusing_all() const noexcept { return refuse_at_.load(std::memory_order_relaxed) == 0; }

  /// Counts one user message that is not in the queue (the consumer keeps
  /// it elsewhere): the consumer is scheduled as for a message, and removes
  /// the token with `finish` like one. True when the caller must schedule
  /// it (it was idle). @threadsafe
  [[nodiscard]] bool add_token() noexcept {
    return (word_.fetch_add(1, std::memory_order_seq_cst) & pending_mask) == 0;
  }

 private:

  /// The next user-lane position in a mailbox word.
  [[nodiscard]] static constexpr std::uint32_t position(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word >> 32);
  }

  /// `pending` minus `sys`, never below zero (the two are read apart).
  [[nodiscard]] static constexpr std::uint64_t less(std::uint64_t pending, std::uint64_t sys) noexcept {
    return pending > sys ? pending - sys : 0;
  }

  /// Pending count minus the system messages in it (a snapshot).
  [[nodiscard]] std::uint64_t user_depth(std::uint64_t pending) const noexcept {
    return less(pending, system_pending_.load(std::memory_order_relaxed));
  }

  /// The bound's check before a send of `count`: one relaxed load of the
  /// word, no write. `limit` is the policy's (fail, drop_newest, spill,
  /// drop_oldest) or else the hard limit. System messages pushed between
  /// the two loads can let a send past the bound by that many.
  [[nodiscard]] bool refuses(std::size_t limit, std::uint32_t count) const noexcept {
    const std::uint64_t w = word_.load(std::memory_order_relaxed);
    const std::uint64_t pending = w & pending_mask;
    if (pending + count <= limit || (w & closed_bit) != 0) [[likely]] return false;  // closed: push reports it
    return pending + count > hard_limit || user_depth(pending) + count > limit;
  }

  /// Claims `count` consecutive positions with one fetch_add and writes the
  /// chain from `first` (linked through `next`) into their slots.
  [[nodiscard]] admission admit(mpsc_node* first, std::uint32_t count) noexcept {
    const std::uint64_t old = word_.fetch_add(count * position_unit + count, std::memory_order_seq_cst);
    const std::uint64_t pending_before = old & pending_mask;
    if ((old & closed_bit) != 0) [[unlikely]] {
      word_.fetch_sub(count, std::memory_order_relaxed);  // keep depth() truthful; positions after the close are never read
      return admission::closed;
    }
    std::uint32_t p = position(old);
    if (count == 1) [[likely]] {
      place(p, first);
    } else {
      mpsc_node* n = first;
      for (std::uint32_t i = 1; i <= count; ++i, ++p) {
        mpsc_node* after = i < count ? n->next.load(std::memory_order_relaxed) : nullptr;
        place(p, n);  // the consumer may take n at once: read its link first
        n = after;
      }
    }
    if (pending_before == 0) return admission::accepted_schedule;
    if (mutes_ && pending_before + count > capacity_ && user_depth(pending_before) + count > capacity_) {
      return admission::accepted_over;
    }
    return admission::accepted;
  }

  /// Writes `n` into position `p`'s slot: the hinted segment's, or one
  /// found (or linked) by `place_slow`.
  void place(std::uint32_t p, mpsc_node* n) noexcept {
    // seq_cst: ordered after the sender's fetch_add (see advance()).
    slot_segment* s = hint_.load(std::memory_order_seq_cst);
    if (s != nullptr) [[likely]] {
      const std::uint32_t d = p - s->base.load(std::memory_order_acquire);
      if (d < s->len) [[likely]] {
        s->slot()[d].store(n, std::memory_order_release);
        return;
      }
    }
    place_slow(p, n);
  }

  void place_slow(std::uint32_t p, mpsc_node* n) noexcept;
  slot_segment* link_after(slot_segment* s, std::uint32_t base) noexcept;
  slot_segment* advance() noexcept;
  void reclaim() noexcept;

  // Producer line: written by senders, read-only options beside it, and
  // what the consumer writes once per segment.
  std::atomic<std::uint64_t> word_{0};
  std::atomic<slot_segment*> hint_{nullptr};      // a segment senders reached lately
  std::atomic<slot_segment*> head_pub_{nullptr};  // head_, for senders that fell behind the hint
  std::atomic<std::uint32_t> system_pending_{0};  // system messages in the pending count
  overflow policy_;
  bool mutes_;                // mute_sender with a bound: accepted_over past capacity
  bool per_message_;          // a refusing policy: chains are refused, to be decided one by one
  std::uint32_t low_water_;   // at most 2^32 - 1: above hard_limit, so the same as any larger value
  std::uint32_t bound_;       // depth at which the policy refuses (hard_limit: no policy bound)
  std::size_t capacity_;
  std::atomic<std::uint32_t> refuse_at_;  // bound_, or 0 while refusing all
  slot_segment* retired_last_ = nullptr;  // consumer only: newest retired segment
  // Consumer line.
  slot_segment* head_ = nullptr;     // segment of the next position to read
  std::uint32_t head_pos_ = 0;       // next position to read
  slot_segment* retired_ = nullptr;  // oldest retired segment (FIFO through `chain`)
  mpsc_queue system_;
};
static_assert(sizeof(mailbox) == 112, "the senders' cache line, then the consumer's words");

} // namespace troupe
