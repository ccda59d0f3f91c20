#pragma once
// Private to the actors component: the system messages behind monitors,
// links and stops, shared by actor_cell.cpp and the remote proxy.

#include <cstdint>
#include <string>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/actors/exit_reason.hpp"

namespace troupe::detail {

struct monitor_request {
  cell_ptr watcher;
  std::uint64_t id;
  const message_ops* down_ops;
};

struct demonitor_request {
  /// `id` that undoes every monitor of `watcher` on the target at once.
  static constexpr std::uint64_t every = ~std::uint64_t{0};
  const actor_cell* watcher;
  std::uint64_t id;
};

struct link_request {
  cell_ptr from;
};

struct unlink_request {
  const actor_cell* from;
};

/// Which system message an envelope is (for the remote proxy, which turns
/// each into a control frame instead of running it).
enum class system_kind : unsigned char { other, stop, monitor, demonitor, link, unlink, exit };
system_kind kind_of(const envelope* e) noexcept;

envelope* make_monitor_envelope(monitor_request r);
envelope* make_demonitor_envelope(demonitor_request r);
envelope* make_link_envelope(link_request r);
envelope* make_unlink_envelope(unlink_request r);

/// Delivers `down` for `target` (stopped, or unreachable) to the watcher in `r`.
void send_down(actor_cell& target, const monitor_request& r) noexcept;
/// Delivers an exit signal from `from` to `to` (a linked actor).
void send_exit(actor_cell& to, actor_cell& from, exit_reason why, std::string what) noexcept;

} // namespace troupe::detail
