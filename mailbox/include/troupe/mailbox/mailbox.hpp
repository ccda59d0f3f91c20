#pragma once
/// @file Bounded MPSC mailbox with a system lane.
///
/// A send to a `mute_sender` (the default) or unbounded mailbox whose
/// consumer is busy is one atomic exchange on the tail: no lock, no CAS, no
/// other read-modify-write. Three ideas make that possible:
///
/// - **Position stamps count the queue.** Every user message carries its
///   position (`mailbox_node::pos`), the position of the message before it
///   plus one. The sender before us publishes its position, tagged with its
///   node, on the tail's cache line, which our exchange has just taken: when
///   the tag names the node our exchange returned, that line is all we read.
///   (Otherwise its sender is between its exchange and its stamp: we read the
///   stamp from the node itself, whose line we are about to write anyway.)
///   The consumer publishes the position it has finished, so a sender knows
///   the depth from its own stamp, without a shared counter.
/// - **Only a send to an empty queue touches the state word.** The exchange
///   returns the stub exactly when the queue was empty; that sender adds a
///   wake unit, and the one that finds the word 0 schedules the consumer. A
///   sender that finds a message ahead of its own leaves it to the consumer,
///   which goes idle only after seeing the queue empty (see `finish`).
/// - **Closing swaps a mark into the tail.** A sender whose exchange returns
///   the mark owns its message again, and hands what others linked behind
///   it meanwhile to the caller's orphan sink.
///
/// State word: bits 0..15 tokens (a consumer that keeps itself scheduled
/// without a message), bits 16..31 wake units, bits 32..62 system messages,
/// bit 63 closed. The consumer is scheduled exactly when the word (closed bit
/// aside) is non-zero, so it runs at most once at a time.
///
/// Refusing policies (`fail`, `drop_newest`, `drop_oldest`, `spill`) decide
/// before a message is queued, so they first reserve a place with one
/// fetch_add: their bound is exact.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>

#include "troupe/mailbox/cpu_relax.hpp"
#include "troupe/mailbox/mailbox_options.hpp"
#include "troupe/mailbox/mpsc_queue.hpp"

namespace troupe {

/// A user-lane node: the queue link plus the position stamp the mailbox
/// writes when the node is pushed. Messages derive from it.
struct mailbox_node : mpsc_node {
  std::atomic<std::uint64_t> pos{0};
};

/// Outcome of offering a message to a mailbox.
enum class admission : unsigned char {
  accepted,           ///< queued
  accepted_schedule,  ///< queued, and the consumer was idle: the caller must schedule it
  accepted_over,      ///< queued past capacity (mute_sender): the caller should mute the sender
  refused,            ///< full and the policy refuses: the caller still owns the node
  closed,             ///< the mailbox is closed: the caller still owns the node
  closed_taken,       ///< queued as the mailbox closed: the closing consumer dead-letters it
};

/// What a consumer's `finish` leaves behind.
struct turn_end {
  bool again = false;       ///< the consumer is still scheduled: run it again
  bool system = false;      ///< system messages wait
  std::uint64_t depth = 0;  ///< `depth()` as the turn ended
};

/// A bounded mailbox: user lane with an overflow policy, plus a system lane
/// that is always served first and never refused by the bound.
class alignas(16) mailbox {
 public:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t system_unit = std::uint64_t{1} << 32;
  static constexpr std::uint64_t wake_unit = std::uint64_t{1} << 16;
  static constexpr std::uint64_t token_mask = wake_unit - 1;
  static constexpr std::uint64_t wake_mask = system_unit - wake_unit;
  /// Largest bounded capacity.
  static constexpr std::size_t max_capacity = 0xFFFF'FFFFu;

  /// @throws std::invalid_argument if `opts` is invalid.
  explicit mailbox(const mailbox_options& opts);
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;
  /// Nodes still queued are not freed: drain them first.
  ~mailbox() = default;

