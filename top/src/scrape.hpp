#pragma once
// Private to troupe-top: one HTTP GET of a metrics endpoint.

#include <chrono>
#include <optional>
#include <string>

namespace troupe::top {

/// The body of `GET /metrics` from host:port, or nullopt with `error` set
/// (refused, timed out, not a 200).
std::optional<std::string> scrape(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
                                  std::string& error);

} // namespace troupe::top
