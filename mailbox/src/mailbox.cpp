#include "troupe/mailbox/mailbox.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <string>

namespace troupe {

std::string_view to_string(overflow o) noexcept {
  switch (o) {
    case overflow::mute_sender: return "mute_sender";
    case overflow::fail: return "fail";
    case overflow::drop_newest: return "drop_newest";
    case overflow::drop_oldest: return "drop_oldest";
    case overflow::spill: return "spill";
  }
  return "unknown";
}

std::string_view to_string(spill_sync s) noexcept {
  switch (s) {
    case spill_sync::none: return "none";
    case spill_sync::per_batch: return "per_batch";
    case spill_sync::interval: return "interval";
  }
  return "unknown";
}

std::optional<overflow> parse_overflow(std::string_view name) noexcept {
  for (overflow o : {overflow::mute_sender, overflow::fail, overflow::drop_newest, overflow::drop_oldest, overflow::spill}) {
    if (name == to_string(o)) return o;
  }
  return std::nullopt;
}

overflow overflow_from_name(std::string_view name) {
  if (auto o = parse_overflow(name)) return *o;
  throw std::invalid_argument("unknown overflow policy '" + std::string(name) +
                              "' (expected mute_sender, fail, drop_newest, drop_oldest or spill)");
}

void mailbox_options::validate() const {
  if (capacity == 0) {
    throw std::invalid_argument(
        "mailbox_options: capacity must be at least 1 (use mailbox_options::make_unbounded() for no bound)");
  }
  if (capacity != unbounded && capacity > mailbox::max_capacity) {
    throw std::invalid_argument("mailbox_options: capacity must be at most " + std::to_string(mailbox::max_capacity) +
                                " (or unbounded)");
  }
  switch (policy) {
    case overflow::mute_sender:
    case overflow::fail:
    case overflow::drop_newest:
    case overflow::drop_oldest: break;
    case overflow::spill:
      if (capacity == unbounded) throw std::invalid_argument("mailbox_options: spill needs a bounded capacity");
      if (spill.dir.empty()) throw std::invalid_argument("mailbox_options: spill needs spill.dir");
      if (spill.on_disk_full != overflow::mute_sender && spill.on_disk_full != overflow::fail) {
        throw std::invalid_argument("mailbox_options: spill.on_disk_full must be mute_sender or fail");
      }
      if (spill.segment_bytes < 4096) throw std::invalid_argument("mailbox_options: spill.segment_bytes must be at least 4096");
      if (spill.disk_capacity_bytes < spill.segment_bytes) {
        throw std::invalid_argument("mailbox_options: spill.disk_capacity_bytes must be at least spill.segment_bytes");
      }
      if (spill.sync != spill_sync::none && spill.sync != spill_sync::per_batch && spill.sync != spill_sync::interval) {
        throw std::invalid_argument("mailbox_options: unknown spill.sync " + std::to_string(static_cast<int>(spill.sync)));
      }
      if (!spill.write_ahead && spill.sync != spill_sync::none) {
        throw std::invalid_argument("mailbox_options: spill.sync is for spill.write_ahead (use spill.fsync otherwise)");
      }
      if (spill.write_ahead && spill.fsync) {
        throw std::invalid_argument("mailbox_options: spill.write_ahead with spill.fsync: choose spill.sync instead");
      }
      if (spill.sync == spill_sync::interval && spill.sync_interval.count() <= 0) {
        throw std::invalid_argument("mailbox_options: spill.sync_interval must be positive");
      }
      break;
    default:
      throw std::invalid_argument("mailbox_options: unknown overflow policy " +
                                  std::to_string(static_cast<int>(policy)));
  }
  if (low_water && capacity != unbounded && *low_water >= capacity) {
    throw std::invalid_argument("mailbox_options: low_water (" + std::to_string(*low_water) +
                                ") must be below capacity (" + std::to_string(capacity) + ")");
  }
}

slot_segment* slot_segment::make(std::uint32_t base, std::uint32_t len) {
  void* block = detail::pool::allocate(sizeof(slot_segment) + len * sizeof(std::atomic<mpsc_node*>));
  auto* s = new (block) slot_segment;
  s->base.store(base, std::memory_order_relaxed);  // no sender can reach s yet
  s->len = len;
  auto* slots = reinterpret_cast<std::atomic<mpsc_node*>*>(s + 1);
  for (std::uint32_t i = 0; i < len; ++i) new (slots + i) std::atomic<mpsc_node*>(nullptr);
  return s;
}

void slot_segment::destroy(slot_segment* s) noexcept {
  const std::uint32_t len = s->len;
  s->~slot_segment();  // the slots are trivially destructible
  detail::pool::deallocate(s, sizeof(slot_segment) + len * sizeof(std::atomic<mpsc_node*>));
}

mailbox::mailbox(const mailbox_options& opts)
    : policy_((opts.validate(), opts.policy)),
      mutes_(opts.capacity != mailbox_options::unbounded && opts.policy == overflow::mute_sender),
      per_message_(opts.capacity != mailbox_options::unbounded && opts.policy != overflow::mute_sender),
      low_water_(static_cast<std::uint32_t>(std::min<std::size_t>(opts.effective_low_water(), 0xFFFF'FFFFu))),
      // fail and drop_newest refuse at capacity. drop_oldest evicts when the
      // consumer runs; while it is busy, the queue is capped at twice the
      // capacity (then new messages are refused too), so memory stays bounded.
      bound_(static_cast<std::uint32_t>(!per_message_                        ? hard_limit
                                        : opts.policy == overflow::drop_oldest ? 2 * opts.capacity
                                                                               : opts.capacity)),
      capacity_(opts.capacity),
      refuse_at_(bound_) {}

mailbox::~mailbox() {
  slot_segment* s = head_ != nullptr ? head_ : head_pub_.load(std::memory_order_acquire);
  while (s != nullptr) {  // the head and every segment linked after it
    slot_segment* next = s->next.load(std::memory_order_relaxed);
    slot_segment::destroy(s);
    s = next;
  }
  while (retired_ != nullptr) slot_segment::destroy(std::exchange(retired_, retired_->chain));
}

void mailbox::place_slow(std::uint32_t p, mpsc_node* n) noexcept {
  slot_segment* s = hint_.load(std::memory_order_seq_cst);
  const bool from_hint = s != nullptr && p - s->base.load(std::memory_order_acquire) < 0x8000'0000u;
  if (!from_hint) {
    // No hint yet, or the hint moved past p (this sender was slow): start
    // at the consumer's segment, which no unread position precedes.
    s = head_pub_.load(std::memory_order_seq_cst);
    if (s == nullptr) {
      slot_segment* first = slot_segment::make(0, slot_segment::first_slots);  // the very first position
      if (head_pub_.compare_exchange_strong(s, first, std::memory_order_acq_rel)) {
        s = first;
      } else {
        slot_segment::destroy(first);  // never published
      }
    }
  }
  for (;;) {
    const std::uint32_t base = s->base.load(std::memory_order_acquire);
    const std::uint32_t d = p - base;
    if (d < s->len) {
      // Release is enough: the retiring consumer reads this slot (acquire) first.
      if (from_hint || hint_.load(std::memory_order_relaxed) == nullptr) hint_.store(s, std::memory_order_release);
      s->slot()[d].store(n, std::memory_order_release);
      return;
    }
    slot_segment* next = s->next.load(std::memory_order_acquire);
    s = next != nullptr ? next : link_after(s, base + s->len);
  }
}

slot_segment* mailbox::link_after(slot_segment* s, std::uint32_t base) noexcept {
  // Out of memory here terminates: a claimed position must be filled.
  slot_segment* f = slot_segment::make(base, slot_segment::slots);
  slot_segment* linked = nullptr;
  if (s->next.compare_exchange_strong(linked, f, std::memory_order_acq_rel)) return f;
  slot_segment::destroy(f);  // another sender linked first; f was never published
  return linked;
}

slot_segment* mailbox::advance() noexcept {
  slot_segment* s = head_;
  if (s == nullptr) {  // the first sender links the first segment
    s = head_pub_.load(std::memory_order_acquire);
    if (s == nullptr) return nullptr;
    head_ = s;
    return s;
  }
  slot_segment* next = s->next.load(std::memory_order_acquire);
  if (next == nullptr) return nullptr;
  head_ = next;
  // Retire s: once neither head_pub_ nor the hint names it, only senders
  // that claimed a position before `retired_at` can still hold it, and each
  // lets go before its slot can be read. So s is clean for reuse once the
  // consumer has read up to retired_at. seq_cst orders these against the
  // senders' fetch_add and their loads of the hint and head_pub_.
  head_pub_.store(next, std::memory_order_seq_cst);
  slot_segment* hinted = s;
  hint_.compare_exchange_strong(hinted, next, std::memory_order_seq_cst);
  s->retired_at = position(word_.load(std::memory_order_seq_cst));
  s->chain = nullptr;
  (retired_last_ != nullptr ? retired_last_->chain : retired_) = s;
  retired_last_ = s;
  reclaim();
  return next;
}

std::size_t mailbox::segments() const noexcept {
  std::size_t n = 0;
  for (const slot_segment* s = head_ != nullptr ? head_ : head_pub_.load(std::memory_order_acquire); s != nullptr;
       s = s->next.load(std::memory_order_acquire)) {
    ++n;
  }
  for (const slot_segment* s = retired_; s != nullptr; s = s->chain) ++n;
  return n;
}

void mailbox::reclaim() noexcept {
  while (retired_ != nullptr && static_cast<std::int32_t>(head_pos_ - retired_->retired_at) >= 0) {
    slot_segment* s = std::exchange(retired_, retired_->chain);
    if (retired_ == nullptr) retired_last_ = nullptr;
    slot_segment::destroy(s);
  }
}

} // namespace troupe
