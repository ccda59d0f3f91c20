#pragma once
/// @file Bounded single-producer multi-consumer FIFO ring of pointers: a
/// worker's local run queue. The owning worker pushes; the owner and thieves
/// pop. Per-slot sequence numbers (after Vyukov's bounded MPMC queue).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace troupe {

/// Fixed-capacity SPMC ring of `T*`. `Capacity` must be a power of two.
template <class T, std::size_t Capacity>
class work_queue {
  static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "work_queue: Capacity must be a power of two");

 public:
  work_queue() noexcept {
    for (std::size_t i = 0; i < Capacity; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  }
  work_queue(const work_queue&) = delete;
  work_queue& operator=(const work_queue&) = delete;

  /// Appends `item`; false when full (the caller puts it elsewhere).
  /// @note Only the owning worker may call this.
  [[nodiscard]] bool try_push(T* item) noexcept {
    const std::size_t pos = tail_.load(std::memory_order_relaxed);
    slot& s = slots_[pos & (Capacity - 1)];
    if (s.seq.load(std::memory_order_acquire) != pos) return false;
    s.item = item;
    s.seq.store(pos + 1, std::memory_order_release);
    tail_.store(pos + 1, std::memory_order_relaxed);
    return true;
  }

  /// Removes the oldest item, or nullptr when empty.
  /// @threadsafe Owner and thieves.
  [[nodiscard]] T* try_pop() noexcept {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots_[pos & (Capacity - 1)];
      const std::size_t seq = s.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          T* item = s.item;
          s.seq.store(pos + Capacity, std::memory_order_release);
          return item;
        }
      } else if (diff < 0) {
        return nullptr;
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  /// A snapshot; may be stale by the time it returns. @threadsafe
  [[nodiscard]] bool maybe_empty() const noexcept {
    return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_relaxed);
  }

 private:
  struct slot {
    std::atomic<std::size_t> seq;
    T* item;
  };
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  alignas(64) std::array<slot, Capacity> slots_;
};

} // namespace troupe
