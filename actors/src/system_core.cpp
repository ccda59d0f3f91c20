#include "troupe/actors/detail/system_core.hpp"
#include "troupe/detail/logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cxxabi.h>

#include <stdexcept>

#include "troupe/actors/detail/ops.hpp"
#include "troupe/scheduler/dedicated_thread.hpp"

namespace troupe::detail {

envelope* make_start_envelope();

namespace {

spdlog::logger& log() { return logger(); }

std::string demangle(const std::type_info& t) {
  int status = 0;
  char* d = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : t.name();
  std::free(d);
  return out;
}

/// Runs one cell on a thread of its own.
struct dedicated_executor final : executor {
  explicit dedicated_executor(resumable* r) : thread(r) {}
  void notify() noexcept override { thread.notify(); }
  void finish() noexcept override { thread.finish(); }
  dedicated_thread thread;
};

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

system_core::system_core(system_config cfg)
    : cfg_((cfg.validate(), std::move(cfg))),
      quantum_(cfg_.quantum),
      pool_(pool_options{.threads = cfg_.threads, .spin_rounds = cfg_.spin_rounds, .name = "troupe"}),
      timers_([this](const char* what) { log_timer_failure(what); }),
      metrics_on_(cfg_.metrics) {
  log();  // create the logger before any worker may need it
  if (!cfg_.actor_metrics.empty()) {
    registry_.on_bind([this](actor_cell& c, std::string_view name) { meter_if_wanted(c, name); });
  }
  if (cfg_.metrics_log_interval.count() > 0) arm_metrics_log();
}

void system_core::arm_metrics_log() {
  timers_.schedule_after(cfg_.metrics_log_interval, [this] {
    if (shutting_down_.load(std::memory_order_acquire)) return;
    const system_stats s = stats();
    std::string dead;
    for (std::size_t r = 0; r < drop_reason_count; ++r) {
      if (s.dead_letters[r] == 0) continue;
      dead += fmt::format("{}{}={}", dead.empty() ? "" : " ", to_string(static_cast<drop_reason>(r)), s.dead_letters[r]);
    }
    log().info("troupe metrics: actors live={} spawned={} stopped={} failed={} restarts={} give-ups={}; "
               "dead letters {} ({}); scheduler steals={} parks={} injected={}",
               s.live, s.spawned, s.stopped, s.failed, s.restarts, s.give_ups, s.total_dead(),
               dead.empty() ? "none" : dead, s.pool.steals, s.pool.parks, s.pool.injected);
    arm_metrics_log();
  });
}

system_core::~system_core() {
  try {
    shutdown();
  } catch (const std::exception& ex) {
    log().error("actor_system destroyed badly: {}", ex.what());
  }
}

void system_core::attach(actor_cell* c, bool dedicated, bool has_start) {
  // Counted live before shutting_down_ is read; shutdown() sets that flag
  // before it reads live_ (seq_cst both). So either this spawn is refused,
  // or shutdown waits for the new actor (and stops it).
  live_.fetch_add(1, std::memory_order_seq_cst);
  envelope* start = nullptr;
  try {
    if (shutting_down_.load(std::memory_order_seq_cst)) throw std::logic_error("actor_system: spawn after shutdown began");
    // Everything that can throw comes before the cell is registered, so a
    // failure leaves nothing half-attached; the thread comes last.
    if (has_start) start = make_start_envelope();
    if (dedicated) {
      std::unique_ptr<executor> ex;
      try {
        ex = std::make_unique<dedicated_executor>(c);
        std::lock_guard lock(dedicated_mx_);
        std::erase_if(dedicated_, [](const std::unique_ptr<executor>& e) {
          return static_cast<dedicated_executor&>(*e).thread.finished();
        });
        dedicated_.push_back(nullptr);
        c->set_executor(ex.get());
        dedicated_.back() = std::move(ex);
      } catch (...) {
        if (ex) static_cast<dedicated_executor&>(*ex).thread.finish();
        throw;
      }
    }
  } catch (...) {
    if (start != nullptr) start->ops->destroy(start);
    count_gone();
    throw;
  }
  const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  c->set_id(id);
  spawned_.fetch_add(1, std::memory_order_relaxed);
  {
    shard& s = shards_[id % shard_count];
    std::lock_guard lock(s.mx);
    c->reg_next_ = s.head;
    if (s.head != nullptr) s.head->reg_prev_ = c;
    s.head = c;
  }
  if (!cfg_.actor_metrics.empty()) meter_if_wanted(*c, {});
  if (start != nullptr) c->enqueue_system(start);
  c->release_construction_token();
}

void system_core::detach(actor_cell* c) noexcept {
  stopped_.fetch_add(1, std::memory_order_relaxed);
  stopped_by_[static_cast<std::size_t>(c->stop_reason())].fetch_add(1, std::memory_order_relaxed);
  {
    shard& s = shards_[c->id() % shard_count];
    std::lock_guard lock(s.mx);
    if (c->reg_prev_ != nullptr) c->reg_prev_->reg_next_ = c->reg_next_;
    else s.head = c->reg_next_;
    if (c->reg_next_ != nullptr) c->reg_next_->reg_prev_ = c->reg_prev_;
    c->reg_prev_ = c->reg_next_ = nullptr;
  }
  c->release();
  count_gone();
}

void system_core::drop_names(actor_cell* c) noexcept {
  if (c->named()) registry_.forget(c);
  // After forget(): a binding racing with this stop (and metering the
  // actor by that name) has finished by now.
  if (c->meter() != nullptr) forget_meter(c);
}

void system_core::count_gone() noexcept {
  if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(state_mx_);
    state_cv_.notify_all();
  }
}

bool system_core::gate_open(log_gate& g, std::uint64_t& suppressed) noexcept {
  const std::int64_t now = now_ns();
  std::int64_t next = g.next_ns.load(std::memory_order_relaxed);
  if (now >= next && g.next_ns.compare_exchange_strong(next, now + 1'000'000'000, std::memory_order_relaxed)) {
    suppressed = g.suppressed.exchange(0, std::memory_order_relaxed);
    return true;
  }
  g.suppressed.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void system_core::count_drop(drop_reason r, const std::type_info& type) noexcept {
  note_drops(r, 1, [&] { return demangle(type); });
}

void system_core::count_drops(drop_reason r, std::uint64_t n, std::string_view what) noexcept {
  if (n != 0) note_drops(r, n, [&] { return std::string(what); });
}

template <class Describe>
void system_core::note_drops(drop_reason r, std::uint64_t n, const Describe& describe) noexcept {
  const auto i = static_cast<std::size_t>(r);
  const std::uint64_t total = dead_[i].fetch_add(n, std::memory_order_relaxed) + n;
  // Observers: a dead letter caused while telling them of one is only counted.
  thread_local bool publishing = false;
  if (!publishing && dead_letters_.size() != 0) {
    publishing = true;
    // A dead letter is often counted where nothing may wait (a worker
    // draining a stopped actor's mailbox): a full subscriber takes it over
    // its bound rather than block the thread.
    never_block_scope never_block;
    try {
      dead_letters_.publish(dead_letter{r, describe(), n});
    } catch (...) {
    }
    publishing = false;
  }
  std::uint64_t suppressed = 0;
  if (!gate_open(drop_gates_[i], suppressed)) return;
  try {
    log().warn("dead letter ({}): {}{} [{} of this cause so far{}]", to_string(r), n == 1 ? "" : fmt::format("{} x ", n),
               describe(), total,
               suppressed != 0 ? fmt::format(", {} not logged since the last report", suppressed) : std::string());
  } catch (...) {
  }
}

void system_core::count_failure() noexcept { failed_.fetch_add(1, std::memory_order_relaxed); }

void system_core::log_timer_failure(const char* what) noexcept {
  std::uint64_t suppressed = 0;
  if (!gate_open(timer_failure_gate_, suppressed)) return;  // timers_.failures() counts every one
  try {
    log().error("a timer's callback threw (its message is lost): {}{}", what,
                suppressed != 0 ? fmt::format(" [{} more not logged since the last report]", suppressed) : std::string());
  } catch (...) {
  }
}

void system_core::log_failure(const actor_cell& c, const char* what) noexcept {
  std::uint64_t suppressed = 0;
  if (!gate_open(failure_gate_, suppressed)) return;
  try {
    log().error("actor {} ({}) stopped: exception: {}{}", c.id(), c.type_name(), what,
                suppressed != 0 ? fmt::format(" [{} similar failures not logged since the last report]", suppressed)
                                : std::string());
  } catch (...) {
  }
}

void system_core::note_restart(const child_restarted& e) {
  restarts_.fetch_add(1, std::memory_order_relaxed);
  if (child_restarts_.size() != 0) child_restarts_.publish(e);
}

void system_core::note_give_up(const actor_cell& sup, const std::string& why) noexcept {
  give_ups_.fetch_add(1, std::memory_order_relaxed);
  try {
    log().error("supervisor {} gave up: {}", sup.id(), why);
  } catch (...) {
  }
}

void system_core::stop_all_once() {
  std::vector<cell_ptr> cells;
  for (shard& s : shards_) {
    std::lock_guard lock(s.mx);
    for (actor_cell* c = s.head; c != nullptr; c = c->reg_next_) cells.emplace_back(c);
  }
  for (auto& c : cells) c->enqueue_system(make_stop_envelope(exit_reason::stopped));
}

void system_core::request_shutdown() noexcept {
  std::lock_guard lock(state_mx_);
  shutdown_requested_ = true;
  state_cv_.notify_all();
}

void system_core::await_shutdown() {
  {
    std::unique_lock lock(state_mx_);
    state_cv_.wait(lock, [&] { return shutdown_requested_; });
  }
  shutdown();
}

void system_core::shutdown() {
  if (current_cell() != nullptr || pool_.on_worker()) {
    throw std::logic_error("actor_system::shutdown() called from an actor would wait for itself; use request_shutdown()");
  }
  {
    // One caller shuts down; any other waits until it has.
    std::unique_lock lock(state_mx_);
    if (shutting_down_.exchange(true, std::memory_order_seq_cst)) {  // seq_cst: see attach()
      state_cv_.wait(lock, [&] { return shutdown_done_; });
      return;
    }
  }
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  while (live_.load(std::memory_order_seq_cst) != 0) {
    stop_all_once();
    std::unique_lock lock(state_mx_);
    state_cv_.wait_for(lock, std::chrono::milliseconds(100),
                       [&] { return live_.load(std::memory_order_acquire) == 0; });
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report > std::chrono::seconds(5)) {
      last_report = now;
      log().warn("shutdown: {} actors still running after {} s (a handler that never returns blocks shutdown)",
                 live_.load(), std::chrono::duration_cast<std::chrono::seconds>(now - started).count());
    }
  }
  timers_.stop();
  pool_.stop();
  {
    std::lock_guard lock(dedicated_mx_);
    dedicated_.clear();  // joins
  }
  std::lock_guard lock(state_mx_);
  shutdown_done_ = true;
  shutdown_requested_ = true;
  state_cv_.notify_all();
}

bool system_core::await_all_stopped(std::chrono::nanoseconds timeout) {
  if (current_cell() != nullptr) throw std::logic_error("await_all_stopped() from an actor would wait for itself");
  std::unique_lock lock(state_mx_);
  return state_cv_.wait_for(lock, timeout, [&] { return live_.load(std::memory_order_acquire) == 0; });
}

system_stats system_core::stats() const noexcept {
  system_stats s;
  s.spawned = spawned_.load(std::memory_order_relaxed);
  s.stopped = stopped_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.live = live_.load(std::memory_order_relaxed);
  s.restarts = restarts_.load(std::memory_order_relaxed);
  s.give_ups = give_ups_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < drop_reason_count; ++i) s.dead_letters[i] = dead_[i].load(std::memory_order_relaxed);
  s.pool = pool_.stats();
  return s;
}

} // namespace troupe::detail
