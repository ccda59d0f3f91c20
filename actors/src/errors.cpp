#include "troupe/actors/error.hpp"

namespace troupe {

std::string_view to_string(ask_error e) noexcept {
  switch (e) {
    case ask_error::timeout: return "timeout";
    case ask_error::actor_stopped: return "actor_stopped";
    case ask_error::exception: return "exception";
    case ask_error::mailbox_full: return "mailbox_full";
    case ask_error::node_down: return "node_down";
  }
  return "unknown";
}

namespace {
struct troupe_errors final : std::error_category {
  const char* name() const noexcept override { return "troupe"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::name_taken: return "name is held by another live actor";
      case errc::actor_stopped: return "actor has stopped";
      case errc::invalid_name: return "invalid name";
      case errc::not_published: return "nothing is published under that name";
      case errc::interface_mismatch: return "the published actor does not match the requested type";
      case errc::refused: return "the other node refused the connection";
      case errc::auth_failed: return "authentication failed (the cookies differ)";
      case errc::io_error: return "input/output error";
      case errc::shutting_down: return "the node is shutting down";
    }
    return "unknown troupe error";
  }
};

struct ask_errors final : std::error_category {
  const char* name() const noexcept override { return "troupe.ask"; }
  std::string message(int c) const override {
    switch (static_cast<ask_error>(c)) {
      case ask_error::timeout: return "no reply within the timeout";
      case ask_error::actor_stopped: return "the receiver stopped";
      case ask_error::exception: return "the handler failed";
      case ask_error::mailbox_full: return "the receiver's mailbox is full";
      case ask_error::node_down: return "the receiver's node is down";
    }
    return "unknown ask error";
  }
};
} // namespace

const std::error_category& troupe_category() noexcept {
  static const troupe_errors c;
  return c;
}

const std::error_category& ask_category() noexcept {
  static const ask_errors c;
  return c;
}

ask_error ask_error_of(const std::error_code& ec) noexcept {
  return ec.category() == ask_category() ? static_cast<ask_error>(ec.value()) : ask_error::exception;
}

} // namespace troupe
