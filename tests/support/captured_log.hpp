#pragma once
// Test helper: what the troupe logger writes while a captured_log lives.

#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <string>

#include "troupe/detail/logger.hpp"

namespace troupe::test {

/// Keeps every line logged through it.
class memory_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  bool contains(const std::string& s) {
    std::lock_guard lock(mutex_);
    return text_.find(s) != std::string::npos;
  }
  std::size_t count(const std::string& s) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto at = text_.find(s); at != std::string::npos; at = text_.find(s, at + s.size())) ++n;
    return n;
  }

 protected:
  /// Each line as "[level] text", so a test can check the level too.
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    text_.append("[").append(level.data(), level.size()).append("] ");
    text_.append(msg.payload.data(), msg.payload.size()).push_back('\n');
  }
  void flush_() override {}

 private:
  std::string text_;
};

/// Captures what the troupe logger writes while it lives (set up before
/// any thread that logs starts, removed after they stopped).
class captured_log {
 public:
  captured_log() { troupe::detail::logger().sinks().push_back(sink_); }
  ~captured_log() { std::erase(troupe::detail::logger().sinks(), sink_); }
  bool contains(const std::string& s) { return sink_->contains(s); }
  /// How many times `s` was logged.
  std::size_t count(const std::string& s) { return sink_->count(s); }

 private:
  std::shared_ptr<memory_sink> sink_ = std::make_shared<memory_sink>();
};

} // namespace troupe::test
