#pragma once
/// @file The one place a cell is made and attached: spawn, supervisor
/// children and internal supervisors all go through `spawn_prepared`.

#include <stdexcept>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/system_core.hpp"
#include "troupe/actors/detail/typed_cell.hpp"
#include "troupe/actors/detail/decoders.hpp"
#include "troupe/actors/system_config.hpp"

namespace troupe {
template <class Derived>
class actor;
}

namespace troupe::detail {

/// Builds an actor of type A from `args`, lets `prepare(cell)` configure it
/// while nothing can run it yet (supervision), then registers and starts it.
/// @throws whatever A's constructor or `prepare` throws, or std::logic_error
/// after shutdown began; nothing is left running then. @threadsafe
template <class A, class Prepare, class... Args>
actor_ref<A> spawn_prepared(system_core& core, const spawn_options& opts, Prepare&& prepare, Args&&... args) {
  static_assert(std::is_base_of_v<actor<A>, A>, "troupe: an actor type A must derive from troupe::actor<A>");
  const mailbox_options& mailbox = core.mailbox_for(opts.mailbox);
  auto* cell = new typed_cell<A>(&core, mailbox);
  auto ref = actor_ref<A>::from_cell(cell);  // frees the cell if anything below throws
  try {
    cell->construct(std::forward<Args>(args)...);
    if (mailbox.policy == overflow::spill) {
      if constexpr (exposable<A>) {
        cell->attach_spill(mailbox.spill, decoders_of<A>());
      } else {
        throw std::invalid_argument(
            "troupe: overflow::spill writes messages to disk: list the types the actor accepts in "
            "`using remote_interface = troupe::accepts<M...>;` (protobuf messages or types with a codec)");
      }
    }
    prepare(*cell);
    core.attach(cell, opts.dedicated_thread, has_on_start<A>);
  } catch (...) {
    cell->abandon();   // ends what the constructor started: timers, asks, links
    cell->release();  // the reference attach would have taken over
    throw;
  }
  return ref;
}

/// `spawn_prepared` without preparation.
template <class A, class... Args>
actor_ref<A> spawn_cell(system_core& core, const spawn_options& opts, Args&&... args) {
  return spawn_prepared<A>(core, opts, [](actor_cell&) {}, std::forward<Args>(args)...);
}

} // namespace troupe::detail
