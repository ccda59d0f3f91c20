#include "streams/shm_stream.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>
#include <mutex>

namespace troupe::transport {

namespace {
namespace asio = boost::asio;

class shm_error_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "troupe.shm"; }
  std::string message(int ev) const override {
    switch (static_cast<shm_error>(ev)) {
      case shm_error::bad_index: return "the peer wrote an impossible shared-memory ring index";
      case shm_error::stray_descriptors: return "the peer passed descriptors other than one buffer at a time";
      case shm_error::doorbell_flood: return "the peer rang the doorbell more often than this side waited for it";
    }
    return "shared-memory transport error";
  }
};

boost::system::error_code bad_index() noexcept {
  return {static_cast<int>(shm_error::bad_index), shm_category()};
}

/// Rings beyond the waits that allowed them before the peer counts as
/// flooding (a margin: the count is exact, but cheap to be generous with).
constexpr std::uint64_t doorbell_slack = 64;
/// Doorbell bytes read per wake-up at most (a peer flooding the control
/// socket costs it this much of our time per wake-up, no more).
constexpr int max_drain_reads = 16;
/// Descriptors taken off the control socket ahead of their TRANSFER frames,
/// at most; more wait in the socket, whose buffer then holds the sender
/// back (its pass_fd fails and it copies instead).
constexpr std::size_t max_pending_fds = 256;

