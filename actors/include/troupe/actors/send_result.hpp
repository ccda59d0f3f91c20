#pragma once
/// @file Outcomes of `tell` and `ask`, and `result<T>`, the value-or-error of an ask.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace troupe {

/// What happened to a message given to `tell`. Every outcome other than
/// `ok` and `muted` is also counted and logged by the system.
enum class send_result : unsigned char {
  ok,      ///< queued
  muted,   ///< queued; the receiver is full (policy mute_sender), so the sending actor is
           ///< muted after this turn: stop sending and return from the handler
  full,    ///< refused: the receiver is full and its policy is `fail`
  dropped, ///< discarded: the receiver is full and its policy is `drop_newest`
  dead,    ///< the receiver has stopped: the message became a dead letter
};

/// True for `ok` and `muted` (the message will be delivered).
[[nodiscard]] constexpr bool accepted(send_result r) noexcept {
  return r == send_result::ok || r == send_result::muted;
}

[[nodiscard]] std::string_view to_string(send_result r) noexcept;

/// Why an ask produced no reply.
enum class ask_error : unsigned char {
  timeout = 1,   ///< no reply within the timeout
  actor_stopped, ///< the receiver stopped (or had stopped) before answering
  exception,     ///< the handler threw; `message()` holds what()
  mailbox_full,  ///< the request was refused or dropped by the receiver's overflow policy
  node_down,     ///< the receiver's node became unreachable (or the request could not cross the network)
};

[[nodiscard]] std::string_view to_string(ask_error e) noexcept;

/// Failure details of an ask.
struct failure {
  ask_error code;
  std::string message;
};

/// The reply of an ask, or why there is none.
template <class T>
class result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  result(failure f) : v_(std::in_place_index<1>, std::move(f)) {}    // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The reply. @throws std::logic_error naming the error when there is none.
  [[nodiscard]] T& value() & {
    check();
    return std::get<0>(v_);
  }
  [[nodiscard]] T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  [[nodiscard]] const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  [[nodiscard]] const T& operator*() const& { return value(); }
  [[nodiscard]] T& operator*() & { return value(); }
  [[nodiscard]] T* operator->() { return &value(); }

  /// The error; undefined when ok().
  [[nodiscard]] ask_error error() const noexcept { return std::get<1>(v_).code; }
  /// Human-readable detail of the error (empty when ok()).
  [[nodiscard]] std::string_view message() const noexcept { return ok() ? std::string_view{} : std::get<1>(v_).message; }

 private:
  void check() const {
    if (!ok()) {
      throw std::logic_error("troupe::result: no value (" + std::string(to_string(error())) + ": " +
                             std::get<1>(v_).message + ")");
    }
  }
  std::variant<T, failure> v_;
};

} // namespace troupe
