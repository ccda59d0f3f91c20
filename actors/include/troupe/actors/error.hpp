#pragma once
/// @file troupe's error codes, usable as std::error_code.

#include <string>
#include <system_error>

namespace troupe {

/// Errors reported through std::error_code by troupe's APIs.
enum class errc {
  name_taken = 1,   ///< registry: the name is held by another live actor
  actor_stopped,    ///< the actor has stopped (or the handle is empty)
  invalid_name,     ///< registry: empty name
};

/// The category of `troupe::errc`.
[[nodiscard]] const std::error_category& troupe_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), troupe_category()};
}

} // namespace troupe

template <>
struct std::is_error_code_enum<troupe::errc> : std::true_type {};