class shm_stream final : public byte_stream {
 public:
  /// Takes the descriptors it keeps out of `fds` (set to -1 there).
  shm_stream(asio::io_context& io, shm::link_fds& fds, std::string what)
      : io_(io), map_(fds.segment), control_(io), what_(std::move(what)) {
    ::close(fds.segment);  // the mapping keeps the memory
    fds.segment = -1;
    out_ = &map_.head().ring[fds.side];
    in_ = &map_.head().ring[1 - fds.side];
    out_data_ = map_.ring_data(fds.side);
    in_data_ = map_.ring_data(1 - fds.side);
    size_ = map_.ring_bytes();
    mask_ = size_ - 1;
    // Our own positions: the peer cannot move them, only we publish them.
    tail_ = out_->tail.load(std::memory_order_relaxed);
    head_.store(in_->head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    control_.assign(asio::local::stream_protocol(), fds.control);
    control_fd_ = fds.control;
    fds.control = -1;
    arm_wait();  // the doorbell, and the peer's end
  }
  ~shm_stream() override {
    *alive_ = false;  // handlers still queued in the reactor see it
    for (int fd : fds_) ::close(fd);
  }
  shm_stream(const shm_stream&) = delete;
  shm_stream& operator=(const shm_stream&) = delete;

  // -- byte_stream ------------------------------------------------------------

  void async_read_some(char* data, std::size_t size, handler done) override {
    read_ = {data, size, std::move(done)};
    if (!service_read()) sleep_or_service();
  }

  void async_write(const char* data, std::size_t size, handler done) override {
    write_ = {data, size, 0, std::move(done)};
    if (!service_write()) sleep_or_service();
  }

  ssize_t try_write(const char* data, std::size_t size) noexcept override {
    if (broken_.load(std::memory_order_acquire)) {
      errno = EPIPE;
      return -1;
    }
    const std::uint64_t head = out_->head.load(std::memory_order_acquire);
    if (tail_ - head > size_) {  // the peer's head ahead of our tail, or lagging more than the ring
      broken_.store(true, std::memory_order_release);
      errno = EPROTO;
      return -1;
    }
    const std::size_t n = std::min<std::uint64_t>(size, size_ - (tail_ - head));
    if (n == 0) {
      errno = EAGAIN;
      return -1;
    }
    const std::size_t at = tail_ & mask_;
    const std::size_t first = std::min(n, size_ - at);
    std::memcpy(out_data_ + at, data, first);
    std::memcpy(out_data_, data + first, n - first);
    tail_ += n;
    out_->tail.store(tail_, std::memory_order_release);
    // Dekker with the reader: it sets reader_sleeping (or watchers), then
    // looks at the tail; we set the tail, then look at those.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (out_->watchers.load(std::memory_order_relaxed) == 0 && out_->reader_sleeping.load(std::memory_order_relaxed) != 0 &&
        out_->reader_sleeping.exchange(0) != 0) {
      ring();
    }
    return static_cast<ssize_t>(n);
  }

  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    broken_.store(true, std::memory_order_release);
    boost::system::error_code ec;
    control_.shutdown(asio::local::stream_protocol::socket::shutdown_both, ec);
    control_.close(ec);
    complete_read(asio::error::operation_aborted, 0);
    complete_write(asio::error::operation_aborted);
  }

  [[nodiscard]] std::string describe() const override { return what_; }

  // -- polled -----------------------------------------------------------------

  [[nodiscard]] bool pollable() const noexcept override { return true; }

  std::size_t read_now(char* data, std::size_t size, boost::system::error_code& ec) noexcept override {
    if (stray_fds_.load(std::memory_order_acquire)) {
      ec = {static_cast<int>(shm_error::stray_descriptors), shm_category()};
      return 0;
    }
    if (flooded_.load(std::memory_order_acquire)) {
      ec = {static_cast<int>(shm_error::doorbell_flood), shm_category()};
      return 0;
    }
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = in_->tail.load(std::memory_order_acquire);
    if (tail - head > size_) {
      broken_.store(true, std::memory_order_release);
      ec = bad_index();
      return 0;
    }
    const std::size_t n = std::min<std::uint64_t>(size, tail - head);
    if (n == 0) {
      if (peer_gone_.load(std::memory_order_acquire)) ec = asio::error::eof;
      return 0;
    }
    const std::size_t at = head & mask_;
    const std::size_t first = std::min(n, size_ - at);
    std::memcpy(data, in_data_ + at, first);
    std::memcpy(data + first, in_data_, n - first);
    head_.store(head + n, std::memory_order_relaxed);
    in_->head.store(head + n, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (in_->writer_waiting.load(std::memory_order_relaxed) != 0 && in_->writer_waiting.exchange(0) != 0) ring();
    return n;
  }

  [[nodiscard]] bool readable() const noexcept override {
    return in_->tail.load(std::memory_order_acquire) != head_.load(std::memory_order_relaxed) ||
           peer_gone_.load(std::memory_order_acquire) || stray_fds_.load(std::memory_order_acquire) ||
           flooded_.load(std::memory_order_acquire);
  }

  void watch(bool on) noexcept override {
    if (on) {
      in_->watchers.fetch_add(1, std::memory_order_seq_cst);
    } else {
      in_->watchers.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  void async_wait_readable(std::function<void()> ready, bool if_ready_now) override {
    if (closed_) return;
    ready_ = std::move(ready);
    in_->reader_sleeping.store(1, std::memory_order_relaxed);
    waits_.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (if_ready_now && readable()) {
      in_->reader_sleeping.store(0, std::memory_order_relaxed);
      asio::post(io_, [this, alive = alive_] {
        if (*alive) fire_ready();
      });
      return;
    }
    arm_wait();
  }

  bool pass_fd(int fd) noexcept override {
    return !broken_.load(std::memory_order_acquire) && shm::send_fd(control_fd_, fd, 'F', MSG_DONTWAIT);
  }

  int take_fd() noexcept override {
    std::lock_guard lock(fd_mx_);
    if (fds_.empty()) drain_control_locked();
    if (fds_.empty()) return -1;
    const int fd = fds_.front();
    fds_.pop_front();
    if (std::exchange(control_parked_, false)) {
      asio::post(io_, [this, alive = alive_] {
        if (*alive) arm_wait();
      });
    }
    return fd;
  }

 private:
  struct pending_read {
    char* data = nullptr;
    std::size_t size = 0;
    handler done;
  };
  struct pending_write {
    const char* data = nullptr;
    std::size_t size = 0;
    std::size_t written = 0;
    handler done;
  };

  /// Rings the peer's doorbell: one byte on the control socket. Never
  /// blocks (MSG_DONTWAIT holds whatever the peer set on its end); a full
  /// socket means the peer has wake-ups pending already. Any thread.
  void ring() noexcept {
    const char b = 1;
    [[maybe_unused]] const ssize_t r = ::send(control_fd_, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  }

  /// Completes the pending read if bytes (or an error) are there. I/O thread.
  bool service_read() {
    if (!read_.done) return true;
    boost::system::error_code ec;
    const std::size_t n = read_now(read_.data, read_.size, ec);
    if (n == 0 && !ec) return false;
    complete_read(ec, n);
    return true;
  }

  /// Writes what fits of the pending write; true when it is complete. I/O thread.
  bool service_write() {
    if (!write_.done) return true;
    while (write_.written < write_.size) {
      const ssize_t n = try_write(write_.data + write_.written, write_.size - write_.written);
      if (n < 0) {
        if (errno == EAGAIN) return false;
        complete_write(errno == EPROTO ? bad_index() : boost::system::error_code(asio::error::broken_pipe));
        return true;
      }
      write_.written += static_cast<std::size_t>(n);
    }
    complete_write({});
    return true;
  }

  /// Announces that we sleep (as reader and/or as blocked writer), checks
  /// once more, and waits on the doorbell if there is still nothing to do.
  void sleep_or_service() {
    if (closed_) return;
    if (read_.done) in_->reader_sleeping.store(1, std::memory_order_relaxed);
    if (write_.done) out_->writer_waiting.store(1, std::memory_order_relaxed);
    waits_.fetch_add(std::uint64_t{read_.done ? 1u : 0u} + (write_.done ? 1u : 0u), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool progressed_read = read_.done && service_read();
    const bool progressed_write = write_.done && service_write();
    if (progressed_read || progressed_write) {
      // Something moved: whatever is still pending goes round again.
      if (read_.done || write_.done) asio::post(io_, [this, alive = alive_] {
        if (*alive) sleep_or_service();
      });
      return;
    }
    arm_wait();
  }

  /// Waits (once, whoever asks) for the control socket: a doorbell byte, or
  /// the peer's end. I/O thread.
  void arm_wait() {
    if (waiting_ || closed_ || peer_gone_.load(std::memory_order_relaxed) || flooded_.load(std::memory_order_relaxed)) {
      return;
    }
    {
      // With fds_ full the socket stays readable (we read no more of it),
      // and waiting on it would return at once, forever. Only a TRANSFER
      // frame taking its descriptor makes room: take_fd arms it again. (An
      // honest sender passes at most frame_writer::max_unwritten_fds, 128,
      // ahead of frames it has written, so fds_ fills only while the frames
      // are in the ring to be read.)
      std::lock_guard lock(fd_mx_);
      if (fds_.size() >= max_pending_fds) {
        control_parked_ = true;
        return;
      }
    }
    waiting_ = true;
    control_.async_wait(asio::local::stream_protocol::socket::wait_read,
                        [this, alive = alive_](const boost::system::error_code& ec) {
                          if (!*alive) return;
                          waiting_ = false;
                          if (ec) return;  // closed
                          on_control(alive);
                        });
  }

  /// Reads what the control socket holds: doorbell bytes (dropped),
  /// passed descriptors (queued, in order), or its end. fd_mx_ held.
  void drain_control_locked() noexcept {
    char buf[256];
    for (int i = 0; i < max_drain_reads && fds_.size() < max_pending_fds; ++i) {
      shm::passed_fds got;
      const ssize_t n = shm::recv_with_fds(control_fd_, buf, sizeof buf, MSG_DONTWAIT, got);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      if (n > 0) {
        // A peer rings only after clearing a flag this side set when it
        // began to wait: more rings than waits is a flood (CPU for nothing).
        const std::uint64_t bells = static_cast<std::uint64_t>(n) - got.count;  // a passed descriptor's byte is no ring
        if (rung_.fetch_add(bells, std::memory_order_relaxed) + bells >
            waits_.load(std::memory_order_relaxed) + doorbell_slack) {
          flooded_.store(true, std::memory_order_release);
          got.close_all();
          break;
        }
        if (got.count > 1 || got.truncated) {
          got.close_all();  // troupe passes one buffer per byte: a lying peer
          stray_fds_.store(true, std::memory_order_release);
        } else if (got.count == 1) {
          fds_.push_back(got.fd[0]);
        }
        continue;
      }
      // End of file (or a reset): the peer is gone. What it wrote is still read.
      peer_gone_.store(true, std::memory_order_release);
      broken_.store(true, std::memory_order_release);
      break;
    }
  }

  void on_control(const std::shared_ptr<bool>& alive) {
    {
      std::lock_guard lock(fd_mx_);
      drain_control_locked();
    }
    if (read_.done) in_->reader_sleeping.store(0, std::memory_order_relaxed);
    if (write_.done) out_->writer_waiting.store(0, std::memory_order_relaxed);
    const bool r_done = service_read();
    const bool w_done = service_write();
    if (peer_gone_.load(std::memory_order_relaxed)) complete_write(asio::error::broken_pipe);
    fire_ready();  // may end the connection and free this stream
    if (!*alive) return;
    if (!r_done || !w_done) sleep_or_service();
  }

  void fire_ready() {
    if (auto r = std::exchange(ready_, nullptr)) r();
  }

  void complete_read(const boost::system::error_code& ec, std::size_t n) {
    if (!read_.done) return;
    asio::post(io_, [h = std::move(read_.done), ec, n] { h(ec, n); });
    read_ = {};
  }
  void complete_write(const boost::system::error_code& ec) {
    if (!write_.done) return;
    asio::post(io_, [h = std::move(write_.done), ec, n = write_.written] { h(ec, n); });
    write_ = {};
  }

  asio::io_context& io_;
  shm::mapping map_;
  asio::local::stream_protocol::socket control_;
  int control_fd_ = -1;  // control_'s, for the doorbell from any thread
  std::string what_;
  shm::ring_control* out_ = nullptr;
  shm::ring_control* in_ = nullptr;
  char* out_data_ = nullptr;
  char* in_data_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t mask_ = 0;
  std::uint64_t tail_ = 0;                // try_write's (serialised by the session)
  std::atomic<std::uint64_t> head_{0};    // the reader's (one thread at a time)
  std::atomic<bool> broken_{false};
  std::atomic<bool> peer_gone_{false};
  std::atomic<bool> stray_fds_{false};
  // Doorbell bytes read, and the waits that let the peer ring (see drain_control_locked).
  std::atomic<std::uint64_t> rung_{0};
  std::atomic<std::uint64_t> waits_{0};
  std::atomic<bool> flooded_{false};
  std::mutex fd_mx_;      // the control socket's reads, and fds_
  std::deque<int> fds_;   // descriptors passed ahead of their TRANSFER frames
  bool control_parked_ = false;  // fds_ was full: the control socket waits for take_fd (fd_mx_)
  // I/O thread only.
  pending_read read_;
  pending_write write_;
  std::function<void()> ready_;  // async_wait_readable's
  bool waiting_ = false;
  bool closed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace

const boost::system::error_category& shm_category() noexcept {
  static const shm_error_category category;
  return category;
}

std::unique_ptr<byte_stream> make_shm_stream(asio::io_context& io, shm::link_fds fds, std::string what) {
  try {
    return std::make_unique<shm_stream>(io, fds, std::move(what));  // takes what it keeps
  } catch (...) {
    fds.close_all();
    throw;
  }
}

} // namespace troupe::transport
