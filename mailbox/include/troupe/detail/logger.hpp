#pragma once
/// @file The one spdlog logger every troupe component writes to: "troupe",
/// on stderr unless the program registered its own logger of that name
/// first (then troupe uses that one). Any thread.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace troupe::detail {

inline spdlog::logger& logger() {
  static const std::shared_ptr<spdlog::logger> l = [] {
    if (auto existing = spdlog::get("troupe")) return existing;
    try {
      return spdlog::stderr_color_mt("troupe");
    } catch (const spdlog::spdlog_ex&) {
      return spdlog::get("troupe");  // registered concurrently
    }
  }();
  return *l;
}

} // namespace troupe::detail
