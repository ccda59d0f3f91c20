#include "troupe/actors/actor_system.hpp"

#include <stdexcept>

#include "troupe/actors/inbox.hpp"

namespace troupe {

actor_system::actor_system(system_config cfg) : core_(std::make_unique<detail::system_core>(std::move(cfg))) {
  core_->set_owner(this);
}

actor_system::~actor_system() = default;

std::optional<down> actor_system::await_stopped_for(const any_ref& target, std::chrono::steady_clock::duration timeout) {
  if (!target) throw std::invalid_argument("await_stopped: empty handle");
  inbox<down> watch(*this);
  const std::uint64_t id = watch.monitor(target);
  std::optional<down> d = watch.receive(timeout);
  if (!d) watch.demonitor(id);  // the target lets go of this inbox now, not when it stops
  return d;
}

} // namespace troupe
