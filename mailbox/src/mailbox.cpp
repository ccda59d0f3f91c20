#include "troupe/mailbox/mailbox.hpp"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>

#include "troupe/mailbox/cpu_relax.hpp"

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
  if (capacity != unbounded && capacity > 0xFFFF'FFFFull) {
    throw std::invalid_argument("mailbox_options: capacity must be at most 4294967295 (or unbounded)");
  }
  if (policy == overflow::drop_oldest && capacity != unbounded && capacity > 0x7FFF'FFFFull) {
    throw std::invalid_argument("mailbox_options: capacity must be at most 2147483647 with drop_oldest");
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

namespace {
bool refusing(const mailbox_options& o) {
  return o.capacity != mailbox_options::unbounded && o.policy != overflow::mute_sender;
}
std::uint32_t refusing_limit(const mailbox_options& o) {
  if (!refusing(o)) return 0;
  // drop_oldest evicts when the consumer runs; while it is busy the queue is
  // capped at twice the capacity (then new messages are refused too), so
  // memory stays bounded. The others refuse at capacity.
  return static_cast<std::uint32_t>(o.policy == overflow::drop_oldest ? 2 * o.capacity : o.capacity);
}
} // namespace

mailbox_node mailbox::closed_mark_;

mailbox::mailbox(const mailbox_options& opts)
    : refuse_limit_((opts.validate(), refusing_limit(opts))),
      capacity_(opts.capacity == mailbox_options::unbounded ? max_capacity : static_cast<std::uint32_t>(opts.capacity)),
      refuse_at_(refusing_limit(opts)),
      policy_(opts.policy),
      refuses_(refusing(opts)),
      mutes_(opts.capacity != mailbox_options::unbounded && opts.policy == overflow::mute_sender),
      bounded_(opts.capacity != mailbox_options::unbounded),
      low_water_(opts.capacity == mailbox_options::unbounded ? 0 : static_cast<std::uint32_t>(opts.effective_low_water())) {
  static_assert(sizeof(mailbox) == 128, "producer words, then consumer words: two cache lines");
}

mailbox_node* mailbox::wait_next(mailbox_node* x) noexcept {
  for (int i = 0;; ++i) {
    if (auto* n = x->next.load(std::memory_order_acquire)) return node(n);
    if (i < spins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

std::uint64_t mailbox::depth() const noexcept {
  const std::uint64_t tokens = state_.load(std::memory_order_relaxed) & token_mask;
  if (refuses_) return reserved_.load(std::memory_order_relaxed) + tokens;
  const std::int64_t queued =
      distance(last_.load(std::memory_order_relaxed) >> 16, consumed_pos_.load(std::memory_order_relaxed));
  return (queued > 0 ? static_cast<std::uint64_t>(queued) : 0) + tokens;
}

std::uint64_t mailbox::close() noexcept {
  const std::uint64_t w = state_.fetch_or(closed_bit, std::memory_order_seq_cst);
  if (w & closed_bit) return 0;
  closed_at_ = tail_.exchange(&closed_mark_, std::memory_order_seq_cst);
  return (w & ~closed_bit) / system_unit;
}

mailbox_node* mailbox::pop_closed(bool& done) noexcept {
  done = false;
  mailbox_node* first = head_;
  if (closed_at_ == nullptr || (first == &stub_ && closed_at_ == &stub_)) {
    // All out: the depth of a stopped actor reads 0.
    closed_at_ = nullptr;
    done = true;
    consumed_pos_.store(popped_pos_, std::memory_order_relaxed);
    if (refuses_) reserved_.fetch_sub(popped_, std::memory_order_relaxed);
    popped_ = 0;
    return nullptr;
  }
  if (first == &stub_) {
    mailbox_node* next = node(stub_.next.load(std::memory_order_acquire));
    if (next == nullptr) return nullptr;  // a sender is between its exchange and its link
    head_ = first = next;
  }
  if (first == closed_at_) {
    // The last one: nothing is linked behind it any more. Leave an empty
    // queue behind, so that a later pop() finds nothing.
    closed_at_ = &stub_;
    head_ = &stub_;
    stub_.next.store(nullptr, std::memory_order_relaxed);
  } else {
    mailbox_node* next = node(first->next.load(std::memory_order_acquire));
    if (next == nullptr) return nullptr;
    head_ = next;
  }
  popped_pos_ = first->pos.load(std::memory_order_relaxed);
  ++popped_;
  return first;
}

} // namespace troupe
