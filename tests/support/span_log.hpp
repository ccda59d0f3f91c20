#pragma once
/// @file The spans an actor system reports (system_config::on_message_span),
/// kept for a test thread to look at.

#include <functional>
#include <mutex>
#include <optional>
#include <typeinfo>
#include <vector>

#include "troupe/actors/trace.hpp"

namespace troupe::test {

struct span_log {
  std::mutex mx;
  std::vector<message_span> spans;

  void add(const message_span& s) {
    std::lock_guard lock(mx);
    spans.push_back(s);
  }
  /// For system_config::on_message_span: records into this log (which must
  /// outlive the system).
  [[nodiscard]] std::function<void(const message_span&)> hook() {
    return [this](const message_span& s) { add(s); };
  }
  [[nodiscard]] std::size_t size() {
    std::lock_guard lock(mx);
    return spans.size();
  }
  /// The first span of a handler of a message of type T, if any yet.
  template <class T>
  [[nodiscard]] std::optional<message_span> of() {
    std::lock_guard lock(mx);
    for (const auto& s : spans) {
      if (*s.message_type == typeid(T)) return s;
    }
    return std::nullopt;
  }
  /// Every span of a handler of a message of type T so far.
  template <class T>
  [[nodiscard]] std::vector<message_span> all_of() {
    std::lock_guard lock(mx);
    std::vector<message_span> out;
    for (const auto& s : spans) {
      if (*s.message_type == typeid(T)) out.push_back(s);
    }
    return out;
  }
};

} // namespace troupe::test
