#pragma once
/// @file Failure as a message: what monitors and links deliver.

#include <cstdint>
#include <string>

#include "troupe/actors/any_ref.hpp"
#include "troupe/actors/exit_reason.hpp"

namespace troupe {

/// Delivered exactly once to an actor that called `monitor(target)` when the
/// target stops for good (a restart by its supervisor is not a stop). The
/// watcher handles it with `void on(troupe::down)`.
struct down {
  any_ref actor;             ///< who stopped
  exit_reason reason;        ///< why
  std::string what;          ///< detail (an exception's what(), ...)
  std::uint64_t monitor = 0; ///< the id `monitor()` returned
};

/// Delivered to an actor linked to one that stopped abnormally, when the
/// receiver traps exits: it traps exits exactly when it has a handler
/// `void on(troupe::exit_msg)`. An actor without one stops too, with the same reason.
struct exit_msg {
  any_ref from;        ///< the linked actor that stopped
  exit_reason reason;  ///< its reason
  std::string what;    ///< detail
};

} // namespace troupe
