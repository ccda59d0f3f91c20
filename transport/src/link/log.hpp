#pragma once
// Private to the transport: its logger (troupe's, see troupe/detail/logger.hpp).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

namespace troupe::transport {

spdlog::logger& log();

/// Runs a callback that may be user code (an outcome's `then`); what it
/// throws is logged as `what`'s and goes no further, so the bookkeeping
/// around the call still runs.
template <class F>
void run_guarded(const char* what, F&& f) noexcept {
  try {
    f();
  } catch (const std::exception& ex) {
    log().error("troupe: {} threw: {}", what, ex.what());
  } catch (...) {
    log().error("troupe: {} threw", what);
  }
}

/// Lines a peer can make us write again and again (refusals, redials, credit
/// stalls): at most one a second for each key. @threadsafe
class log_limiter {
 public:
  static constexpr std::size_t keys = 35;
  // Keys: a close_reason's value (below 30), then these.
  static constexpr std::size_t credit_stall_key = 30;
  static constexpr std::size_t redial_key = 31;
  static constexpr std::size_t accept_key = 32;
  static constexpr std::size_t remote_control_key = 33;
  static constexpr std::size_t local_peer_key = 34;

  /// Nothing when a line for `key` may not be written now; else what to
  /// append to it: empty, or how many were held back since the last one.
  std::optional<std::string> allow(std::size_t key) noexcept;

 private:
  std::array<std::atomic<std::int64_t>, keys> next_{};  // steady_clock nanoseconds
  std::array<std::atomic<std::uint64_t>, keys> held_{};
};

} // namespace troupe::transport
