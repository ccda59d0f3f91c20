#pragma once
/// @file Supervisors: own children made from specs, restart them by a
/// strategy, within a restart intensity, with exponential backoff.
///
/// How a caller reaches a child: by a stable handle. A supervised child is
/// restarted *in place*: the new incarnation (a fresh object from the spec)
/// lives in the same cell and reads the same mailbox, so an `actor_ref`
/// taken once stays valid across restarts (messages sent meanwhile wait in
/// the mailbox, under its bound). Get the handles from `spawn_supervisor`,
/// by name with `supervisor_handle::child`, or from the registry when the
/// spec is `registered()`. A restarted *supervisor* starts fresh children
/// (new handles; registered names follow them).
///
/// Monitors see a supervised child stop only when it stops for good
/// (temporary, given up, or the supervisor stopping); links fire on every
/// incarnation's end.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/any_ref.hpp"
#include "troupe/actors/detail/spawn.hpp"

namespace troupe {

/// Which children restart when one stops.
enum class strategy : unsigned char {
  one_for_one,   ///< only the one that stopped
  one_for_all,   ///< all children
  rest_for_one,  ///< the one that stopped and those started after it
};

/// When a child is restarted.
enum class restart : unsigned char {
  permanent,  ///< always
  transient,  ///< only after an abnormal stop (exception, killed, node_down)
  temporary,  ///< never
};

/// Delay before a restart: `initial * 2^(n-1)` for the n-th restart of a
/// child in a row (within the intensity window), capped at `max`, times a
/// random factor in [1 - jitter, 1 + jitter].
struct backoff {
  std::chrono::milliseconds initial{0};
  std::chrono::milliseconds max{1000};
  double jitter = 0.2;
};

struct supervisor_options {
  strategy how = strategy::one_for_one;
  /// At most this many restarts within `window`; one more and the
  /// supervisor stops all children and fails (its own supervisor decides).
  std::size_t max_restarts = 3;
  std::chrono::milliseconds window{5000};
  backoff delay{};

  /// @throws std::invalid_argument for a non-positive window, negative
  /// delays, max below initial, or jitter outside [0, 1].
  void validate() const;
};

class supervisor;

/// How to make one child. Copyable: the arguments are kept to build each
/// new incarnation, so they must be copyable.
class child_spec {
 public:
  /// A child of type A built from copies of `args` at each (re)start.
  template <class A, class... Args>
  static child_spec of(std::string name, restart kind, Args... args) {
    return with_options<A>(std::move(name), kind, spawn_options{}, std::move(args)...);
  }

  /// Same with explicit spawn options (mailbox, dedicated thread).
  template <class A, class... Args>
  static child_spec with_options(std::string name, restart kind, spawn_options opts, Args... args) {
    static_assert(std::is_base_of_v<actor<A>, A>, "troupe: a child must derive from troupe::actor<A>");
    static_assert((std::is_copy_constructible_v<Args> && ...),
                  "troupe: child_spec keeps the constructor arguments to rebuild the child: they must be copyable");
    child_spec s;
    s.name_ = std::move(name);
    s.kind_ = kind;
    s.start_ = [opts, args...](detail::system_core& core, const detail::cell_ptr& sup,
                               const detail::message_ops* exit_ops) -> any_ref {
      auto supervise = [&](detail::actor_cell& c) {
        c.supervise_by(sup, exit_ops, [args...](detail::actor_cell& cc) {
          static_cast<detail::typed_cell<A>&>(cc).construct(args...);
        });
      };
      return detail::spawn_prepared<A>(core, opts, supervise, args...);
    };
    return s;
  }

  /// Also bind the child's name in the system registry (updated on restarts
  /// of the supervisor).
  child_spec& registered() & {
    registered_ = true;
    return *this;
  }
  child_spec&& registered() && {
    registered_ = true;
    return std::move(*this);
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] restart kind() const noexcept { return kind_; }

 private:
  friend class supervisor;
  std::string name_;
  restart kind_ = restart::permanent;
  bool registered_ = false;
  std::function<any_ref(detail::system_core&, const detail::cell_ptr&, const detail::message_ops*)> start_;
};

/// The children a supervisor started, by name.
struct supervisor_children {
  std::vector<std::pair<std::string, any_ref>> list;
  /// The typed handle of child `name`; empty when missing or of another type.
  template <class A>
  [[nodiscard]] actor_ref<A> get(std::string_view name) const {
    for (const auto& [n, r] : list) {
      if (n == name) return r.template as<A>();
    }
    return {};
  }
};

/// Asks a supervisor for its current children.
struct which_children {};

/// Asks a supervisor how often each child was restarted.
struct restart_counts {};
/// Its answer: per child, in start order.
struct child_restart_count {
  std::string name;
  std::uint64_t restarts = 0;
};

/// A supervisor actor. Spawn it with `spawn_supervisor` (or as a child
/// spec: `child_spec::of<supervisor>(name, kind, options, specs)`).
class supervisor : public actor<supervisor> {
 public:
  /// Starts every child, in order. `out`, when given, receives the handles
  /// (before the supervisor runs).
  supervisor(supervisor_options opts, std::vector<child_spec> specs,
             std::shared_ptr<supervisor_children> out = nullptr);
  ~supervisor();

  /// A child's incarnation ended. (Runtime message, on the system lane.)
  void on(detail::child_exit e);
  /// A (delayed) restart is due.
  struct restart_due {
    std::uint64_t generation;
    std::vector<std::size_t> children;
  };
  void on(restart_due r);
  /// The current children (for callers that did not keep the handles).
  supervisor_children on(which_children);
  /// Each child's restarts so far (also published, one `child_restarted`
  /// per restart, on `actor_system::child_restarts()`, and summed in `stats()`).
  std::vector<child_restart_count> on(restart_counts) const;
  /// Stops every child (in reverse start order) when this incarnation ends.
  void on_stop();

 private:
  struct child {
    child(child_spec s, any_ref r) : spec(std::move(s)), ref(std::move(r)) {}
    child_spec spec;
    any_ref ref;
    bool alive = true;
    unsigned streak = 0;  // restarts in a row within the window
    std::chrono::steady_clock::time_point last_restart{};
    std::uint64_t restarts = 0;
    exit_reason reason = exit_reason::stopped;  // why the pending restart is due
    std::string what;
  };
  void terminate_all(exit_reason why, const std::string& what);
  std::chrono::milliseconds next_delay(child& c);

  supervisor_options opts_;
  std::vector<child> children_;
  std::vector<std::chrono::steady_clock::time_point> restarts_;
  std::uint64_t generation_ = 0;
  std::minstd_rand rng_;
};

/// A spawned supervisor and the handles of its children.
struct supervisor_handle {
  actor_ref<supervisor> ref;
  std::shared_ptr<supervisor_children> children;
  /// The stable handle of child `name` (empty when missing or of another type).
  template <class A>
  [[nodiscard]] actor_ref<A> child(std::string_view name) const {
    return children->template get<A>(name);
  }
};

/// Spawns a supervisor with its children. @throws std::invalid_argument
/// for bad options or duplicate child names; what a child's constructor throws.
supervisor_handle spawn_supervisor(actor_system& sys, supervisor_options opts, std::vector<child_spec> specs);
/// The same, given the runtime (for actors that start supervisors of their own).
supervisor_handle spawn_supervisor(detail::system_core& core, supervisor_options opts, std::vector<child_spec> specs);

} // namespace troupe
