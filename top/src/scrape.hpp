#pragma once
// Private to troupe-top: one HTTP GET of a metrics endpoint.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace troupe::top {

/// An answer larger than this is refused (10,000 metered actors, the most a
/// process meters, come to tens of megabytes).
inline constexpr std::size_t max_answer_bytes = std::size_t{256} << 20;

/// The body of `GET /metrics` from host:port, or nullopt with `error` set
/// (refused, timed out, not a 200, larger than max_answer_bytes).
std::optional<std::string> scrape(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
                                  std::string& error);

} // namespace troupe::top
