#pragma once
/// @file Outcomes of `tell` and `ask`, and `result<T>`, the value-or-error of an ask.

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "troupe/actors/error.hpp"

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
  not_serializable,  ///< refused: the receiver is on another node, and this message type cannot
                     ///< go there (not a protobuf message or a type with a codec, or not in the
                     ///< receiver's `remote_interface`); counted as a dead letter
};

/// True for `ok` and `muted` (the message will be delivered).
[[nodiscard]] constexpr bool accepted(send_result r) noexcept {
  return r == send_result::ok || r == send_result::muted;
}

[[nodiscard]] std::string_view to_string(send_result r) noexcept;

/// Why there is no value: an error code (an `ask_error`, a `troupe::errc`,
/// or any std::error_code) and a readable detail.
struct failure {
  failure(std::error_code c, std::string m) noexcept : code(c), message(std::move(m)) {}
  /// From `ask_error` or `troupe::errc` (see error.hpp).
  template <class E>
    requires std::is_error_code_enum_v<E>
  failure(E e, std::string m) noexcept : code(make_error_code(e)), message(std::move(m)) {}
  std::error_code code;
  std::string message;
};

/// A value, or why there is none: the reply of an ask, a connection, a
/// looked-up handle.
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

  /// The error; undefined when ok(). Compare it with an enum:
  /// `r.error() == troupe::ask_error::timeout`, `r.error() == troupe::errc::not_published`.
  [[nodiscard]] std::error_code error() const noexcept { return std::get<1>(v_).code; }
  /// Human-readable detail of the error (empty when ok()).
  [[nodiscard]] std::string_view message() const noexcept { return ok() ? std::string_view{} : std::get<1>(v_).message; }

 private:
  void check() const {
    if (!ok()) {
      throw std::logic_error("troupe::result: no value (" + error().message() + ": " + std::get<1>(v_).message + ")");
    }
  }
  std::variant<T, failure> v_;
};

} // namespace troupe
