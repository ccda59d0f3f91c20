// The actor system's metrics: its own families, the per-actor ones of the
// actors named in system_config::actor_metrics, and the sources others add
// (a node's links, an endpoint's own counters). Read by a scrape, never on
// the message path.
#include <algorithm>
#include <string>

#include "troupe/actors/detail/system_core.hpp"
#include "troupe/detail/logger.hpp"

namespace troupe::detail {
namespace {

/// "ns::outer<ns::x>::worker" -> "worker" (the last name outside <>).
std::string_view short_type_name(std::string_view full) {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const char ch = full[i];
    if (ch == '<') ++depth;
    else if (ch == '>') --depth;
    else if (depth == 0 && ch == ':' && i + 1 < full.size() && full[i + 1] == ':') start = i + 2;
  }
  return full.substr(start);
}

} // namespace

void system_core::meter_if_wanted(actor_cell& c, std::string_view name) {
  const auto& wanted = cfg_.actor_metrics;
  std::string label;
  if (!name.empty()) {
    if (std::find(wanted.begin(), wanted.end(), name) == wanted.end()) return;
    label = std::string(name);
  } else {
    const std::string full = c.type_name();
    const std::string_view brief = short_type_name(full);
    if (std::find(wanted.begin(), wanted.end(), full) != wanted.end()) label = full;
    else if (std::find(wanted.begin(), wanted.end(), brief) != wanted.end()) label = std::string(brief);
    else return;
  }
  std::lock_guard lock(metered_mx_);
  if (metered_.size() >= max_metered_actors) {
    // A type filter can match any number of actors; the series must stay few.
    if (!metered_cap_logged_) {
      metered_cap_logged_ = true;
      logger().warn("troupe: {} actors have per-actor metrics already; '{}' and any further ones get none "
                 "(system_config::actor_metrics matches too many)", max_metered_actors, label);
    }
    return;
  }
  if (!c.start_metering(std::move(label), cfg_.actor_metrics_sample_every)) return;  // metered already (by type, or another name)
  c.add_ref();
  metered_.push_back(&c);
}

void system_core::forget_meter(actor_cell* c) noexcept {
  bool held = false;
  {
    std::lock_guard lock(metered_mx_);
    auto it = std::find(metered_.begin(), metered_.end(), c);
    if (it != metered_.end()) {
      *it = metered_.back();
      metered_.pop_back();
      held = true;
    }
  }
  if (held) c->release();  // not the last reference: detach's caller still holds the registry's
}

std::uint64_t system_core::add_metrics_source(metrics_source f) {
  std::lock_guard lock(sources_mx_);
  const std::uint64_t id = next_source_++;
  sources_.emplace_back(id, std::move(f));
  return id;
}

void system_core::remove_metrics_source(std::uint64_t id) {
  std::lock_guard lock(sources_mx_);  // also waits for a scrape that is calling it
  std::erase_if(sources_, [id](const auto& s) { return s.first == id; });
}

std::string system_core::metrics_text() {
  metrics_writer w;
  write_metrics(w);
  write_actor_metrics(w);
  std::lock_guard lock(sources_mx_);
  for (const auto& [id, f] : sources_) f(w);
  return w.text();
}

