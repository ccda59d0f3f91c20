#pragma once
// Private to the transport: where a connection is dialled to, kept for
// reconnects, and where a dial's outcome goes (a blocking connect() waits
// on it).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <variant>

#include "link/log.hpp"
#include "troupe/actors/error.hpp"

namespace troupe::transport {

class connection;

struct tcp_address {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const tcp_address&, const tcp_address&) = default;
};
struct unix_address {
  std::string path;
  friend bool operator==(const unix_address&, const unix_address&) = default;
};
/// Shared memory through a node's `listen_shm` Unix socket.
struct shm_address {
  std::string path;
  friend bool operator==(const shm_address&, const shm_address&) = default;
};
using dial_address = std::variant<tcp_address, unix_address, shm_address>;

/// "host:port", "unix:path", "shm:path".
[[nodiscard]] std::string describe(const dial_address& a);

struct dial_target {
  dial_address where;
  std::chrono::milliseconds backoff{0};  ///< the last reconnect's delay (0: none yet)
  /// Dialled to resume an interrupted link: dialled again while the link
  /// waits, whatever node_options::reconnect says (that is for peers down).
  bool resuming = false;
};

/// Where a dial's outcome goes: the connection, or why there is none. A
/// blocking connect() waits on `cv`; an asynchronous one has `then` run.
struct dial_state {
  dial_state() = default;
  dial_state(const dial_state&) = delete;
  dial_state& operator=(const dial_state&) = delete;
  /// Never finished (its dial was dropped with the node's I/O context):
  /// `then` still runs, once.
  ~dial_state() { finish(nullptr, make_error_code(errc::shutting_down), "the node is shutting down"); }

  std::mutex mx;
  std::condition_variable cv;
  bool done = false;
  std::shared_ptr<connection> established;
  std::error_code error;
  std::string detail;
  /// Runs once, on the thread that finishes the dial (set before the dial starts).
  std::function<void(dial_state&)> then;

  /// The outcome; the first call wins. Any thread.
  void finish(std::shared_ptr<connection> c, std::error_code ec, std::string why) {
    std::function<void(dial_state&)> run;
    {
      std::lock_guard lock(mx);
      if (done) return;
      done = true;
      established = std::move(c);
      error = ec;
      detail = std::move(why);
      run = std::move(then);
      cv.notify_all();
    }
    // done is set: nothing changes the fields any more.
    if (run) run_guarded("a connect's callback", [&] { run(*this); });
  }
};

} // namespace troupe::transport
