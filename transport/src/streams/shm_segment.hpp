#pragma once
// Private to the transport: the shared-memory segment of one connection.
//
// One memfd (sealed against shrinking and growing, so a peer cannot make
// our mapping fault) holds a header and two single-producer
// single-consumer byte rings: ring 0 carries bytes from side 0 (the side
// that made the segment) to side 1, ring 1 the other way. A connected
// stream socket between the two sides is the doorbell (a byte sent with
// MSG_DONTWAIT when the peer sleeps: it can never block the sender, whatever
// the peer does to the socket) and the liveness check (end of file when the
// peer is gone).
//
// Nothing the peer writes into the segment is trusted: indices are checked
// against the ring size on every read, sizes are copied out of the header
// once, after validation, and bytes are copied out before being parsed.

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe::transport::shm {

/// Control words of one ring, each on its own cache line.
struct ring_control {
  alignas(64) std::atomic<std::uint64_t> tail;  ///< bytes ever written (producer)
  alignas(64) std::atomic<std::uint64_t> head;  ///< bytes ever read (consumer)
  /// The consumer is (about to be) asleep on its doorbell; the producer
  /// that clears it rings the doorbell.
  alignas(64) std::atomic<std::uint32_t> reader_sleeping;
  /// The producer waits for space; the consumer that clears it rings the
  /// producer's doorbell.
  alignas(64) std::atomic<std::uint32_t> writer_waiting;
  /// Threads of the consumer polling the ring: while any does, the producer
  /// rings no doorbell. Only a hint: a wrong value costs a wake-up or delay,
  /// never a lost byte (the consumer's I/O thread keeps its doorbell armed).
  alignas(64) std::atomic<std::uint32_t> watchers;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "rings need address-free 64-bit atomics");

struct header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t data_offset;  ///< where ring 0's bytes start
  std::uint64_t ring_bytes;   ///< each ring's size, a power of two
  ring_control ring[2];
};

inline constexpr std::uint64_t segment_magic = 0x314d48535052544bULL;  // "KTRPSHM1"
inline constexpr std::uint32_t segment_version = 1;
/// Bytes before ring 0: the header, rounded up to a page.
inline constexpr std::size_t header_bytes = (sizeof(header) + 4095) & ~std::size_t{4095};
inline constexpr std::size_t min_ring_bytes = 4096;
inline constexpr std::size_t max_ring_bytes = std::size_t{1} << 30;

/// The descriptors of one side of a connection. Owning: `close_all` or a
/// stream made from them closes them.
struct link_fds {
  int control = -1;  ///< a connected stream socket: the doorbell, and EOF when the peer is gone
  int segment = -1;  ///< the memfd
  int side = 0;      ///< 0: made the segment; 1: the other side
  void close_all() noexcept;
};

/// Makes a segment with rings of `ring_bytes`: a sealed memfd to map as
/// side 0 and to hand to side 1. Throws std::system_error,
/// std::invalid_argument for a bad size.
int make_segment(std::size_t ring_bytes);

/// Sends the one byte `tag` carrying a duplicate of `fd` (SCM_RIGHTS) on
/// the stream socket `sock`, with `flags` (MSG_NOSIGNAL added). True when
/// sent; errno says why not.
bool send_fd(int sock, int fd, char tag, int flags) noexcept;

/// What `recv_with_fds` received beside the bytes.
struct passed_fds {
  static constexpr std::size_t max = 8;
  int fd[max];
  std::size_t count = 0;
  bool truncated = false;  ///< more came than fit (the kernel closed those)
  void close_all() noexcept;
};

/// One recvmsg of up to `size` bytes into `data` (with `flags`, plus
/// MSG_CMSG_CLOEXEC); the descriptors passed with them land in `got`, ours
/// to close. Returns recvmsg's result; errno says why when negative.
ssize_t recv_with_fds(int sock, char* data, std::size_t size, int flags, passed_fds& got) noexcept;

/// A segment mapped into this process.
class mapping {
 public:
  /// Maps `fd` after checking what it is: a sealed memfd of the size its
  /// header claims, with a valid header. Throws std::runtime_error saying
  /// what is wrong.
  explicit mapping(int fd);
  ~mapping();
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;

  [[nodiscard]] header& head() const noexcept { return *hdr_; }
  [[nodiscard]] char* ring_data(int ring) const noexcept {
    return reinterpret_cast<char*>(hdr_) + data_offset_ + static_cast<std::size_t>(ring) * ring_bytes_;
  }
  /// The ring size, validated once when mapped.
  [[nodiscard]] std::uint64_t ring_bytes() const noexcept { return ring_bytes_; }

 private:
  header* hdr_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t ring_bytes_ = 0;
  std::uint64_t data_offset_ = 0;
};

} // namespace troupe::transport::shm
