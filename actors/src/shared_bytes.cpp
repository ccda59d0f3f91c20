#include "troupe/actors/shared_bytes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace troupe {

namespace {
constexpr unsigned required_seals = F_SEAL_SHRINK | F_SEAL_GROW;
// What we seal our own buffers with before lending them: besides a fixed
// size, no writable shared mapping but the one we already have. A peer can
// then never write into memory this process reuses.
constexpr unsigned lending_seals = required_seals | F_SEAL_FUTURE_WRITE;

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

/// As `fail`, closing `fd` first (errno kept).
[[noreturn]] void fail_closing(int fd, const char* what) {
  const int err = errno;
  ::close(fd);
  throw std::system_error(err, std::generic_category(), what);
}

/// Memfd buffers this process made and nobody maps any more, by mapped
/// size, for the next shared_bytes of that size.
class buffer_pool {
 public:
  static constexpr std::size_t max_bytes = std::size_t{64} << 20;
  struct buffer {
    char* data;
    std::size_t mapped;
    int fd;
  };
  static buffer_pool& instance() {
    static buffer_pool* p = new buffer_pool;  // never destroyed: buffers may come back during exit
    return *p;
  }
  bool take(std::size_t mapped, buffer& out) {
    std::lock_guard lock(mx_);
    auto it = free_.find(mapped);
    if (it == free_.end()) return false;
    out = it->second;
    free_.erase(it);
    bytes_ -= mapped;
    return true;
  }
  void put(const buffer& b) noexcept {
    {
      std::lock_guard lock(mx_);
      if (bytes_ + b.mapped <= max_bytes) {
        try {
          free_.emplace(b.mapped, b);
          bytes_ += b.mapped;
          return;
        } catch (...) {
        }
      }
    }
    ::munmap(b.data, b.mapped);
    ::close(b.fd);
  }

 private:
  std::mutex mx_;
  std::multimap<std::size_t, buffer> free_;
  std::size_t bytes_ = 0;
};

/// Memfd sizes come in 64 KiB steps, so that buffers of nearby sizes share.
std::size_t mapped_size(std::size_t size) {
  constexpr std::size_t step = shared_bytes::transfer_step;
  return (size + step - 1) / step * step;
}
} // namespace

shared_bytes::shared_bytes(std::size_t size) : size_(size) {
  if (size < transfer_threshold) {
    data_ = size == 0 ? nullptr : static_cast<char*>(::operator new(size));
    if (data_ != nullptr) std::memset(data_, 0, size);
    return;
  }
  const std::size_t mapped = mapped_size(size);
  if (buffer_pool::buffer b{}; buffer_pool::instance().take(mapped, b)) {
    data_ = b.data;
    mapped_ = b.mapped;
    fd_ = b.fd;
    std::memset(data_, 0, size);  // a reused buffer holds what its last user wrote
    return;
  }
  fd_ = ::memfd_create("troupe-bytes", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd_ < 0) fail("memfd_create");
  if (::ftruncate(fd_, static_cast<off_t>(mapped)) != 0) fail_closing(fd_, "ftruncate");
  // Populated at once: one system call instead of a fault per page.
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
  if (p == MAP_FAILED) fail_closing(fd_, "mmap");
  data_ = static_cast<char*>(p);
  mapped_ = mapped;
}

shared_bytes::shared_bytes(std::string_view bytes) : shared_bytes(bytes.size()) {
  if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
}

void shared_bytes::take(shared_bytes& o) noexcept {
  data_ = std::exchange(o.data_, nullptr);
  size_ = std::exchange(o.size_, 0);
  mapped_ = std::exchange(o.mapped_, 0);
  fd_ = std::exchange(o.fd_, -1);
  reusable_ = std::exchange(o.reusable_, true);
  lender_ = std::move(o.lender_);
  loan_id_ = std::exchange(o.loan_id_, 0);
}

shared_bytes::shared_bytes(shared_bytes&& o) noexcept { take(o); }

shared_bytes& shared_bytes::operator=(shared_bytes&& o) noexcept {
  if (this != &o) {
    release();
    take(o);
  }
  return *this;
}

shared_bytes::~shared_bytes() { release(); }

void shared_bytes::release() noexcept {
  if (mapped_ != 0 && fd_ >= 0 && reusable_ && !lender_) {
    buffer_pool::instance().put({data_, mapped_, fd_});  // ours, and nobody else maps it
  } else {
    if (mapped_ != 0) {
      ::munmap(data_, mapped_);
    } else if (data_ != nullptr) {
      ::operator delete(data_);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  if (auto l = std::exchange(lender_, nullptr)) l->give_back(loan_id_);  // unmapped first: the sender may reuse it
  data_ = nullptr;
  size_ = mapped_ = 0;
  fd_ = -1;
  reusable_ = true;
  loan_id_ = 0;
}

bool shared_bytes::seal() noexcept {
  if (fd_ < 0) return false;
  const int seals = ::fcntl(fd_, F_GET_SEALS);
  if (seals >= 0 && (static_cast<unsigned>(seals) & lending_seals) == lending_seals) return true;
  return ::fcntl(fd_, F_ADD_SEALS, lending_seals) == 0;
}

shared_bytes shared_bytes::adopt(int fd, std::size_t size) {
  struct stat st {};
  const char* bad = nullptr;
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (::fstat(fd, &st) != 0) {
    bad = "cannot stat the transferred buffer";
  } else if (seals < 0 || (static_cast<unsigned>(seals) & required_seals) != required_seals) {
    bad = "the transferred buffer is not a memfd sealed against resizing";
  } else if (size == 0 || static_cast<std::uint64_t>(st.st_size) < size) {
    bad = "the transferred buffer is smaller than announced";
  } else if (static_cast<std::uint64_t>(st.st_blocks) * 512 < size) {
    // A sender fills (and so allocates) its buffer before lending it. A
    // sparse one would make us allocate every page it left out, at a size
    // the peer chose for free.
    bad = "the transferred buffer is sparse (not backed by memory)";
  }
  // Private: the sender's pages are shared until the receiver writes (then
  // copied for it alone), and the lender may have sealed out writable
  // shared mappings. Populated read-only (a writable private mapping would
  // be populated by copying every page), then made writable.
  void* p = bad == nullptr ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : MAP_FAILED;
  if (p != MAP_FAILED && ::mprotect(p, size, PROT_READ | PROT_WRITE) != 0) {
    ::munmap(p, size);
    p = MAP_FAILED;
  }
  if (p == MAP_FAILED) {
    ::close(fd);
    throw std::runtime_error(bad != nullptr ? bad : "cannot map the transferred buffer");
  }
  shared_bytes b;
  b.data_ = static_cast<char*>(p);
  b.size_ = size;
  b.mapped_ = size;
  b.fd_ = fd;
  b.reusable_ = false;  // the sender's memory: never in this process's pool
  return b;
}

} // namespace troupe
