#include "spill_box.hpp"

#include <spdlog/spdlog.h>

#include <system_error>
#include <utility>

#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/trace.hpp"
#include "troupe/detail/logger.hpp"

namespace troupe::detail {

namespace {
spill::store_options store_options_of(const spill_options& o) {
  spill::store_options s;
  s.dir = o.dir;
  s.disk_capacity_bytes = o.disk_capacity_bytes;
  s.segment_bytes = o.segment_bytes;
  s.fsync = o.fsync;
  s.persist_cursor = o.durable || o.write_ahead;  // without durability nothing is read back after a crash
  return s;
}
} // namespace

spill_box::spill_box(actor_cell& cell, const spill_options& o, std::vector<message_decoder> accepts)
    : cell_(cell), opts_(o), wal_(o.write_ahead), durable_(o.durable || o.write_ahead) {
  for (const auto& t : accepts) {
    inbound_.emplace(*t.name, t.ops);
    names_.emplace(t.ops, t.name);
  }
  store_ = spill::store::open(store_options_of(o));
  count_losses_locked();  // what recovery found damaged or missing
  if (wal_) {
    cell_.own_box().refuse_all(true);  // for good: every message goes through the disk
    if (opts_.sync == spill_sync::interval) start_sync_timer();
  }
  if (store_->empty()) return;
  if (!durable_) {
    const std::uint64_t stale = store_->size();
    while (store_->front()) store_->pop();
    n_.discarded = stale;
    logger().warn("troupe: spill {}: discarded {} messages left by an earlier run (durable is off)", opts_.dir, stale);
    return;
  }
  // Delivered before anything sent from now on (the cell is not running yet:
  // its construction token keeps it from being scheduled).
  logger().info("troupe: spill {}: {} messages recovered from an earlier run", opts_.dir, store_->size());
  recovered_left_ = store_->size();
  bool schedule = false;
  take_token_locked(schedule);
}

void spill_box::start_sync_timer() {
  syncer_ = std::make_shared<syncer>();
  syncer_->box = this;
  std::weak_ptr<syncer> w = syncer_;
  sync_timer_ = cell_.system().timers().schedule_periodic(opts_.sync_interval, [w] {
    auto s = w.lock();
    if (!s) return;
    std::lock_guard lock(s->mx);  // shut_down waits for a sync under way
    if (s->box != nullptr) s->box->sync_upto(UINT64_MAX);
  });
}

void spill_box::sync_upto(std::uint64_t ticket) noexcept {
  std::lock_guard sync_lock(sync_mx_);
  if (synced_ >= ticket) return;  // a sync that began after that append covered it
  try {
    std::uint64_t upto = 0;
    spill::sync_point p;
    {
      std::lock_guard lock(mx_);
      upto = appended_;
      p = store_->prepare_sync();
    }
    if (p.empty()) return;
    p.run();
    synced_ = upto;
    std::lock_guard lock(mx_);
    ++n_.syncs;
  } catch (const std::exception& ex) {
    logger().error("troupe: spill {}: cannot sync to stable storage: {}", opts_.dir, ex.what());
  }
}

spill_box::~spill_box() {
  if (syncer_) {
    std::lock_guard lock(syncer_->mx);
    syncer_->box = nullptr;
  }
  sync_timer_.cancel();
  for (envelope* e : ready_) discard(e, ask_error::actor_stopped, "receiver stopped");
  for (envelope* e : held_) discard(e, ask_error::actor_stopped, "receiver stopped");
}

void spill_box::take_token_locked(bool& schedule) noexcept {
  if (token_) return;
  token_ = true;
  cell_.own_box().refuse_all(true);  // keep order: nothing overtakes the spill in memory
  schedule = cell_.own_box().add_token();
}

bool spill_box::append_locked(envelope* e, bool& disk_full) {
  disk_full = false;
  if (e->reply != nullptr) return false;  // an ask's reply slot lives in this process
  const std::string* name = nullptr;
  std::string_view payload;
  if (wire_envelope::is(e)) {
    // From another node: its bytes as they came.
    auto it = names_.find(e->ops);
    if (it == names_.end()) return false;
    name = it->second;
    payload = static_cast<wire_envelope*>(e)->payload();
  } else {
    if (e->ops->wire == nullptr) return false;  // not in the remote_interface: could not be read back
    name = &e->ops->wire->name();
    scratch_.clear();
    try {
      e->ops->wire->encode(*e, scratch_);
    } catch (const std::exception& ex) {
      logger().error("troupe: spill {}: cannot encode a {}: {}", opts_.dir, *name, ex.what());
      return false;
    }
    payload = scratch_;
  }
  std::string_view type = *name;
  try {
    if (e->trace != nullptr) [[unlikely]] {
      traced_name_.assign(*name).push_back('\0');
      put_trace(traced_name_, *e->trace);
      type = traced_name_;
    }
    if (store_->append(type, payload) == spill::append_result::full) {
      disk_full = true;
      return false;
    }
  } catch (const std::exception& ex) {
    logger().error("troupe: spill {}: cannot write: {}", opts_.dir, ex.what());
    disk_full = true;
    return false;
  }
  ++n_.spilled;
  n_.spilled_bytes += payload.size();
  e->ops->destroy(e);
  return true;
}

spill_box::outcome spill_box::offer(envelope* e, bool& schedule) noexcept {
  outcome out;
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mx_);
    out = place_locked(e, schedule);
    if (out == outcome::spilled) ticket = ++appended_;
  }
  // Write-ahead with sync per_batch: on stable storage before tell returns.
  if (ticket != 0 && wal_ && opts_.sync == spill_sync::per_batch) sync_upto(ticket);
  return out;
}

