#include <cxxabi.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/exit_reason.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/actors/system_config.hpp"
#include "troupe/actors/detail/demangle.hpp"

namespace troupe {

std::string detail::demangle(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : mangled;
  std::free(d);
  return out;
}

std::string_view to_string(send_result r) noexcept {
  switch (r) {
    case send_result::ok: return "ok";
    case send_result::muted: return "muted";
    case send_result::full: return "full";
    case send_result::dropped: return "dropped";
    case send_result::dead: return "dead";
    case send_result::not_serializable: return "not_serializable";
  }
  return "unknown";
}

std::string_view to_string(exit_reason r) noexcept {
  switch (r) {
    case exit_reason::normal: return "normal";
    case exit_reason::stopped: return "stopped";
    case exit_reason::exception: return "exception";
    case exit_reason::killed: return "killed";
    case exit_reason::node_down: return "node_down";
  }
  return "unknown";
}

std::string_view to_string(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::receiver_stopped: return "receiver_stopped";
    case drop_reason::mailbox_full: return "mailbox_full";
    case drop_reason::dropped_newest: return "dropped_newest";
    case drop_reason::dropped_oldest: return "dropped_oldest";
    case drop_reason::late_reply: return "late_reply";
    case drop_reason::node_down: return "node_down";
    case drop_reason::not_serializable: return "not_serializable";
    case drop_reason::not_exposed: return "not_exposed";
    case drop_reason::malformed: return "malformed";
    case drop_reason::not_activated: return "not_activated";
    case drop_reason::spill_damaged: return "spill_damaged";
  }
  return "unknown";
}

void system_config::validate() const {
  if (quantum == 0) throw std::invalid_argument("system_config: quantum must be at least 1");
  if (threads > 1024) throw std::invalid_argument("system_config: threads must be at most 1024 (0 = one per core)");
  default_mailbox.validate();
  if (metrics_log_interval.count() < 0) throw std::invalid_argument("system_config: metrics_log_interval must not be negative");
  if (default_mailbox.policy == overflow::spill) {
    throw std::invalid_argument("system_config: default_mailbox cannot spill (each spill mailbox needs its own directory)");
  }
  for (const auto& n : actor_metrics) {
    if (n.empty()) throw std::invalid_argument("system_config: actor_metrics holds an empty name");
  }
  if (actor_metrics_sample_every == 0 || (actor_metrics_sample_every & (actor_metrics_sample_every - 1)) != 0 ||
      actor_metrics_sample_every > (1u << 20)) {
    throw std::invalid_argument("system_config: actor_metrics_sample_every must be a power of two from 1 to 2^20");
  }
  if (actor_metrics.size() > 1000) {
    throw std::invalid_argument("system_config: actor_metrics lists more than 1000 names (per-actor series must stay few)");
  }
}

} // namespace troupe
