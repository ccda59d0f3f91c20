#include "streams/shm_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

namespace troupe::transport::shm {

namespace {
constexpr std::size_t data_offset = header_bytes;
constexpr unsigned required_seals = F_SEAL_SHRINK | F_SEAL_GROW;

[[noreturn]] void sys_fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}
} // namespace

void link_fds::close_all() noexcept {
  close_fd(control);
  close_fd(segment);
}

int make_segment(std::size_t ring_bytes) {
  if (ring_bytes < min_ring_bytes || ring_bytes > max_ring_bytes || (ring_bytes & (ring_bytes - 1)) != 0) {
    throw std::invalid_argument("troupe: shared-memory ring size must be a power of two in [4 KiB, 1 GiB]");
  }
  int fd = ::memfd_create("troupe-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) sys_fail("memfd_create");
  try {
    const std::size_t size = data_offset + 2 * ring_bytes;
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) sys_fail("ftruncate");
    if (::fcntl(fd, F_ADD_SEALS, required_seals | F_SEAL_SEAL) != 0) sys_fail("F_ADD_SEALS");
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) sys_fail("mmap");
    auto* h = new (p) header{};  // the memfd is zero-filled: the atomics start at 0
    h->magic = segment_magic;
    h->version = segment_version;
    h->data_offset = static_cast<std::uint32_t>(data_offset);
    h->ring_bytes = ring_bytes;
    ::munmap(p, size);
  } catch (...) {
    close_fd(fd);
    throw;
  }
  return fd;
}

bool send_fd(int sock, int fd, char tag, int flags) noexcept {
  iovec iov{&tag, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(sock, &msg, flags | MSG_NOSIGNAL) == 1;
}

void passed_fds::close_all() noexcept {
  for (std::size_t i = 0; i < count; ++i) ::close(fd[i]);
  count = 0;
}

ssize_t recv_with_fds(int sock, char* data, std::size_t size, int flags, passed_fds& got) noexcept {
  got.count = 0;
  got.truncated = false;
  iovec iov{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * passed_fds::max)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < k && got.count < passed_fds::max; ++i) {
      std::memcpy(&got.fd[got.count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
  }
  got.truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  return n;
}

mapping::mapping(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) sys_fail("fstat of the shared segment");
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & required_seals) != required_seals) {
    throw std::runtime_error("the shared segment is not a memfd sealed against resizing");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < data_offset + 2 * min_ring_bytes) throw std::runtime_error("the shared segment is too small");
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) sys_fail("mmap of the shared segment");
  hdr_ = static_cast<header*>(p);
  // Read the peer-written fields once; from here on only our copies count.
  const std::uint64_t magic = hdr_->magic;
  const std::uint32_t version = hdr_->version;
  ring_bytes_ = hdr_->ring_bytes;
  data_offset_ = hdr_->data_offset;
  const char* bad = nullptr;
  if (magic != segment_magic) {
    bad = "bad magic";
  } else if (version != segment_version) {
    bad = "unknown version";
  } else if (ring_bytes_ < min_ring_bytes || ring_bytes_ > max_ring_bytes || (ring_bytes_ & (ring_bytes_ - 1)) != 0) {
    bad = "bad ring size";
  } else if (data_offset_ != data_offset || data_offset_ + 2 * ring_bytes_ != size_) {
    bad = "ring layout does not match the segment size";
  }
  if (bad != nullptr) {
    ::munmap(p, size_);
    hdr_ = nullptr;
    throw std::runtime_error(std::string("the shared segment's header is invalid: ") + bad);
  }
}

mapping::~mapping() {
  if (hdr_ != nullptr) ::munmap(hdr_, size_);
}

} // namespace troupe::transport::shm
