#pragma once
/// @file Recycling allocator for envelopes, actor cells and mailbox segments.
///
/// A message is allocated on the sender's thread and freed on the
/// receiver's, so a general-purpose allocator keeps moving memory between
/// per-thread caches under its own locks. This pool keeps per-thread
/// magazines of 64 blocks per size class and trades whole magazines through
/// a shared depot: one lock per 64 messages instead of allocator traffic per
/// message. Blocks over 512 bytes go straight to operator new, and so does
/// every block under AddressSanitizer (so that it sees use after free).

#include <cstddef>

namespace troupe::detail::pool {

/// Largest block the pool keeps; larger ones use operator new.
inline constexpr std::size_t max_block = 512;

/// Allocates `n` bytes (aligned for any fundamental type). @threadsafe
[[nodiscard]] void* allocate(std::size_t n);

/// Frees a block from `allocate(n)`, on any thread. @threadsafe
void deallocate(void* p, std::size_t n) noexcept;

/// Mix-in giving a class the pool's operator new/delete.
struct pooled {
  static void* operator new(std::size_t n) { return allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate(p, n); }
};

/// A standard allocator over the pool: a container's nodes off the
/// general allocator.
template <class T>
struct allocator {
  using value_type = T;
  allocator() noexcept = default;
  template <class U>
  allocator(const allocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) { return static_cast<T*>(pool::allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool::deallocate(p, n * sizeof(T)); }
  friend bool operator==(const allocator&, const allocator&) noexcept { return true; }
};

} // namespace troupe::detail::pool
