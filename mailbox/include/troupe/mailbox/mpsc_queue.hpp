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

/// The two halves of a Vyukov queue as free functions, so that containers
/// such as `mailbox` can place the producer word and the consumer words on
/// different cache lines.
namespace mpsc {

/// Appends the chain `first`..`last`, already linked through `next` by the
/// caller, with one exchange: its nodes become visible together, in order.
/// @threadsafe Any number of producers.
inline void push_chain(std::atomic<mpsc_node*>& tail, mpsc_node* first, mpsc_node* last) noexcept {
  last->next.store(nullptr, std::memory_order_relaxed);
  mpsc_node* prev = tail.exchange(last, std::memory_order_acq_rel);
  prev->next.store(first, std::memory_order_release);
}

/// Appends `n`. One atomic exchange; wait-free.
/// @threadsafe Any number of producers.
inline void push(std::atomic<mpsc_node*>& tail, mpsc_node* n) noexcept { push_chain(tail, n, n); }

/// Removes the oldest node, or returns nullptr when the queue is empty or a
/// producer is between its exchange and its link store (the caller retries
/// later; the node becomes visible as soon as that producer runs).
/// @note Only the single consumer may call this.
inline mpsc_node* pop(std::atomic<mpsc_node*>& tail, mpsc_node*& head, mpsc_node& stub) noexcept {
  mpsc_node* first = head;
  mpsc_node* next = first->next.load(std::memory_order_acquire);
  if (first == &stub) {
    if (next == nullptr) return nullptr;
    head = next;
    first = next;
    next = next->next.load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    head = next;
    return first;
  }
  if (tail.load(std::memory_order_acquire) != first) return nullptr;
  push(tail, &stub);
  next = first->next.load(std::memory_order_acquire);
  if (next != nullptr) {
    head = next;
    return first;
  }
  return nullptr;
}

/// True when no node is linked behind the consumer's position.
/// @note Only the single consumer may call this.
inline bool empty(const std::atomic<mpsc_node*>& tail, mpsc_node* head, const mpsc_node& stub) noexcept {
  return head == &stub && stub.next.load(std::memory_order_acquire) == nullptr &&
         tail.load(std::memory_order_acquire) == &stub;
}

} // namespace mpsc

/// A compact intrusive MPSC queue (all three words on one cache line). Used
/// for low-traffic lanes; `mailbox` splits the hot lane across cache lines.
class mpsc_queue {
 public:
  mpsc_queue() noexcept = default;
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  /// Appends `n`; the queue holds it until popped. @threadsafe
  void push(mpsc_node* n) noexcept { mpsc::push(tail_, n); }

  /// Removes the oldest node or returns nullptr (see `mpsc::pop`).
  /// @note Only the single consumer may call this.
  [[nodiscard]] mpsc_node* pop() noexcept { return mpsc::pop(tail_, head_, stub_); }

  /// @note Only the single consumer may call this.
  [[nodiscard]] bool empty() const noexcept { return mpsc::empty(tail_, head_, stub_); }

 private:
  std::atomic<mpsc_node*> tail_{&stub_};
  mpsc_node* head_{&stub_};
  mpsc_node stub_;
};

} // namespace troupe
