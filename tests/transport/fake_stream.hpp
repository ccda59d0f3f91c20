#pragma once
// A byte_stream the test controls, for the parts of a connection tested
// alone (the frame reader and writer): what the stream takes on a direct
// write, when a queued write completes, what a polled read returns. No
// sockets, no I/O thread: the test plays the I/O thread.

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "link/frame_writer.hpp"
#include "streams/byte_stream.hpp"

namespace transport_test {

class fake_stream final : public troupe::transport::byte_stream {
 public:
  // -- writing --
  /// Bytes a direct write (try_write) takes before it says EAGAIN; -1: all.
  long takes = -1;
  /// errno a direct write fails with instead (0: none).
  int fails_with = 0;
  std::string written;  ///< everything the stream took, in order
  int direct_writes = 0;
  /// The write the writer left to the I/O thread, not yet completed.
  const char* pending_data = nullptr;
  std::size_t pending_size = 0;
  handler pending_done;

  ssize_t try_write(const char* data, std::size_t size) noexcept override {
    ++direct_writes;
    if (fails_with != 0) {
      errno = fails_with;
      return -1;
    }
    const std::size_t n = takes < 0 ? size : std::min<std::size_t>(size, static_cast<std::size_t>(takes));
    if (takes >= 0) takes -= static_cast<long>(n);
    if (n == 0) {
      errno = EAGAIN;
      return -1;
    }
    written.append(data, n);
    return static_cast<ssize_t>(n);
  }
  void async_write(const char* data, std::size_t size, handler done) override {
    pending_data = data;
    pending_size = size;
    pending_done = std::move(done);
  }
  /// Completes the queued write: the stream took it all (or failed with `ec`).
  void complete_write(const boost::system::error_code& ec = {}) {
    if (!ec) written.append(pending_data, pending_size);
    auto done = std::move(pending_done);
    pending_done = nullptr;
    done(ec, ec ? 0 : pending_size);
  }

  // -- reading (polled) --
  bool polled = false;
  std::deque<std::string> arriving;  ///< what read_now returns, a chunk per call
  boost::system::error_code read_error;

  std::size_t read_now(char* data, std::size_t size, boost::system::error_code& ec) noexcept override {
    if (arriving.empty()) {
      ec = read_error;
      return 0;
    }
    std::string& chunk = arriving.front();
    const std::size_t n = std::min(size, chunk.size());
    std::memcpy(data, chunk.data(), n);
    chunk.erase(0, n);
    if (chunk.empty()) arriving.pop_front();
    return n;
  }
  [[nodiscard]] bool readable() const noexcept override { return !arriving.empty() || read_error; }
  [[nodiscard]] bool pollable() const noexcept override { return polled; }

  void async_read_some(char*, std::size_t, handler) override {}
  void close() noexcept override { closed = true; }
  [[nodiscard]] std::string describe() const override { return "fake"; }
  bool closed = false;
};

/// Records what a frame_writer asks of its connection: the test plays the
/// I/O thread (posts) and sees how the connection would end (ends).
struct recording_host final : troupe::transport::writer_host {
  int posts = 0;
  std::vector<std::pair<troupe::transport::close_reason, std::string>> ends;
  void post_write() override { ++posts; }
  std::shared_ptr<void> keep_alive() override { return nullptr; }
  void end_later(troupe::transport::close_reason why, std::string detail) noexcept override {
    ends.emplace_back(why, std::move(detail));
  }
};

} // namespace transport_test