  /// Offers a user message (see the file comment for its cost). `orphan`
  /// (called as `orphan(mailbox_node*)`) receives other senders' messages
  /// that followed ours into a closing mailbox; it runs only in that race,
  /// and must dispose of them. @threadsafe
  template <class Orphan>
  [[nodiscard]] admission push(mailbox_node* n, Orphan&& orphan) noexcept {
    if (refuses_) {
      if (state_.load(std::memory_order_relaxed) & closed_bit) return admission::closed;
      if (!reserve()) return admission::refused;
    }
    return admit(n, n, 1, orphan);
  }
  /// `push` for callers that never race a close with their pushes.
  [[nodiscard]] admission push(mailbox_node* n) noexcept { return push(n, no_orphans); }

  /// Offers `count` user messages at once: the chain `first`..`last`,
  /// linked through `next` by the caller (a transport queueing what one read
  /// brought), for the price of one message. A bound that refuses decides
  /// per message: then the chain is `refused` untouched, and the caller
  /// pushes its messages one by one. `accepted_over` when the chain took the
  /// depth past capacity (mute_sender). @threadsafe
  template <class Orphan>
  [[nodiscard]] admission push_chain(mailbox_node* first, mailbox_node* last, std::uint32_t count,
                                     Orphan&& orphan) noexcept {
    if (refuses_) return admission::refused;
    return admit(first, last, count, orphan);
  }
  [[nodiscard]] admission push_chain(mailbox_node* first, mailbox_node* last, std::uint32_t count) noexcept {
    return push_chain(first, last, count, no_orphans);
  }

  /// Offers a system message: never refused by the bound, not counted in
  /// `depth()`. @threadsafe
  [[nodiscard]] admission push_system(mpsc_node* n) noexcept {
    const std::uint64_t old = state_.fetch_add(system_unit, std::memory_order_seq_cst);
    if (old & closed_bit) [[unlikely]] {
      state_.fetch_sub(system_unit, std::memory_order_relaxed);
      return admission::closed;
    }
    system_.push(n);
    return old == 0 ? admission::accepted_schedule : admission::accepted;
  }

  /// Next system message or nullptr. @note Consumer only.
  [[nodiscard]] mpsc_node* pop_system() noexcept { return system_.pop(); }

  /// Next user message, or nullptr when none is visible: the queue is
  /// empty, or a sender is between its exchange and its link (`finish` then
  /// keeps the consumer scheduled, and it comes back). @note Consumer only.
  [[nodiscard]] mailbox_node* pop() noexcept {
    mailbox_node* first = head_;
    mailbox_node* next = node(first->next.load(std::memory_order_acquire));
    if (first == &stub_) {
      if (next == nullptr) return nullptr;
      head_ = first = next;
      next = node(next->next.load(std::memory_order_acquire));
    }
    if (next == nullptr) {
      if (tail_.load(std::memory_order_acquire) != first) return nullptr;
      // `first` is the last node: queue the stub behind it so it can go.
      stub_.next.store(nullptr, std::memory_order_relaxed);
      stub_.pos.store(pending | 0, std::memory_order_relaxed);
      (void)link(tail_.exchange(&stub_, std::memory_order_seq_cst), &stub_, &stub_, 0);
      next = node(first->next.load(std::memory_order_acquire));
      if (next == nullptr) return nullptr;
    }
    head_ = next;
    popped_pos_ = first->pos.load(std::memory_order_relaxed);
    ++popped_;
    return first;
  }

  /// True while user messages are queued or being linked. @note Consumer only.
  [[nodiscard]] bool has_queued() const noexcept { return !lane_empty(); }

  /// False only when no user message waits (a snapshot from any thread:
  /// for "has everything gone out?" polls). @threadsafe
  [[nodiscard]] bool maybe_queued() const noexcept {
    const mailbox_node* t = tail_.load(std::memory_order_acquire);
    return (t != &stub_ && t != &closed_mark_) || depth() != 0;
  }

  /// Ends a consumer turn. `tokens` tokens and `system` system messages are
  /// done with (user messages are known from `pop`). `hold` keeps one token,
  /// so the consumer stays scheduled while it waits for something else (it
  /// releases the token with a later turn); then `again` is false. Without
  /// `hold` the consumer goes idle when nothing is left: from then on the
  /// next sender schedules it, and the caller may no longer touch the
  /// consumer's state. @note Consumer only: never concurrently with a turn.
  turn_end finish(std::uint64_t tokens, std::uint64_t system = 0, bool hold = false) noexcept;