spill_box::outcome spill_box::place_locked(envelope* e, bool& schedule) noexcept {
  if (closed_) return outcome::closed;
  if (!wal_ && !token_ && cell_.own_box().depth() < cell_.own_box().capacity()) return outcome::retry;  // drained meanwhile
  if (held_.empty()) {
    bool disk_full = false;
    if (append_locked(e, disk_full)) {
      take_token_locked(schedule);
      return outcome::spilled;
    }
    if (disk_full && opts_.on_disk_full == overflow::fail) {
      ++n_.refused;
      return outcome::full;
    }
  }
  // Behind the disk: in memory, in order, and the sender waits.
  try {
    held_.push_back(e);
  } catch (...) {
    ++n_.refused;
    return outcome::full;
  }
  ++n_.held;
  take_token_locked(schedule);
  return outcome::held;
}

envelope* spill_box::take_ready() noexcept {
  if (ready_.empty()) return nullptr;
  envelope* e = ready_.front();
  ready_.pop_front();
  redelivered_ = std::exchange(ready_recovered_, false);
  return e;
}

void spill_box::unspool_locked(std::size_t batch) {
  while (ready_.size() < batch) {
    auto rec = store_->front();
    if (!rec) break;
    std::string_view type = rec->type_name;
    std::string_view trace;  // after the name's first NUL (a name has none of its own)
    if (const std::size_t nul = type.find('\0'); nul != std::string_view::npos) {
      trace = type.substr(nul + 1);
      type = type.substr(0, nul);
    }
    auto it = inbound_.find(type);
    if (it == inbound_.end()) {
      // Written by an earlier version of this actor that accepted it.
      ++n_.corrupt;
      logger().error("troupe: spill {}: record {} has a type this actor does not accept ({}): not delivered",
                     opts_.dir, rec->sequence, std::string(type).substr(0, 128));
      store_->pop();
      continue;
    }
    ready_.push_back(wire_envelope::make(it->second, rec->payload));
    if (!trace.empty()) [[unlikely]] adopt_wire_trace(ready_.back(), trace);
    if (durable_) {
      delivered_unpopped_ = true;
      ready_recovered_ = recovered_left_ > 0;  // left by an earlier run: may have been handled then
      if (recovered_left_ > 0) --recovered_left_;
    } else {
      store_->pop();
    }
    ++n_.unspooled;
  }
}

