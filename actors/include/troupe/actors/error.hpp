#pragma once
/// @file troupe's error codes, usable as std::error_code: `troupe::errc`
/// for what the registry, connects and lookups report, and `ask_error`
/// for why an ask got no reply. A `result<T>` carries
/// either as a std::error_code, so `r.error() == troupe::errc::auth_failed`
/// and `r.error() == troupe::ask_error::timeout` both read as they say.

#include <string>
#include <string_view>
#include <system_error>

namespace troupe {

/// Why an ask produced no reply.
enum class ask_error : unsigned char {
  timeout = 1,   ///< no reply within the timeout
  actor_stopped, ///< the receiver stopped (or had stopped) before answering
  exception,     ///< the handler threw; `message()` holds what()
  mailbox_full,  ///< the request was refused or dropped by the receiver's overflow policy
  node_down,     ///< the receiver's node became unreachable (or the request could not cross the network)
};

[[nodiscard]] std::string_view to_string(ask_error e) noexcept;

/// Errors reported through std::error_code by troupe's APIs.
enum class errc {
  name_taken = 1,      ///< registry: the name is held by another live actor
  actor_stopped,       ///< the actor has stopped (or the handle is empty)
  invalid_name,        ///< registry: empty name
  not_published,       ///< lookup: nothing is published under that name on that node
  interface_mismatch,  ///< lookup: the published actor is not of the requested type, or does not accept every type of the interface
  refused,             ///< connect: the other node refused the connection (version, name, too many handshakes)
  auth_failed,         ///< connect: the other node does not hold the same cookie, or TLS refused its certificate (or ours)
  io_error,            ///< connect, worker start: a system call failed (connect, resolve, fork, pipe, socketpair)
  shutting_down,       ///< the node is shutting down
};

/// The category of `troupe::errc` ("troupe").
[[nodiscard]] const std::error_category& troupe_category() noexcept;
/// The category of `troupe::ask_error` ("troupe.ask").
[[nodiscard]] const std::error_category& ask_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), troupe_category()};
}
[[nodiscard]] inline std::error_code make_error_code(ask_error e) noexcept {
  return {static_cast<int>(e), ask_category()};
}

/// The ask_error an error code stands for, for a reply slot (which only
/// speaks ask_error): its own value for the ask category, `exception` for
/// anything else.
[[nodiscard]] ask_error ask_error_of(const std::error_code& ec) noexcept;

} // namespace troupe

template <>
struct std::is_error_code_enum<troupe::errc> : std::true_type {};
template <>
struct std::is_error_code_enum<troupe::ask_error> : std::true_type {};
