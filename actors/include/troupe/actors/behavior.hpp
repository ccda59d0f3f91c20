#pragma once
/// @file Run-time behaviours for state machines: `become` / `unbecome`.
///
/// ```
/// struct door : troupe::actor<door> {
///   void on(open) { become(troupe::behavior{[this](close) { unbecome(); }}); }
///   void on(close) {}   // default behaviour
/// };
/// ```
/// While a behaviour is active, a message it has a handler for goes to that
/// handler; any other message goes to the actor's own `on` overloads (its
/// default behaviour), which may `stash()` it for later.

#include <functional>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace troupe {

namespace detail {
template <class F>
struct arg_of : arg_of<decltype(&F::operator())> {};
template <class C, class R, class A>
struct arg_of<R (C::*)(A) const> {
  using type = std::remove_cvref_t<A>;
};
template <class C, class R, class A>
struct arg_of<R (C::*)(A)> {
  using type = std::remove_cvref_t<A>;
};
} // namespace detail

/// A set of handlers, one per message type, made from lambdas taking the
/// message (by value or reference). Handlers return nothing.
class behavior {
 public:
  template <class... Fs>
  explicit behavior(Fs... fs) {
    handlers_.reserve(sizeof...(Fs));
    (add(std::move(fs)), ...);
  }

  /// The handler for `t`, or nullptr. The void* argument is the message (M*).
  [[nodiscard]] const std::function<void(void*)>* find(const std::type_info& t) const noexcept {
    for (const auto& h : handlers_) {
      if (*h.first == t) return &h.second;
    }
    return nullptr;
  }

 private:
  template <class F>
  void add(F f) {
    using M = typename detail::arg_of<F>::type;
    static_assert(std::is_void_v<std::invoke_result_t<F&, M&&>>, "troupe::behavior: handlers return void");
    handlers_.emplace_back(&typeid(M), [fn = std::move(f)](void* m) mutable { fn(std::move(*static_cast<M*>(m))); });
  }
  std::vector<std::pair<const std::type_info*, std::function<void(void*)>>> handlers_;
};

} // namespace troupe
