#pragma once
/// @file The actor system: owns the worker pool, the timers and every actor.

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/detail/spawn.hpp"
#include "troupe/actors/signals.hpp"
#include "troupe/actors/system_config.hpp"
#include "troupe/actors/system_stats.hpp"

namespace troupe {

namespace detail {
struct system_access;
}

/// Runs actors on a pool of worker threads.
///
/// Lifetime: the destructor shuts the system down (every actor stops, its
/// state is destroyed, the threads are joined). Handles must not be used
/// after the system is destroyed.
class actor_system {
 public:
  /// Starts the workers and the timer thread.
  /// @throws std::invalid_argument for an invalid config.
  explicit actor_system(system_config cfg = {});
  /// Shuts down (see `shutdown`).
  ~actor_system();
  actor_system(const actor_system&) = delete;
  actor_system& operator=(const actor_system&) = delete;

  /// Spawns an actor of type A constructed from `args`, with the system's
  /// default mailbox. A must derive from `troupe::actor<A>`.
  /// @throws std::logic_error after shutdown began; whatever A's constructor
  /// throws (then nothing was spawned). @threadsafe
  template <class A, class... Args>
  actor_ref<A> spawn(Args&&... args) {
    return spawn_with<A>(spawn_options{}, std::forward<Args>(args)...);
  }

  /// Spawns with explicit options (mailbox capacity and policy, dedicated
  /// thread); a mailbox not given is the system's default_mailbox.
  /// @throws std::invalid_argument for invalid options. @threadsafe
  template <class A, class... Args>
  actor_ref<A> spawn_with(const spawn_options& opts, Args&&... args) {
    return detail::spawn_cell<A>(*core_, opts, std::forward<Args>(args)...);
  }

  /// Asks for a shutdown without waiting: `await_shutdown` returns and does
  /// it. The way for an actor to end the program. @threadsafe
  void request_shutdown() noexcept { core_->request_shutdown(); }

  /// Blocks until `request_shutdown` is called, then shuts down. For main().
  /// @note Not from an actor.
  void await_shutdown() { core_->await_shutdown(); }

  /// Stops every actor (system lane: before their queued messages), waits
  /// until all have stopped and their state is destroyed, then joins the
  /// threads. Idempotent. @note Not from an actor (use request_shutdown).
  void shutdown() { core_->shutdown(); }

  /// Blocks until no actor is alive, or the timeout. True when none is.
  /// @note Not from an actor.
  template <class Rep, class Period>
  bool await_all_stopped(std::chrono::duration<Rep, Period> timeout) {
    return core_->await_all_stopped(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }

  /// Blocks until the actor behind `target` has stopped for good, or the
  /// timeout: its `down` (why it stopped), or nullopt on timeout. An actor
  /// already stopped answers at once. Works for remote actors too (their
  /// node going away is a stop).
  /// @throws std::invalid_argument for an empty handle or a negative
  /// timeout. @note Not from an actor (monitor it instead).
  template <class Rep, class Period>
  std::optional<down> await_stopped(const any_ref& target, std::chrono::duration<Rep, Period> timeout) {
    return await_stopped_for(target, detail::checked_timeout(timeout, "await_stopped"));
  }

  /// The name table: `registry().put("db", ref)`, `registry().get<db>("db")`.
  /// A name is freed when its actor stops. @threadsafe
  [[nodiscard]] troupe::registry& registry() noexcept { return core_->names(); }

  /// Every message that is not delivered is also published here:
  /// `sys.dead_letters().subscribe(ref)` (ref handles `troupe::dead_letter`). @threadsafe
  [[nodiscard]] topic<dead_letter>& dead_letters() noexcept { return core_->dead_letters(); }

  /// Every restart of a supervised child is published here:
  /// `sys.child_restarts().subscribe(ref)` (ref handles `troupe::child_restarted`). @threadsafe
  [[nodiscard]] topic<child_restarted>& child_restarts() noexcept { return core_->child_restarts(); }

  /// A snapshot of the counters. @threadsafe
  [[nodiscard]] system_stats stats() const noexcept { return core_->stats(); }

  /// The config in force. @threadsafe
  [[nodiscard]] const system_config& config() const noexcept { return core_->config(); }

  /// Every metric of this process's system in the Prometheus text format:
  /// the system's own families, per-actor families (actors named in
  /// system_config::actor_metrics) and every added source (a node's links).
  /// What a metrics endpoint serves. @threadsafe
  [[nodiscard]] std::string metrics_text() { return core_->metrics_text(); }

  /// Adds families of one's own to metrics_text(): `f` is called on the
  /// scraping thread, one scrape at a time, until removed. Returns the id
  /// to remove it with. @threadsafe
  std::uint64_t add_metrics_source(metrics_source f) { return core_->add_metrics_source(std::move(f)); }
  /// Removes a source; once this returns it is not called again. Not from
  /// inside a source. @threadsafe
  void remove_metrics_source(std::uint64_t id) { core_->remove_metrics_source(id); }


 private:
  std::optional<down> await_stopped_for(const any_ref& target, std::chrono::steady_clock::duration timeout);
  friend struct detail::system_access;
  std::unique_ptr<detail::system_core> core_;
};

namespace detail {
/// The runtime behind an actor_system, for what extends it (inboxes,
/// supervisors, a transport). @note Not for user code.
struct system_access {
  [[nodiscard]] static system_core& core(actor_system& s) noexcept { return *s.core_; }
};
} // namespace detail

} // namespace troupe
