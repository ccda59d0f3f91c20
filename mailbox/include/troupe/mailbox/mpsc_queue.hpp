#pragma once
/// @file Intrusive lock-free multi-producer single-consumer FIFO queue.
///
/// The algorithm is Dmitry Vyukov's intrusive MPSC queue: a push is one
/// atomic exchange on the tail followed by one release store that links the
/// previous node; a pop touches only consumer-owned state unless the queue
/// is (nearly) empty. There is no lock and no compare-and-swap loop.
///
/// Where a node lives and who frees it: the queue never allocates and never
/// frees. A pushed node belongs to the queue until the consumer pops it; the
/// caller owns it again after `pop()` returns it.

#include <atomic>
#include <cstddef>

namespace troupe {

/// Link field embedded in every queued object (messages derive from it).
struct mpsc_node {
  std::atomic<mpsc_node*> next{nullptr};
};

/// A Vyukov queue: the system lane of every mailbox (stop, exit, down,
/// replies), and any other low-traffic lane. All three words share a line.
class mpsc_queue {
 public:
  mpsc_queue() noexcept = default;
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  /// Appends `n`; the queue holds it until popped. One atomic exchange and
  /// one release store; wait-free. @threadsafe Any number of producers.
  void push(mpsc_node* n) noexcept {
    n->next.store(nullptr, std::memory_order_relaxed);
    mpsc_node* prev = tail_.exchange(n, std::memory_order_acq_rel);
    prev->next.store(n, std::memory_order_release);
  }

  /// Removes the oldest node, or returns nullptr when the queue is empty or
  /// a producer is between its exchange and its link store (the caller
  /// retries later; the node becomes visible as soon as that producer runs).
  /// @note Only the single consumer may call this.
  [[nodiscard]] mpsc_node* pop() noexcept {
    mpsc_node* first = head_;
    mpsc_node* next = first->next.load(std::memory_order_acquire);
    if (first == &stub_) {
      if (next == nullptr) return nullptr;
      head_ = next;
      first = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      head_ = next;
      return first;
    }
    if (tail_.load(std::memory_order_acquire) != first) return nullptr;
    push(&stub_);
    next = first->next.load(std::memory_order_acquire);
    if (next != nullptr) {
      head_ = next;
      return first;
    }
    return nullptr;
  }

  /// True when no node is linked behind the consumer's position.
  /// @note Only the single consumer may call this.
  [[nodiscard]] bool empty() const noexcept {
    return head_ == &stub_ && stub_.next.load(std::memory_order_acquire) == nullptr &&
           tail_.load(std::memory_order_acquire) == &stub_;
  }

 private:
  std::atomic<mpsc_node*> tail_{&stub_};
  mpsc_node* head_{&stub_};
  mpsc_node stub_;
};

} // namespace troupe
