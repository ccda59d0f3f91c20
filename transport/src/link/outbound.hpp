#pragma once
// Private to the transport: the outbound path, the connection's side of the
// proxy_link seam. A proxy's turn runs begin_turn .. end_turn holding the
// write lock: its messages become MESSAGE frames (TRANSFER for a large
// shared_bytes to a same-host peer), its control signals control frames,
// all appended to the write buffer and written with one syscall at the
// turn's end. The turn spends its remote actor's flow credit.
//
// Everything here runs in a proxy's turn under the write lock, except
// forget() (any thread).

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "link/flow_credit.hpp"
#include "troupe/actors/detail/remote_proxy.hpp"

namespace troupe::transport {

class connection;

/// Wraps a complete frame made on any thread so that the outbox proxy
/// carries it to the write buffer in order with its other frames.
detail::envelope* make_frame_envelope(std::string frame);

class outbound_path final : public detail::proxy_link {
 public:
  explicit outbound_path(connection& c) noexcept : c_(c) {}

  void begin_turn(detail::remote_proxy& p) override;
  void end_turn(detail::remote_proxy& p) noexcept override;
  [[nodiscard]] bool ready(detail::remote_proxy& p) noexcept override;
  bool park(detail::remote_proxy& p) override;
  void forward(detail::remote_proxy& p, detail::envelope* e) override;
  void signal(detail::remote_proxy& p, const detail::control_signal& s) override;
  void forget(detail::remote_proxy& p) noexcept override;

 private:
  /// A user message for `target`, as a MESSAGE frame: the hot path.
  void send_message(std::uint64_t target, detail::envelope* e);
  /// A large shared_bytes to a same-host peer, lent as a TRANSFER (the
  /// cold path). False when it must go as a copy instead.
  bool try_transfer(std::uint64_t target, detail::envelope* e, std::uint64_t request);
  /// The connection-local id of the message type (a fresh one the first time).
  std::uint32_t type_id(const detail::wire_ops* w, bool& fresh) {
    fresh = false;
    if (last_type_ != nullptr && last_type_->first == w) [[likely]] return last_type_->second;  // a run of one type
    return type_id_slow(w, fresh);
  }
  std::uint32_t type_id_slow(const detail::wire_ops* w, bool& fresh);
  /// Takes a frame begun at `start` back out: nothing of it reaches the peer.
  void undo(std::size_t start, const detail::wire_ops* w, bool fresh, std::uint64_t request, detail::envelope* e,
            const char* why);
  /// Registers the ask `e` carries, if any (its request id, else 0). False
  /// when `e` was answered and freed instead (the ask cannot cross).
  [[nodiscard]] bool take_ask(detail::envelope* e, std::uint64_t& request);
  void dead_letter(detail::envelope* e, drop_reason r, const char* why);

  connection& c_;
  // Outgoing message types (connection-local ids).
  std::unordered_map<const detail::wire_ops*, std::uint32_t> types_;
  std::uint32_t next_type_ = 1;
  const std::pair<const detail::wire_ops* const, std::uint32_t>* last_type_ = nullptr;  // the last used entry
  // The turn in progress.
  send_windows::window* window_ = nullptr;  // its remote actor's credit (nullptr: the outbox, unlimited)
  std::int64_t spent_ = 0;                  // credit its messages used
  std::uint64_t messages_ = 0;              // messages it sent
};

} // namespace troupe::transport
