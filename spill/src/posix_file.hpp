#pragma once
// File descriptors and whole-buffer positional I/O (private).

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace troupe::spill::detail {

/// Owns one file descriptor; closes it on destruction.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// Throws std::system_error(err) whose what() is "troupe::spill: <what>: <strerror(err)>".
[[noreturn]] void throw_errno(int err, const std::string& what);

/// Reads up to `n` bytes at `offset`, retrying short reads until `n` or end
/// of file. Returns the bytes read. Throws std::system_error on an I/O error.
std::size_t pread_full(int fd, void* buf, std::size_t n, std::uint64_t offset);

/// Writes every byte of `iov[0..count)` at `offset`, retrying short writes.
/// Returns 0 or the errno of the failure (the file may hold part of the data).
/// Modifies `iov`.
[[nodiscard]] int pwritev_full(int fd, iovec* iov, int count, std::uint64_t offset) noexcept;

/// Size of the open file. Throws std::system_error.
std::uint64_t file_size(int fd, const std::string& name);

} // namespace troupe::spill::detail