void system_core::write_metrics(metrics_writer& w) {
  const system_stats s = stats();
  w.gauge("troupe_actors_running", "Actors alive now", static_cast<double>(s.live));
  w.counter("troupe_actors_spawned_total", "Actors spawned since the system started", s.spawned);
  for (std::size_t r = 0; r < stopped_by_.size(); ++r) {
    w.counter("troupe_actors_stopped_total", "Actors stopped, by why", stopped_by_[r].load(std::memory_order_relaxed),
              {{"reason", to_string(static_cast<exit_reason>(r))}});
  }
  std::uint64_t processed = 0;
  for (const auto& p : processed_) processed += p.v.load(std::memory_order_relaxed);
  if (metrics_on_) {
    w.counter("troupe_messages_processed_total", "User messages handled by actors", processed);
  }
  for (std::size_t r = 0; r < drop_reason_count; ++r) {
    w.counter("troupe_dead_letters_total", "Messages not delivered, by cause", s.dead_letters[r],
              {{"cause", to_string(static_cast<drop_reason>(r))}});
  }
  w.counter("troupe_sender_mutes_total",
            "Senders (actors) muted, or threads blocked, by a full mailbox with policy mute_sender",
            mutes_.load(std::memory_order_relaxed));
  w.counter("troupe_supervisor_restarts_total", "Children restarted by their supervisors", s.restarts);
  w.counter("troupe_supervisor_give_ups_total", "Supervisors that exceeded their restart intensity", s.give_ups);
  w.gauge("troupe_scheduler_workers", "Worker threads of the pool", static_cast<double>(pool_.size()));
  w.counter("troupe_scheduler_steals_total", "Actors taken from another worker's queue", s.pool.steals);
  w.counter("troupe_scheduler_parks_total", "Times a worker went to sleep", s.pool.parks);
  w.counter("troupe_scheduler_injected_total", "Actors scheduled from outside the pool", s.pool.injected);
  w.gauge("troupe_scheduler_injection_queue_depth", "Actors waiting in the pool's injection queue",
          static_cast<double>(s.pool.injection_depth));
  w.gauge("troupe_timers_pending", "Timers waiting to fire", static_cast<double>(timers_.pending()));
  w.counter("troupe_timer_failures_total", "Timer callbacks that threw", timers_.failures());

  // Spill mailboxes: what they hold on disk now, and the most they held.
  std::uint64_t disk = 0, high = 0, spilled = 0;
  for (shard& sh : shards_) {
    std::lock_guard lock(sh.mx);
    for (actor_cell* c = sh.head; c != nullptr; c = c->reg_next_) {
      if (!c->spills()) continue;
      const mailbox_metrics m = c->metrics();
      disk += m.spill.disk_bytes;
      high = std::max(high, m.spill.max_disk_bytes);
      spilled += m.spill.spilled;
    }
  }
  w.gauge("troupe_spill_disk_bytes", "Bytes in spill files now, over every spill mailbox", static_cast<double>(disk));
  w.gauge("troupe_spill_disk_high_water_bytes", "The largest spill of one mailbox so far (live actors)",
          static_cast<double>(high));
  w.counter("troupe_spill_messages_total", "Messages written to disk by the spill mailboxes of live actors", spilled);
}

void system_core::write_actor_metrics(metrics_writer& w) {
  std::vector<cell_ptr> cells;
  {
    std::lock_guard lock(metered_mx_);
    cells.reserve(metered_.size());
    for (actor_cell* c : metered_) cells.emplace_back(c);
  }
  for (const cell_ptr& c : cells) {
    const actor_meter* m = c->meter();
    const std::string id = std::to_string(c->id());
    const metrics_writer::labels l{{"actor", m->label}, {"id", id}};
    const mailbox_metrics mb = c->metrics();
    w.gauge("troupe_actor_mailbox_depth", "Messages waiting in the actor's mailbox", static_cast<double>(mb.depth), l);
    w.gauge("troupe_actor_muted_senders", "Senders waiting for room in the actor's mailbox",
            static_cast<double>(mb.muted_senders), l);
    w.counter("troupe_actor_messages_processed_total", "Messages the actor handled",
              m->processed.load(std::memory_order_relaxed), l);
    w.histogram("troupe_actor_mailbox_time_seconds",
                "Time from send to the start of the handler (sampled: system_config::actor_metrics_sample_every)",
                m->mailbox_time.read(), l);
    w.histogram("troupe_actor_processing_time_seconds",
                "Time in the handler, a coroutine handler's until it first suspends (sampled as above)",
                m->processing_time.read(), l);
  }
}

} // namespace troupe::detail
