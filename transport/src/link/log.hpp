#pragma once
// Private to the transport: its logger (troupe's, see troupe/detail/logger.hpp).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include <spdlog/spdlog.h>

namespace troupe::transport {

spdlog::logger& log();

/// A blocking call (`what`) made from an actor's turn blocks a worker of the
/// actor system: logged once per process, with the way out. Any thread.
void warn_if_blocking_an_actor(const char* what) noexcept;

/// Lines a peer can make us write again and again (refusals, redials): at
/// most one a second for each key, the next one saying how many were held
/// back. @threadsafe
class log_limiter {
 public:
  static constexpr std::size_t keys = 32;
  /// True when a line for `key` (< keys) may be written now; `held` is then
  /// how many were held back since the last one.
  bool allow(std::size_t key, std::uint64_t& held) noexcept;

 private:
  std::array<std::atomic<std::int64_t>, keys> next_{};  // steady_clock nanoseconds
  std::array<std::atomic<std::uint64_t>, keys> held_{};
};

} // namespace troupe::transport
