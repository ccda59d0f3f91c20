#pragma once
/// @file An untyped handle: identity of an actor of any type. What monitors,
/// links, the registry and `down` messages carry.

#include <cstdint>
#include <functional>
#include <string>
#include <typeinfo>

#include "troupe/actors/detail/actor_cell.hpp"

namespace troupe {

template <class A>
class actor_ref;

/// Handle to an actor whose type is not known statically. A value: cheap to
/// copy, safe to share and to send. Compares equal to the typed handles of
/// the same actor.
class any_ref {
 public:
  any_ref() noexcept = default;
  /// Forgets the type of `r`. @threadsafe
  template <class A>
  any_ref(const actor_ref<A>& r) noexcept : cell_(r.cell()) {}  // NOLINT(google-explicit-constructor)

  /// Unique id of the actor within its system (0 when empty).
  [[nodiscard]] std::uint64_t id() const noexcept { return cell_ ? cell_->id() : 0; }
  explicit operator bool() const noexcept { return static_cast<bool>(cell_); }

  /// Asks the actor to stop (system lane). @threadsafe
  void stop() const {
    if (cell_) cell_->enqueue_system(detail::make_stop_envelope(exit_reason::stopped));
  }

  /// The typed handle, or an empty one when the actor is not of type A. @threadsafe
  template <class A>
  [[nodiscard]] actor_ref<A> as() const noexcept {
    if (!cell_ || cell_->actor_type() != typeid(A)) return {};
    return actor_ref<A>::from_cell(cell_.get());
  }

  /// The actor's type name, demangled (for logs). @threadsafe
  [[nodiscard]] std::string type_name() const { return cell_ ? cell_->type_name() : std::string("<empty>"); }

  friend bool operator==(const any_ref& a, const any_ref& b) noexcept { return a.cell_ == b.cell_; }
  template <class A>
  friend bool operator==(const any_ref& a, const actor_ref<A>& b) noexcept {
    return a.cell_.get() == b.cell();
  }

  /// For the runtime: the cell behind the handle.
  [[nodiscard]] detail::actor_cell* cell() const noexcept { return cell_.get(); }
  /// For the runtime: shares `c`.
  static any_ref from_cell(detail::actor_cell* c) noexcept {
    any_ref r;
    r.cell_ = detail::cell_ptr(c);
    return r;
  }

 private:
  detail::cell_ptr cell_;
};

} // namespace troupe

template <>
struct std::hash<troupe::any_ref> {
  std::size_t operator()(const troupe::any_ref& r) const noexcept { return std::hash<const void*>{}(r.cell()); }
};
