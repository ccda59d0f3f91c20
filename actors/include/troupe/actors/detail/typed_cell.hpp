#pragma once
/// @file A cell that holds an actor object of type A in place (one
/// allocation per spawn: runtime state and actor state together).

#include <new>
#include <typeinfo>
#include <utility>

#include "troupe/actors/detail/actor_cell.hpp"
#include "troupe/mailbox/block_pool.hpp"
#include "troupe/actors/detail/ops.hpp"
#include "troupe/actors/signals.hpp"

namespace troupe::detail {

actor_cell*& constructing_cell() noexcept;

template <class A>
concept has_on_start = requires(A& a) { a.on_start(); };
template <class A>
concept has_on_stop = requires(A& a) { a.on_stop(); };

template <class A>
class typed_cell final : public actor_cell, public pool::pooled {
 public:
  /// A cell with no actor object yet: `construct` builds it once a
  /// reference owns the cell (the actor's constructor may hand out
  /// references to it, which must keep the memory alive if it then throws).
  typed_cell(system_core* sys, const mailbox_options& opts) : actor_cell(sys, opts) {
    hold_construction_token();  // messages sent from the constructor wait for attach()
  }

  /// Builds the actor object in place (first spawn, or a restart).
  /// @note Only while no incarnation is alive.
  template <class... Args>
  void construct(Args&&... args) {
    actor_cell*& slot = constructing_cell();
    actor_cell* prev = std::exchange(slot, this);
    try {
      ::new (static_cast<void*>(storage_)) A(std::forward<Args>(args)...);
    } catch (...) {
      slot = prev;
      throw;
    }
    slot = prev;
    instance_ = storage_;
    instance_alive_ = true;
  }

  ~typed_cell() override {
    if (instance_alive_) destroy_instance();  // normally gone at its stop (end_incarnation)
  }
  void call_start() override {
    if constexpr (has_on_start<A>) static_cast<A*>(instance_)->on_start();
  }
  void call_stop() override {
    if constexpr (has_on_stop<A>) static_cast<A*>(instance_)->on_stop();
  }
  bool trap_exit(envelope* e) override {
    if constexpr (handles<A, exit_msg>) {
      user_ops<A, exit_msg>::invoke(*this, e);
      return true;
    } else {
      return false;
    }
  }

 protected:
  void destroy_instance() noexcept override { std::launder(reinterpret_cast<A*>(storage_))->~A(); }
  const std::type_info& type() const noexcept override { return typeid(A); }

 private:
  alignas(A) unsigned char storage_[sizeof(A)];
};

} // namespace troupe::detail
