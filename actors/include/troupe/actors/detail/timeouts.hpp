#pragma once
/// @file Checking a caller's timeout once, where it is given.

#include <chrono>
#include <stdexcept>
#include <string>

#include "troupe/scheduler/timer_service.hpp"

namespace troupe {

namespace detail {
/// `d` in steady_clock units, at most `timer_service::longest` (longer ones,
/// `duration::max()` for "wait forever", are cut to that, so that
/// `now() + timeout` cannot overflow).
/// @throws std::invalid_argument if `d` is negative.
template <class Rep, class Period>
std::chrono::steady_clock::duration checked_timeout(std::chrono::duration<Rep, Period> d, const char* who) {
  if (d < std::chrono::duration<Rep, Period>::zero()) {
    throw std::invalid_argument(std::string(who) + ": timeout must not be negative");
  }
  // Compared in floating point: casting `d` (or the limit) to the other's
  // units could overflow either way.
  constexpr auto longest = timer_service::longest;
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(longest)) return longest;
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}
} // namespace detail

} // namespace troupe
