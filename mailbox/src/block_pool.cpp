#include "troupe/mailbox/block_pool.hpp"

#include "troupe/detail/sanitizers.hpp"

#include <array>
#include <utility>
#include <mutex>
#include <new>
#include <vector>

namespace troupe::detail::pool {

namespace {

// Under AddressSanitizer every block goes to operator new and delete, so a
// use after free (of a message or a mailbox segment) is reported instead of
// landing in a recycled block.
constexpr bool pass_through = address_sanitized;

constexpr std::size_t granule = 16;
constexpr std::size_t class_count = max_block / granule;  // 16, 32, ..., 512
constexpr std::size_t magazine_size = 64;
constexpr std::size_t depot_limit = 1024;  // full magazines kept per class (64 Ki blocks)

struct magazine {
  std::size_t count = 0;
  std::array<void*, magazine_size> items;
};

std::size_t class_of(std::size_t n) noexcept { return (n + granule - 1) / granule - 1; }
std::size_t block_size(std::size_t c) noexcept { return (c + 1) * granule; }

void free_magazine(magazine* m, std::size_t c) noexcept {
  for (std::size_t i = 0; i < m->count; ++i) ::operator delete(m->items[i], block_size(c));
  delete m;
}

/// Shared store of full and empty magazines per size class.
struct depot {
  struct lane {
    std::mutex mx;
    std::vector<magazine*> full;
    std::vector<magazine*> empty;
  };
  std::array<lane, class_count> lanes;

  ~depot() {
    for (std::size_t c = 0; c < class_count; ++c) {
      for (magazine* m : lanes[c].full) free_magazine(m, c);
      for (magazine* m : lanes[c].empty) delete m;
    }
  }

  magazine* take_full(std::size_t c) {
    lane& l = lanes[c];
    std::lock_guard lock(l.mx);
    if (l.full.empty()) return nullptr;
    magazine* m = l.full.back();
    l.full.pop_back();
    return m;
  }

  magazine* take_empty(std::size_t c) {
    {
      lane& l = lanes[c];
      std::lock_guard lock(l.mx);
      if (!l.empty.empty()) {
        magazine* m = l.empty.back();
        l.empty.pop_back();
        return m;
      }
    }
    return new magazine();
  }

  void put(magazine* m, std::size_t c) noexcept {
    lane& l = lanes[c];
    {
      std::lock_guard lock(l.mx);
      try {
        if (m->count == 0) {
          l.empty.push_back(m);
          return;
        }
        if (l.full.size() < depot_limit) {
          l.full.push_back(m);
          return;
        }
      } catch (...) {
      }
    }
    free_magazine(m, c);
  }
};

depot& the_depot() {
  static depot* d = new depot();  // never destroyed: threads may free blocks during exit
  return *d;
}

/// Per-thread cache: a loaded and a previous magazine per class.
struct cache {
  std::array<magazine*, class_count> loaded{};
  std::array<magazine*, class_count> previous{};
  ~cache() {
    // The thread may still send after this (a static actor_system's
    // shutdown runs after main's thread_locals are gone): forget the
    // magazines handed back, so that a later allocation takes its own from
    // the depot (left to the exiting thread) instead of sharing one that
    // another thread may take.
    depot& d = the_depot();
    for (std::size_t c = 0; c < class_count; ++c) {
      if (magazine* m = std::exchange(loaded[c], nullptr)) d.put(m, c);
      if (magazine* m = std::exchange(previous[c], nullptr)) d.put(m, c);
    }
  }
};

thread_local cache tls_cache;

} // namespace

void* allocate(std::size_t n) {
  if (pass_through || n > max_block || n == 0) return ::operator new(n);
  const std::size_t c = class_of(n);
  cache& tc = tls_cache;
  magazine*& m = tc.loaded[c];
  if (m != nullptr && m->count > 0) return m->items[--m->count];
  magazine*& prev = tc.previous[c];
  if (prev != nullptr && prev->count > 0) {
    std::swap(m, prev);
    return m->items[--m->count];
  }
  if (magazine* full = the_depot().take_full(c)) {
    if (prev != nullptr) the_depot().put(prev, c);  // empty
    prev = m;
    m = full;
    return m->items[--m->count];
  }
  return ::operator new(block_size(c));
}

void deallocate(void* p, std::size_t n) noexcept {
  if (pass_through || n > max_block || n == 0) {
    ::operator delete(p, n);
    return;
  }
  const std::size_t c = class_of(n);
  cache& tc = tls_cache;
  magazine*& m = tc.loaded[c];
  if (m != nullptr && m->count < magazine_size) {
    m->items[m->count++] = p;
    return;
  }
  magazine*& prev = tc.previous[c];
  if (prev != nullptr && prev->count < magazine_size) {
    std::swap(m, prev);
    m->items[m->count++] = p;
    return;
  }
  try {
    magazine* fresh = the_depot().take_empty(c);
    if (prev != nullptr) the_depot().put(prev, c);  // full
    prev = m;
    m = fresh;
    m->items[m->count++] = p;
  } catch (...) {
    ::operator delete(p, block_size(c));
  }
}

} // namespace troupe::detail::pool