envelope* spill_box::next(std::uint64_t taken, bool& released) noexcept {
  released = false;
  // Records read back earlier passed the check below when they were read:
  // whatever their senders pushed to memory before them was delivered first.
  if (envelope* e = take_ready()) return e;
  std::unique_lock lock(mx_);
  // Read under the lock: a sender's memory pushes precede its spill (and
  // token) under this lock, so they show in the depth read here.
  if (cell_.own_box().depth() - taken > (token_ ? 1u : 0u)) return nullptr;  // memory first: the consumer comes back
  try {
    if (std::exchange(delivered_unpopped_, false)) store_->pop();  // its handler has run
    // A batch per lock (senders append under the same lock); one record
    // with durability, popped once handled.
    unspool_locked(durable_ ? 1 : read_batch);
    count_losses_locked();  // damage met while reading
  } catch (const std::exception& ex) {
    // An unreadable disk: what is held still goes; the records stay for later.
    logger().error("troupe: spill {}: cannot read: {}", opts_.dir, ex.what());
  }
  if (envelope* e = take_ready()) return e;
  if (!store_->empty()) return nullptr;  // read error: try again next turn
  if (!held_.empty()) {
    envelope* e = held_.front();
    held_.pop_front();
    if (held_.empty()) drained_cv_.notify_all();
    redelivered_ = false;
    return e;
  }
  if (token_) {
    token_ = false;
    if (!wal_) cell_.own_box().refuse_all(false);  // write-ahead: memory stays closed for good
    released = true;
  }
  return nullptr;
}

bool spill_box::holding() const noexcept {
  std::lock_guard lock(mx_);
  return !held_.empty();
}

void spill_box::wait_until_drained() {
  std::unique_lock lock(mx_);
  drained_cv_.wait(lock, [&] { return held_.empty() || closed_; });
}

std::uint64_t spill_box::shut_down() noexcept {
  if (syncer_) {
    std::lock_guard lock(syncer_->mx);  // waits for a sync under way
    syncer_->box = nullptr;
  }
  sync_timer_.cancel();
  if (wal_ && opts_.sync != spill_sync::none) sync_upto(UINT64_MAX);  // what is on disk stays there
  std::deque<envelope*> held;
  std::uint64_t token = 0;
  std::uint64_t dropped_on_disk = 0;
  {
    std::lock_guard lock(mx_);
    closed_ = true;
    held.swap(held_);
    held.insert(held.begin(), ready_.begin(), ready_.end());  // read back, not delivered
    ready_.clear();
    token = token_ ? 1 : 0;
    token_ = false;
    try {
      if (std::exchange(delivered_unpopped_, false)) store_->pop();  // the last one was handled
    } catch (const std::exception& ex) {
      logger().error("troupe: spill {}: cannot record a delivery: {}", opts_.dir, ex.what());
    }
    if (!durable_) {
      std::uint64_t dropped = 0;
      try {
        while (store_->front()) {
          store_->pop();
          ++dropped;
        }
      } catch (const std::exception& ex) {
        logger().error("troupe: spill {}: cannot discard: {}", opts_.dir, ex.what());
      }
      if (dropped != 0) {
        n_.discarded += dropped;
        logger().warn("troupe: spill {}: the actor stopped with {} messages undelivered on disk (dropped: durable is off)",
                      opts_.dir, dropped);
        dropped_on_disk = dropped;
      }
    } else if (!store_->empty()) {
      logger().info("troupe: spill {}: {} messages stay on disk for the next spawn", opts_.dir, store_->size());
    }
  }
  drained_cv_.notify_all();
  cell_.system().count_drops(drop_reason::receiver_stopped, dropped_on_disk, "spilled message");
  for (envelope* e : held) {
    cell_.system().count_drop(drop_reason::receiver_stopped, *e->ops->type);
    discard(e, ask_error::actor_stopped, "receiver stopped");
  }
  return token;
}

void spill_box::count_losses_locked() noexcept {
  const std::uint64_t lost = store_->stats().lost_records;
  if (lost == losses_counted_) return;
  cell_.system().count_drops(drop_reason::spill_damaged, lost - losses_counted_,
                             "spilled message lost to damage in " + opts_.dir);
  losses_counted_ = lost;
}

spill_box::counters spill_box::stats() const {
  std::lock_guard lock(mx_);
  counters c = n_;
  const auto s = store_->stats();
  c.disk_bytes = s.bytes_on_disk;
  c.max_disk_bytes = s.max_bytes_on_disk;
  c.on_disk = s.records;
  c.corrupt += s.corrupt_records;
  c.lost = s.lost_records;
  c.token = token_;
  return c;
}

} // namespace troupe::detail
