#include "troupe/mailbox/mailbox.hpp"

#include <stdexcept>
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

mailbox::mailbox(const mailbox_options& opts)
    : capacity_((opts.validate(), opts.capacity)),
      // fail and drop_newest refuse at capacity. drop_oldest evicts when the
      // consumer runs; while it is busy, the queue is capped at twice the
      // capacity (then new messages are refused too), so memory stays bounded.
      refuse_at_(opts.capacity == mailbox_options::unbounded ? never
                 : opts.policy == overflow::fail || opts.policy == overflow::drop_newest || opts.policy == overflow::spill
                     ? opts.capacity
                 : opts.policy == overflow::drop_oldest ? 2 * opts.capacity
                                                        : never),
      policy_(opts.policy),
      mutes_(opts.capacity != mailbox_options::unbounded && opts.policy == overflow::mute_sender),
      low_water_(opts.effective_low_water()) {}

} // namespace troupe
