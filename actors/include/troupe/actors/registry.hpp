#pragma once
/// @file Names for actors, freed when the actor stops (before its `down`s are sent).

#include <cstddef>
#include <memory>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "troupe/actors/any_ref.hpp"
#include "troupe/actors/error.hpp"

namespace troupe {

/// A system's name table. All members are @threadsafe.
class registry {
 public:
  /// Binds `name` to `ref`. Errors: `errc::invalid_name` (empty),
  /// `errc::name_taken` (bound to another live actor; binding the same actor
  /// again is fine), `errc::actor_stopped` (the actor is gone or `ref` empty).
  [[nodiscard]] std::error_code put(std::string_view name, const any_ref& ref);

  /// Binds `name` to `ref`, replacing any earlier binding (a supervisor
  /// re-registering the new incarnations of its children).
  [[nodiscard]] std::error_code replace(std::string_view name, const any_ref& ref);

  /// The actor bound to `name`, or an empty handle.
  [[nodiscard]] any_ref get(std::string_view name) const;

  /// The typed handle bound to `name`; empty when missing or of another type.
  template <class A>
  [[nodiscard]] actor_ref<A> get(std::string_view name) const {
    return get(name).template as<A>();
  }

  /// Unbinds `name`; false when it was not bound.
  bool erase(std::string_view name);

  /// Names bound now (a snapshot).
  [[nodiscard]] std::size_t size() const;

  /// For the runtime: drops every name of a stopping actor.
  void forget(const detail::actor_cell* c) noexcept;
  /// For the runtime: called (under the registry's lock) with each actor
  /// and the name it was just bound to. Set before any binding.
  void on_bind(std::function<void(detail::actor_cell&, std::string_view)> f) { on_bind_ = std::move(f); }

 private:
  std::error_code bind(std::string_view name, const any_ref& ref, bool overwrite);

  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex mx_;
  std::unordered_map<std::string, any_ref, hash, std::equal_to<>> by_name_;
  std::unordered_multimap<const detail::actor_cell*, std::string> by_cell_;
  std::function<void(detail::actor_cell&, std::string_view)> on_bind_;
};

} // namespace troupe