  /// Takes a token before the consumer may run (a cell under construction):
  /// senders see a busy consumer and schedule nothing until `finish(1)`.
  /// @note Consumer only, before anyone else can see the mailbox.
  void hold_token() noexcept { state_.fetch_add(1, std::memory_order_relaxed); }

  /// Counts a token for something the consumer keeps elsewhere: it is
  /// scheduled as for a message and releases the token with `finish`. True
  /// when the caller must schedule it (it was idle). @threadsafe
  [[nodiscard]] bool add_token() noexcept { return state_.fetch_add(1, std::memory_order_seq_cst) == 0; }

  /// True when system messages wait. @threadsafe (a snapshot)
  [[nodiscard]] bool system_waiting() const noexcept {
    return (state_.load(std::memory_order_seq_cst) & ~closed_bit) >= system_unit;
  }

  /// Marks the mailbox closed: later pushes report `closed`. Returns how
  /// many system messages were admitted before (the consumer drains them
  /// with `pop_system`; user messages with `pop_closed`). A second call
  /// does nothing and returns 0. @note Consumer only.
  std::uint64_t close() noexcept;

  /// After `close`: the next user message queued before it; or nullptr,
  /// with `done` false while a sender is still linking one, and true when
  /// all are out. @note Consumer only.
  [[nodiscard]] mailbox_node* pop_closed(bool& done) noexcept;

  /// @threadsafe (a snapshot)
  [[nodiscard]] bool is_closed() const noexcept { return (state_.load(std::memory_order_seq_cst) & closed_bit) != 0; }

  /// User messages not yet finished (queued, plus those the consumer took
  /// in its current turn), plus tokens held. Exact at rest and for one
  /// sender; while senders race, a snapshot may miss the ones in flight.
  /// Refusing policies count exactly. @threadsafe (a snapshot)
  [[nodiscard]] std::uint64_t depth() const noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept { return bounded_ ? capacity_ : mailbox_options::unbounded; }
  [[nodiscard]] std::size_t low_water() const noexcept { return bounded_ ? low_water_ : mailbox_options::unbounded; }
  [[nodiscard]] overflow policy() const noexcept { return policy_; }
  [[nodiscard]] bool bounded() const noexcept { return bounded_; }

  /// For a refusing policy (spill): refuse every user message (`all`), or
  /// refuse at capacity again. A push racing with the change may go either
  /// way. @threadsafe
  void refuse_all(bool all) noexcept { refuse_limit_.store(all ? 0 : refuse_at_, std::memory_order_relaxed); }

 private:
  static constexpr std::uint64_t pending = std::uint64_t{1} << 63;  // a stamp not written yet (| the count)
  static constexpr std::uint64_t stamp_mask = (std::uint64_t{1} << 48) - 1;  // stamps count modulo 2^48
  static constexpr int spins = 64;  // waits for another sender's store, before going on without it
  static mailbox_node closed_mark_;

  static mailbox_node* node(mpsc_node* n) noexcept { return static_cast<mailbox_node*>(n); }
  static void no_orphans(mailbox_node*) noexcept { std::terminate(); }
  /// 16 bits that tell nodes apart in `last_` (nodes are at least 16-byte
  /// aligned; two 1 MiB apart look alike, which costs at worst an estimate).
  static std::uint64_t tag(const mailbox_node* n) noexcept { return (reinterpret_cast<std::uintptr_t>(n) >> 4) & 0xFFFF; }
  /// a - b for stamps, as a signed distance.
  static std::int64_t distance(std::uint64_t a, std::uint64_t b) noexcept {
    return static_cast<std::int64_t>((a - b) << 16) >> 16;
  }

