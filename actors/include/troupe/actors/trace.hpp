#pragma once
/// @file W3C trace context carried with messages.
///
/// A message sent while a trace is current (inside a handler of a traced
/// message, or on a thread inside a `trace_scope`) carries the sender's
/// context: the trace id and the sender's span id. Its handler runs as a new
/// span of that trace (a fresh span id, the sender's as its parent), and
/// what it sends carries that span on; so do its asks, and the
/// continuations of their replies resume under the asking handler's span.
/// The context crosses every transport in an optional field of the wire
/// envelope (a peer without it ignores the field). `system_config::
/// on_message_span` receives each traced handler's span, to export it to
/// whatever tracing system is in use; messages without a context cost one
/// branch per send and per message handled.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>

namespace troupe {

/// The W3C trace context of a message (https://www.w3.org/TR/trace-context/):
/// which trace it belongs to and the span that sent it.
struct trace_context {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};  ///< the sender's span: the parent of the receiver's
  std::uint8_t flags = 1;                 ///< bit 0: sampled

  /// Both ids non-zero (the standard's rule for a usable context).
  [[nodiscard]] bool valid() const noexcept;
  /// As the `traceparent` header: "00-<32 hex>-<16 hex>-<2 hex>".
  [[nodiscard]] std::string traceparent() const;
  /// Reads a `traceparent` header; nullopt for anything but version 00 with
  /// valid lowercase hex ids (the standard's rules: bad input starts no trace).
  [[nodiscard]] static std::optional<trace_context> parse(std::string_view traceparent) noexcept;
  /// A new trace: random trace id and span id, sampled.
  [[nodiscard]] static trace_context new_trace();

  friend bool operator==(const trace_context&, const trace_context&) = default;
};

/// One traced message handled: what system_config::on_message_span gets,
/// on the actor's thread right after the handler returned (or threw).
struct message_span {
  trace_context context;                       ///< the trace, and this handling's own span id
  std::array<std::uint8_t, 8> parent_span_id;  ///< the sender's span
  std::uint64_t actor_id;                      ///< the actor that handled it
  const std::type_info* message_type;          ///< the message's C++ type (a reply's, for a continuation)
  std::chrono::steady_clock::time_point start, end;
};

/// The context a send from this thread carries now: the running traced
/// handler's span, or the innermost trace_scope; nullopt when none.
[[nodiscard]] std::optional<trace_context> current_trace() noexcept;

/// Makes messages sent from this thread carry `ctx` while it lives: for
/// code outside actors (a request handler that received a `traceparent`).
/// Nests; must be destroyed on the thread that made it.
class trace_scope {
 public:
  explicit trace_scope(const trace_context& ctx) noexcept;
  ~trace_scope();
  trace_scope(const trace_scope&) = delete;
  trace_scope& operator=(const trace_scope&) = delete;

 private:
  trace_context ctx_;
  const trace_context* prev_;
};

namespace detail {
/// The context of this thread's sends (see current_trace); null when none.
inline thread_local const trace_context* tls_trace = nullptr;
/// A random number from this thread's generator (splitmix64, seeded once
/// from the OS): ids, sampling gaps. Not for secrets.
[[nodiscard]] std::uint64_t random_u64() noexcept;
/// A new random span id (never zero).
[[nodiscard]] std::array<std::uint8_t, 8> new_span_id() noexcept;
/// 25 bytes on the wire: trace id, span id, flags.
inline constexpr std::size_t trace_wire_bytes = 25;
void put_trace(std::string& out, const trace_context& t);
/// From `trace_wire_bytes` bytes; nullopt when the size is wrong or the ids are zero.
[[nodiscard]] std::optional<trace_context> get_trace(std::string_view bytes) noexcept;
} // namespace detail

} // namespace troupe
