#pragma once
// Private to the transport: how frames made on any thread (replies, credit
// grants, buffers given back) reach the peer, in order with the other
// frames made off the reader: a connection queues them on its outbox.

#include <memory>
#include <string>

namespace troupe::transport {

class frame_poster {
 public:
  /// Queues a whole frame for the peer; false when the connection is over
  /// (the frame is dropped). @threadsafe
  virtual bool post_frame(std::string frame) = 0;

 protected:
  ~frame_poster() = default;
};

/// Makes a frame with `make(std::string&)` and posts it to `to`, if it is
/// still there. Never throws (a frame that cannot be made is dropped).
template <class Make>
void post_to(const std::weak_ptr<frame_poster>& to, Make&& make) noexcept {
  try {
    auto p = to.lock();
    if (!p) return;
    std::string f;
    make(f);
    p->post_frame(std::move(f));
  } catch (...) {
  }
}

} // namespace troupe::transport