  /// Refusing policies: takes a place below the limit (a refusal racing
  /// with a place freeing may go either way).
  bool reserve() noexcept {
    const std::uint64_t limit = refuse_limit_.load(std::memory_order_relaxed);
    if (reserved_.load(std::memory_order_relaxed) >= limit) return false;
    if (reserved_.fetch_add(1, std::memory_order_relaxed) < limit) return true;
    reserved_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }

  /// Queues `first`..`last` (`count` messages). Shared by push and push_chain.
  template <class Orphan>
  admission admit(mailbox_node* first, mailbox_node* last, std::uint64_t count, Orphan& orphan) noexcept {
    last->next.store(nullptr, std::memory_order_relaxed);
    last->pos.store(pending | count, std::memory_order_relaxed);
    mailbox_node* prev = tail_.exchange(last, std::memory_order_seq_cst);
    if (prev == &closed_mark_) [[unlikely]] {
      hand_over_stragglers(last, orphan);
      if (refuses_) reserved_.fetch_sub(count, std::memory_order_relaxed);
      return admission::closed;
    }
    const std::uint64_t at = link(prev, first, last, count);
    // `last` may be gone from here on (the consumer took it).
    if (prev == &stub_) {
      // The queue was empty: the consumer may be going idle, or be idle.
      const std::uint64_t old = state_.fetch_add(wake_unit, std::memory_order_seq_cst);
      if (old & closed_bit) [[unlikely]] return admission::closed_taken;
      if (old == 0) return admission::accepted_schedule;
    }
    if (mutes_ && distance(at, consumed_pos_.load(std::memory_order_relaxed)) > static_cast<std::int64_t>(capacity_)) {
      return admission::accepted_over;
    }
    return admission::accepted;
  }

  /// Stamps `first`..`last` with the `count` positions after `prev`'s,
  /// publishes the last one, and links the chain behind `prev`. Returns the
  /// stamp of `last`. `prev` cannot go meanwhile: its `next` is still null,
  /// so the consumer waits for it.
  std::uint64_t link(mailbox_node* prev, mailbox_node* first, mailbox_node* last, std::uint64_t count) noexcept {
    const std::uint64_t seen = last_.load(std::memory_order_relaxed);
    std::uint64_t base = seen >> 16;
    bool publish = true;
    if ((seen & 0xFFFF) != tag(prev)) [[unlikely]] {
      // prev's sender has not published: read its node (whose line we are
      // about to write anyway). Still unstamped, its sender is between its
      // exchange and its stamp: give it a moment; if it was descheduled
      // there, count its messages after the last published stamp rather
      // than wait (exact unless the sender before it was descheduled too:
      // then the depth reads off until the consumer has passed them).
      std::uint64_t p = prev->pos.load(std::memory_order_acquire);
      for (int i = 0; (p & pending) && i < spins; ++i) {
        cpu_relax();
        p = prev->pos.load(std::memory_order_acquire);
      }
      base = (p & pending) ? (base + (p & ~pending)) & stamp_mask : p;
      // Descheduled since our own exchange, we must not take the published
      // stamp back: depth() would read low meanwhile.
      publish = distance(base + count, last_.load(std::memory_order_relaxed) >> 16) >= 0;
    }
    const std::uint64_t at = (base + count) & stamp_mask;
    if (publish) last_.store(at << 16 | tag(last), std::memory_order_relaxed);
    std::uint64_t k = base;
    for (mailbox_node* x = first; x != last; x = node(x->next.load(std::memory_order_relaxed))) {
      k = (k + 1) & stamp_mask;
      x->pos.store(k, std::memory_order_relaxed);
    }
    last->pos.store(at, std::memory_order_release);
    prev->next.store(first, std::memory_order_release);
    return at;
  }

  /// Our exchange returned the close mark: put it back, and pass on what
  /// other senders linked behind `mine` in the meantime.
  template <class Orphan>
  [[gnu::cold]] void hand_over_stragglers(mailbox_node* mine, Orphan& orphan) noexcept {
    mailbox_node* const end = tail_.exchange(&closed_mark_, std::memory_order_seq_cst);
    for (mailbox_node* x = mine; x != end;) {
      mailbox_node* next = wait_next(x);
      if (x != mine) orphan(x);
      x = next;
    }
    if (end != mine) orphan(end);
  }

