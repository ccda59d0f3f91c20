#pragma once
/// @file An untyped handle: identity of an actor of any type. What monitors,
/// links, the registry and `down` messages carry.

#include <cstdint>
#include <functional>
#include <string>
#include <typeinfo>

#include "troupe/actors/detail/handle_base.hpp"

namespace troupe {

template <class A>
class actor_ref;

/// Handle to an actor whose type is not known statically. A value: cheap to
/// copy, safe to share and to send. Compares equal to the typed handles of
/// the same actor.
class any_ref : public detail::handle_base {
 public:
  any_ref() noexcept = default;
  /// Forgets the type of `r`. @threadsafe
  template <class A>
  any_ref(const actor_ref<A>& r) noexcept : handle_base(r.cell()) {}  // NOLINT(google-explicit-constructor)

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

  /// For the runtime: shares `c`.
  static any_ref from_cell(detail::actor_cell* c) noexcept { return any_ref(c); }

 private:
  explicit any_ref(detail::actor_cell* c) noexcept : handle_base(c) {}
};

} // namespace troupe

template <>
struct std::hash<troupe::any_ref> {
  std::size_t operator()(const troupe::any_ref& r) const noexcept { return std::hash<const void*>{}(r.cell()); }
};
