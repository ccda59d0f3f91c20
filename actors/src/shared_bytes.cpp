#include "troupe/actors/shared_bytes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace troupe {

namespace {
constexpr unsigned required_seals = F_SEAL_SHRINK | F_SEAL_GROW;

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
} // namespace

shared_bytes::shared_bytes(std::size_t size) : size_(size) {
  if (size < transfer_threshold) {
    data_ = size == 0 ? nullptr : static_cast<char*>(::operator new(size));
    if (data_ != nullptr) std::memset(data_, 0, size);
    return;
  }
  fd_ = ::memfd_create("troupe-bytes", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd_ < 0) fail("memfd_create");
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::system_error(err, std::generic_category(), "ftruncate");
  }
  // Populated at once: one system call instead of a fault per page.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd_);
    throw std::system_error(err, std::generic_category(), "mmap");
  }
  data_ = static_cast<char*>(p);
  mapped_ = size;
}

shared_bytes::shared_bytes(std::string_view bytes) : shared_bytes(bytes.size()) {
  if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
}

shared_bytes::shared_bytes(shared_bytes&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, 0)),
      fd_(std::exchange(o.fd_, -1)) {}

shared_bytes& shared_bytes::operator=(shared_bytes&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

shared_bytes::~shared_bytes() { release(); }

void shared_bytes::release() noexcept {
  if (mapped_ != 0) {
    ::munmap(data_, mapped_);
  } else if (data_ != nullptr) {
    ::operator delete(data_);
  }
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = mapped_ = 0;
  fd_ = -1;
}

bool shared_bytes::seal() noexcept {
  if (fd_ < 0) return false;
  const int seals = ::fcntl(fd_, F_GET_SEALS);
  if (seals >= 0 && (static_cast<unsigned>(seals) & required_seals) == required_seals) return true;
  return ::fcntl(fd_, F_ADD_SEALS, required_seals) == 0;
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
  }
  void* p = bad == nullptr ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0) : MAP_FAILED;
  if (p == MAP_FAILED) {
    ::close(fd);
    throw std::runtime_error(bad != nullptr ? bad : "cannot map the transferred buffer");
  }
  shared_bytes b;
  b.data_ = static_cast<char*>(p);
  b.size_ = size;
  b.mapped_ = size;
  b.fd_ = fd;
  return b;
}

} // namespace troupe