  /// `x->next`, waiting for a sender that exchanged but has not linked yet.
  static mailbox_node* wait_next(mailbox_node* x) noexcept;

  /// True when no user message is queued or being linked. @note Consumer only.
  [[nodiscard]] bool lane_empty() const noexcept {
    return head_ == &stub_ && tail_.load(std::memory_order_seq_cst) == &stub_;
  }

  // Producer line: written by senders, read-only options beside it. The
  // mailbox is 16-byte aligned, so each pair below shares a cache line.
  std::atomic<mailbox_node*> tail_{&stub_};
  std::atomic<std::uint64_t> last_{0};          // the last stamp handed out << 16 | tag of its node
  std::atomic<std::uint64_t> consumed_pos_{0};  // stamp the consumer has finished to
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint64_t> reserved_{0};      // refusing policies: places taken, exact
  std::atomic<std::uint32_t> refuse_limit_;     // reserved_ at which a push is refused
  std::uint32_t capacity_;
  std::uint32_t refuse_at_;
  overflow policy_;
  bool refuses_;
  bool mutes_;
  bool bounded_;
  mailbox_node* closed_at_ = nullptr;  // consumer's: the tail when it closed
  // Consumer line.
  mailbox_node* head_{&stub_};
  mailbox_node stub_;
  mpsc_queue system_;
  std::uint64_t popped_pos_ = 0;  // stamp of the last message popped
  std::uint32_t popped_ = 0;      // messages popped since the last finish
  std::uint32_t low_water_;
};

inline turn_end mailbox::finish(std::uint64_t tokens, std::uint64_t system, bool hold) noexcept {
  if (popped_ != 0) {
    if (refuses_) reserved_.fetch_sub(popped_, std::memory_order_relaxed);
    popped_ = 0;
  }
  if (consumed_pos_.load(std::memory_order_relaxed) != popped_pos_) {
    consumed_pos_.store(popped_pos_, std::memory_order_relaxed);
  }
  // Modular: `hold` keeps one token, and may keep more than the turn released.
  const std::uint64_t delta = tokens + system * system_unit - (hold ? 1 : 0);
  // Read before looking at the queue (see "Going idle" below).
  std::uint64_t w = state_.load(std::memory_order_seq_cst);
  turn_end out;
  if (hold) {
    // The token keeps the word non-zero; wake units are of no use to a
    // consumer that looks at its queue before it goes idle: drop them all.
    const std::uint64_t sub = delta + (w & wake_mask);
    if (sub != 0) w = state_.fetch_sub(sub, std::memory_order_seq_cst) - sub;
    out.system = (w & ~closed_bit) >= system_unit;
    out.depth = depth();
    return out;
  }
  if (!lane_empty()) {
    // Messages wait: stay scheduled. Keep exactly one wake unit (or add one
    // when the turn began for a system message or a token) so the word stays
    // non-zero, and wake units never pile up over a long busy spell.
    const std::uint64_t wakes = (w & wake_mask) / wake_unit;
    const std::uint64_t sub = delta + (wakes - 1) * wake_unit;  // modular when wakes == 0
    if (sub != 0) w = state_.fetch_sub(sub, std::memory_order_seq_cst) - sub;
    out.again = true;
    out.system = (w & ~closed_bit) >= system_unit;
    out.depth = depth();
    return out;
  }
  // Going idle. `w` was read before the queue looked empty, so a wake unit
  // in `w` came from a sender that linked before we looked (it links, then
  // adds the unit): we saw its message. A unit added after `w` stays in the
  // word below, so we run again (or its sender finds 0 and schedules us).
  out.depth = (w & token_mask) - tokens;  // nothing queued: tokens left
  const std::uint64_t sub = delta + (w & wake_mask);
  if (sub != 0) w = state_.fetch_sub(sub, std::memory_order_seq_cst) - sub;
  // Idle when 0: the next sender schedules us; nothing may touch *this now.
  out.again = (w & ~closed_bit) != 0;
  out.system = (w & ~closed_bit) >= system_unit;
  return out;
}

} // namespace troupe
