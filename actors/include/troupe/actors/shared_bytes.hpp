#pragma once
/// @file A byte buffer that a same-host peer receives without a copy.
///
/// `shared_bytes` is itself a message: `worker.tell(std::move(bytes))`, with
/// a handler `void on(troupe::shared_bytes b)`. Over a shared-memory
/// connection a buffer of `transfer_threshold` bytes or more is not copied:
/// its memory (a memfd of its own) is handed to the other process, which
/// maps it; the sender gives it up, as with a transfer list in postMessage.
/// Over any other connection, and for smaller buffers, it is copied like any
/// message. In one process it moves like any value. When the receiver drops
/// a transferred buffer, its memory goes back to the sender, whose next
/// `shared_bytes` of that size reuses it (a per-process pool of up to
/// 64 MiB): no page is allocated, zeroed, mapped or freed per buffer. A lent
/// buffer is sealed so that no peer can ever write into it (the receiver's
/// mapping is private: its writes are its own); a peer that kept its
/// read-only mapping after giving it back could still read what the next
/// user writes there, which `node_options::reuse_returned_buffers = false`
/// rules out, at the price of a fresh buffer per transfer.
///
/// Fill it before sending: `shared_bytes b(1 << 20); read(fd, b.data(), b.size());`

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "troupe/actors/wire.hpp"

namespace troupe {

namespace detail {
struct shared_bytes_access;
}

/// Where a transferred buffer goes back to when its receiver is done with
/// it (for transports: the sender then reuses its memory).
class bytes_lender {
 public:
  /// Called once per lent buffer, from the thread that drops it. @threadsafe
  virtual void give_back(std::uint64_t id) noexcept = 0;

 protected:
  ~bytes_lender() = default;
};

class shared_bytes {
 public:
  /// Buffers at least this large get a memfd of their own and are
  /// transferred, not copied, to a same-host peer.
  static constexpr std::size_t transfer_threshold = 64 * 1024;
  /// Large buffers' memory comes in steps of this size.
  static constexpr std::size_t transfer_step = 64 * 1024;

  shared_bytes() noexcept = default;
  /// `size` zero bytes. @throws std::system_error (memfd_create, mmap) or
  /// std::bad_alloc.
  explicit shared_bytes(std::size_t size);
  /// A copy of `bytes`.
  explicit shared_bytes(std::string_view bytes);
  shared_bytes(shared_bytes&& o) noexcept;
  shared_bytes& operator=(shared_bytes&& o) noexcept;
  shared_bytes(const shared_bytes&) = delete;
  shared_bytes& operator=(const shared_bytes&) = delete;
  ~shared_bytes();

  [[nodiscard]] char* data() noexcept { return data_; }
  [[nodiscard]] const char* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::string_view view() const noexcept { return {data_, size_}; }

 private:
  friend struct detail::shared_bytes_access;
  /// The memfd behind a large buffer, -1 for a small one.
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// Maps `size` bytes of a memfd a peer handed over (takes the
  /// descriptor, closed on failure too), privately (the receiver's writes
  /// are its own). @throws std::runtime_error when it is not a memfd sealed
  /// against resizing, of at least that size and backed by memory (not
  /// sparse: mapping it must cost this process no new pages).
  [[nodiscard]] static shared_bytes adopt(int fd, std::size_t size);
  /// Seals the memfd against resizing (the receiver checks it) and against
  /// any new writable shared mapping before it is handed over. False when
  /// it cannot be sealed.
  bool seal() noexcept;
  /// A buffer received on loan: when dropped it is unmapped and
  /// `lender->give_back(id)` runs.
  void on_loan(std::shared_ptr<bytes_lender> lender, std::uint64_t id) noexcept {
    lender_ = std::move(lender);
    loan_id_ = id;
  }
  /// A buffer whose memory a peer may still map: freed, never reused, when dropped.
  void never_reuse() noexcept { reusable_ = false; }
  void release() noexcept;
  /// Moves `o`'s buffer into this (empty) one; `o` is left empty.
  void take(shared_bytes& o) noexcept;
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // bytes mapped from fd_; 0 for a heap buffer
  int fd_ = -1;
  bool reusable_ = true;    // its memfd may go back to this process's pool when dropped
  std::shared_ptr<bytes_lender> lender_;  // a received loan: returned when dropped
  std::uint64_t loan_id_ = 0;
};

template <>
struct codec<shared_bytes> {
  static constexpr std::string_view name = "troupe.shared_bytes";
  static void encode(const shared_bytes& b, std::string& out) { out.append(b.data(), b.size()); }
  static bool decode(std::string_view in, shared_bytes& b) {
    b = shared_bytes(in);
    return true;
  }
};

namespace detail {
/// What a transport needs of a shared_bytes: the memfd behind it, and
/// lending and adopting it. @note Transports only.
struct shared_bytes_access {
  [[nodiscard]] static int fd(const shared_bytes& b) noexcept { return b.fd(); }
  [[nodiscard]] static shared_bytes adopt(int fd, std::size_t size) { return shared_bytes::adopt(fd, size); }
  static bool seal(shared_bytes& b) noexcept { return b.seal(); }
  static void on_loan(shared_bytes& b, std::shared_ptr<bytes_lender> lender, std::uint64_t id) noexcept {
    b.on_loan(std::move(lender), id);
  }
  static void never_reuse(shared_bytes& b) noexcept { b.never_reuse(); }
};
} // namespace detail

} // namespace troupe
